"""HTTP/1.0-like server for the short-connections benchmark: one request per
connection, a response whose size the request names, then the server closes."""
import os
import socket

PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 10000)
BODY = b"0123456789abcdef" * 512

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", PORT))
s.listen(64)
while True:
    conn, _ = s.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        data = conn.recv(4096)
        if not data:
            break
        req += data
    size = int(req.split(b" ")[1].strip(b"/") or 0) if req.startswith(b"GET ") else 0
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % size + BODY[:size])
    conn.close()
