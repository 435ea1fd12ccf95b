"""Lost ACK: the server acknowledges the request at once but answers later.

The client sends one request and waits; the server's kernel acknowledges it
immediately with a pure ACK, and the server program thinks (sleeps) before
it answers.  With that ACK dropped (the scenario drops s2c packet 2), the
client cannot tell a lost request from a lost ACK: its retransmission timer
fires and it sends the request again; the server, already holding those
bytes, acknowledges again (a duplicate ACK with a D-SACK block), then
answers the request uppercased and closes.
Run: python3 lost_ack.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
import time
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 12000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
THINK = 0.3


def server():
    s = socket(FAMILY, SOCK_STREAM)
    s.bind((ANY, PORT))
    s.listen(1)
    conn, addr = s.accept()
    request = conn.recv(1024)
    print("received", request, "; thinking", THINK, "s")
    time.sleep(THINK)
    conn.sendall(request.upper())
    conn.close()
    s.close()


def client():
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    s.connect((HOST, PORT))
    s.sendall(MESSAGE.encode())
    reply = []
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        reply.append(chunk)
    print("received", b"".join(reply).decode())
    s.close()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
