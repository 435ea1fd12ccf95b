"""UDP uppercase server and client (Carbajal ex3.py / ex4.py; Socket Programming: UDPServer).

The client binds port 0 so the OS picks its port, prints getsockname(),
sends one datagram and waits for the uppercased reply.
Run: python3 udp_upper.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
from socket import socket, AF_INET, AF_INET6, SOCK_DGRAM

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 11111)
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def server():
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, PORT))
    print("The server is ready to receive")
    data, addr = s.recvfrom(1024)     # one request is all a trace needs
    print("Connection from", addr)
    s.sendto(data.upper(), addr)
    s.close()


def client():
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, CLIENT_PORT))        # 0: OS chooses port
    print("using", s.getsockname())
    server = (HOST, PORT)
    s.sendto(MESSAGE.encode(), server)
    data, addr = s.recvfrom(1024)
    print("received", data.decode(), "from", addr)
    s.close()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
