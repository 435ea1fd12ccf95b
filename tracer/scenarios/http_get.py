"""HTTP GET (Elwakedy L4 TCP client sending GET /; HUFS notes: http.server).

The server is http.server's SimpleHTTPRequestHandler serving a temporary
folder that holds one small fixed index.html (its modification time pinned
so Last-Modified is the same every run).  The client speaks raw HTTP/1.0
over a plain socket and reads to EOF: in HTTP/1.0 the server closes first.
Run: python3 http_get.py server|client (settings from SYNACK_* variables).
"""
import functools
import http.server
import os
import sys
import tempfile
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 80)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
PAGE = b"""<!DOCTYPE html>
<html><head><title>synack</title></head>
<body><h1>Hello from the server</h1><p>This page came over TCP.</p></body></html>
"""


class Server(http.server.HTTPServer):
    address_family = FAMILY


def server():
    with tempfile.TemporaryDirectory(prefix="synack-http-") as root:
        index = os.path.join(root, "index.html")
        with open(index, "wb") as f:
            f.write(PAGE)
        os.utime(index, (1_700_000_000, 1_700_000_000))
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
        httpd = Server((ANY, PORT), handler)
        print("Serving HTTP on port", PORT)
        httpd.handle_request()      # one GET; serve_forever() would never return
        httpd.server_close()


def client():
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    s.connect((HOST, PORT))
    host = "[%s]" % HOST if ":" in HOST else HOST
    s.sendall(("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode())
    fragments = []
    while True:
        chunk = s.recv(10000)
        if not chunk:
            break
        fragments.append(chunk)
    s.close()
    response = b"".join(fragments).decode("latin-1")
    head, _, body = response.partition("\r\n\r\n")
    print(head.splitlines()[0] if head else "(no response)")
    print(body, end="")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
