"""Zero window: a receiver with a small buffer that sleeps before it reads.

The server shrinks SO_RCVBUF before listen() (the accepted socket inherits
it, and the window it advertises follows), accepts, and sleeps before its
first recv(): the client's sendall() fills the window, the server
advertises a zero window, and the client's persist timer sends window
probes until the server wakes up, reads in small chunks (window updates)
and answers with the byte count.
Run: python3 zero_window.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
import time
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 10000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
NBYTES = 20_000
RCVBUF = 4096
SLEEP = 0.7
PATTERN = b"This is the message. "


def server():
    s = socket(FAMILY, SOCK_STREAM)
    s.setsockopt(SOL_SOCKET, SO_RCVBUF, RCVBUF)
    s.bind((ANY, PORT))
    s.listen(1)
    conn, addr = s.accept()
    print("connection from", addr, "; sleeping", SLEEP, "s before reading")
    time.sleep(SLEEP)
    total = 0
    while True:
        data = conn.recv(1024)
        if not data:
            break
        total += len(data)
    print("received %d bytes" % total)
    conn.sendall(b"received %d bytes" % total)
    conn.close()
    s.close()


def client():
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    s.connect((HOST, PORT))
    data = (PATTERN * (NBYTES // len(PATTERN) + 1))[:NBYTES]
    s.sendall(data)
    s.shutdown(SHUT_WR)
    reply = []
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        reply.append(chunk)
    print(b"".join(reply).decode())
    s.close()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
