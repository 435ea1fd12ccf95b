"""SO_REUSEADDR (HUFS notes: "bind error when server relaunched"; Elwakedy L4: socket options).

The server (the lecture's fixed echo server, which sets SO_REUSEADDR)
answers one client and closes first, so its end of that connection waits in
TIME_WAIT.  It is then relaunched on the same port: a plain bind() fails
with EADDRINUSE (reported), a bind() after setsockopt(SO_REUSEADDR, 1)
succeeds, and a second client is served.  (Linux lets the new socket share
the port with a TIME_WAIT one only when both set SO_REUSEADDR.)
Run: python3 reuseaddr.py server|client (settings from SYNACK_* variables).
"""
import errno
import os
import sys
import time
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 50007)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def serve_one(sock):
    conn, addr = sock.accept()
    print('Connected by', addr)
    data = conn.recv(1024)
    conn.sendall(data)
    conn.close()                    # the server closes first: TIME_WAIT is on this side
    sock.close()


def server():
    sock = socket(FAMILY, SOCK_STREAM)
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    sock.bind((ANY, PORT))
    sock.listen(5)
    print('Server started on port', PORT)
    serve_one(sock)
    time.sleep(0.2)                 # let the client's FIN arrive: our end is now in TIME_WAIT

    print('relaunching without SO_REUSEADDR')
    sock = socket(FAMILY, SOCK_STREAM)
    try:
        sock.bind((ANY, PORT))
    except OSError as e:
        print('bind failed: %s (%s)' % (e, errno.errorcode.get(e.errno, '?')))
    else:
        print('bind succeeded without SO_REUSEADDR?!')
    sock.close()

    print('relaunching with SO_REUSEADDR')
    sock = socket(FAMILY, SOCK_STREAM)
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    sock.bind((ANY, PORT))
    sock.listen(5)
    print('bind succeeded with SO_REUSEADDR; Server restarted')
    serve_one(sock)


def talk(n, client_port):
    s = socket(FAMILY, SOCK_STREAM)
    if client_port:
        s.bind((ANY, client_port))
    for _ in range(40):             # the relaunched server may not be listening yet
        try:
            s.connect((HOST, PORT))
            break
        except ConnectionRefusedError:
            s.close()
            time.sleep(0.05)
            s = socket(FAMILY, SOCK_STREAM)
            if client_port:
                s.bind((ANY, client_port))
    s.sendall(MESSAGE.encode())
    reply = []
    while True:
        data = s.recv(1024)
        if not data:                # the server closed first
            break
        reply.append(data)
    print('client %d received %s' % (n, b''.join(reply).decode()))
    s.close()


def client():
    base = int(CLIENT_PORT) if CLIENT_PORT else 0
    talk(1, base)
    time.sleep(0.5)                 # give the server time to be relaunched
    talk(2, base + 1 if base else 0)


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
