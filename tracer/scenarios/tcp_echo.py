"""TCP echo server and client (Elwakedy, Lecture 4: TCPEchoServer / TCPEchoClient).

The server reads the stream in 16-byte chunks and sends each one straight
back with sendall(); the client sends one message and reassembles the echo
until it has all the bytes, then closes first.
Run: python3 tcp_echo.py server|client (settings from SYNACK_* variables).
"""
import os
import socket
import sys

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 10000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = socket.AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else socket.AF_INET
ANY = "::" if FAMILY == socket.AF_INET6 else ""


def server():
    sock = socket.socket(FAMILY, socket.SOCK_STREAM)
    server_address = (ANY, PORT)
    print('starting up on port', server_address)
    sock.bind(server_address)
    sock.listen(1)
    # The lecture loops forever; one client is all a trace needs, and exiting
    # afterwards gives the capture a clean end.
    print('waiting for a connection')
    connection, client_address = sock.accept()
    try:
        print('connection from', client_address)
        while True:
            data = connection.recv(16)
            print('received', data)
            if data:
                print('sending data back to the client')
                connection.sendall(data)
            else:
                print('no data from', client_address)
                break
    finally:
        connection.close()
    sock.close()


def client():
    sock = socket.socket(FAMILY, socket.SOCK_STREAM)
    if CLIENT_PORT:
        sock.bind((ANY, int(CLIENT_PORT)))
    server_address = (HOST, PORT)
    print('connecting to', server_address)
    sock.connect(server_address)
    try:
        message = MESSAGE.encode()
        print('sending', MESSAGE)
        sock.sendall(message)
        amount_received = 0
        amount_expected = len(message)
        msg = []
        while amount_received < amount_expected:
            data = sock.recv(16)
            if not data:
                break
            amount_received += len(data)
            msg.append(data)
        print('received', b''.join(msg).decode())
    finally:
        print('closing socket')
        sock.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
