"""Half-close (HUFS notes: shutdown(SHUT_WR), then recv the server's response).

The client sends its message and shuts down its sending half: TCP sends a
FIN but the socket stays open for reading.  The server reads to EOF (the
empty recv), replies with the uppercased message, and closes; the client
reads the reply after its own FIN, then closes.
Run: python3 half_close.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 50007)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def server():
    sock = socket(FAMILY, SOCK_STREAM)
    sock.bind((ANY, PORT))
    sock.listen(5)
    print('Server started')
    conn, cli_addr = sock.accept()
    print('Connected by', cli_addr)
    chunks = []
    while True:
        data = conn.recv(1024)
        if not data:                # EOF: the client shut down its sending half
            break
        print('Server received:', data)
        chunks.append(data)
    print('Client closed its sending half; replying')
    conn.sendall(b''.join(chunks).upper())
    conn.close()
    sock.close()


def client():
    sock = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        sock.bind((ANY, int(CLIENT_PORT)))
    sock.connect((HOST, PORT))
    print('sending', MESSAGE)
    sock.sendall(MESSAGE.encode())
    sock.shutdown(SHUT_WR)          # FIN now; we can still receive
    print('sent FIN (shutdown SHUT_WR), waiting for the reply')
    fragments = []
    while True:
        chunk = sock.recv(1024)
        if not chunk:
            break
        fragments.append(chunk)
    print('received', b''.join(fragments).decode())
    sock.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
