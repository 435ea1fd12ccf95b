"""socketserver UDP server with a BaseRequestHandler (Carbajal, udps1.py / udpc1.py).

For UDP, self.request is (data, socket): the handler answers with the
datagram uppercased.  The client binds port 0, sends, and prints the reply.
Run: python3 socketserver_udp.py server|client (settings from SYNACK_* variables).
"""
import os
import socketserver
import sys
from socket import socket, AF_INET, AF_INET6, SOCK_DGRAM

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 2345)
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


class UCHandler(socketserver.BaseRequestHandler):
    def handle(self):
        remote = self.client_address
        data, skt = self.request
        print(data.decode())
        skt.sendto(data.upper(), remote)


class Server(socketserver.UDPServer):
    address_family = FAMILY


def server():
    myserver = Server((ANY, PORT), UCHandler)
    myserver.handle_request()      # one datagram; serve_forever() would never return
    myserver.server_close()


def client():
    srvaddr = (HOST, PORT)
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, CLIENT_PORT))
    print("Send:", MESSAGE)
    s.sendto(MESSAGE.encode(), srvaddr)
    data, addr = s.recvfrom(1024)
    print("Recv:", data.decode())
    s.close()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
