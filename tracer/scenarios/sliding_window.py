"""Sliding window: a receiver with a small buffer that reads slowly.

The server shrinks SO_RCVBUF before listen() (the accepted socket inherits
it, and its advertised window follows) and then reads a few KB at a time
with a pause between reads, slower than the client can send.  The client's
sendall() fills the window; each read frees buffer space and the next ACK
opens the window again, so the window the receiver advertises closes and
opens over the whole transfer (zero windows and window updates included),
and the sender's data follows the window's right edge.
Run: python3 sliding_window.py server|client (settings from SYNACK_* variables).
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
NBYTES = 200_000
RCVBUF = 32768
READ = 4096
PAUSE = 0.01
PATTERN = b"This is the message. "


def server():
    s = socket(FAMILY, SOCK_STREAM)
    s.setsockopt(SOL_SOCKET, SO_RCVBUF, RCVBUF)
    s.bind((ANY, PORT))
    s.listen(1)
    conn, addr = s.accept()
    print("connection from", addr, "; reading", READ, "bytes every", PAUSE, "s")
    total = 0
    while True:
        time.sleep(PAUSE)
        data = conn.recv(READ)
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
