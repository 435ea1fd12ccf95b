"""Time server and client (Carbajal, ex1.py / ex2.py).

The server sends time.ctime() and closes; the client reads to EOF, closes
and prints the time.
Run: python3 tcp_time.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
import time
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 8888)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def server():
    s = socket(FAMILY, SOCK_STREAM)         # Create TCP socket
    s.bind((ANY, PORT))                     # Bind to the port
    s.listen(5)                             # Start listening
    client, addr = s.accept()               # Wait for a connection
    print("Got a connection from", addr)
    client.send(time.ctime(time.time()).encode())  # Send time back
    client.close()
    s.close()


def client():
    s = socket(FAMILY, SOCK_STREAM)         # Create TCP socket
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    s.connect((HOST, PORT))                 # Connect to server
    parts = []
    while True:                             # Read until the server closes
        tm = s.recv(1024)
        if not tm:
            break
        parts.append(tm)
    s.close()                               # Close connection
    print("The time is", b"".join(parts).decode())


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
