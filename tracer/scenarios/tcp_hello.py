"""Hello server (Elwakedy, Lecture 4: "a simple server ... say hello").

The server accepts one connection, sends b"Hello " + the client's address
and closes first; the client reads until EOF and closes.
Run: python3 tcp_hello.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 9000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def server():
    s = socket(FAMILY, SOCK_STREAM)
    s.bind((ANY, PORT))
    s.listen(2)
    c, a = s.accept()
    print("Received connection from", a)
    c.send(b"Hello " + str(a).encode())
    c.close()
    s.close()


def client():
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    s.connect((HOST, PORT))
    fragments = []
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        fragments.append(chunk)
    s.close()
    print("received", b"".join(fragments).decode())


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
