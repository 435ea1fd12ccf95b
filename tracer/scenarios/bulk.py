"""Bulk transfer (Elwakedy L4: sendall() of large data, partial reads and reassembly).

The client sends one large message (SYNACK_BYTES, default 1 MB: the message
text repeated) in a single sendall(), so the kernel cuts it into MSS-sized
segments paced by the receiver's window; then it shuts down its sending
half.  The server reads to EOF in 64 KiB reads and answers with a short
acknowledgement of the byte count, then closes.
Run: python3 bulk.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 10000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
NBYTES = int(os.environ.get("SYNACK_BYTES") or 1_000_000)
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
PATTERN = b"This is the message. "


def payload(n):
    """n bytes of a fixed pattern: the same bytes every run."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def server():
    s = socket(FAMILY, SOCK_STREAM)
    s.bind((ANY, PORT))
    s.listen(1)
    conn, addr = s.accept()
    print("connection from", addr)
    total = reads = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        total += len(data)
        reads += 1
    print("received %d bytes in %d recv() calls" % (total, reads))
    conn.sendall(b"received %d bytes" % total)
    conn.close()
    s.close()


def client():
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    s.connect((HOST, PORT))
    data = payload(NBYTES)
    print("sending %d bytes" % len(data))
    s.sendall(data)
    s.shutdown(SHUT_WR)
    fragments = []
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        fragments.append(chunk)
    print(b"".join(fragments).decode())
    s.close()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
