"""socketserver TCP server with a StreamRequestHandler (Carbajal, tsTservSS.py / tsTclntSS.py).

The handler reads one line with rfile.readline() and writes it back
uppercased with wfile.write() (the lecture prefixes a ctime() stamp; an
uppercase reply keeps traces reproducible).  The client sends the line with
a CRLF, reads the reply line and closes.
Run: python3 socketserver_tcp.py server|client (settings from SYNACK_* variables).
"""
import os
import socket
import socketserver
import sys

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 21567)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = socket.AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else socket.AF_INET
ANY = "::" if FAMILY == socket.AF_INET6 else ""
BUFSIZ = 1024


class MyRequestHandler(socketserver.StreamRequestHandler):
    def handle(self):
        print('...connected from:', self.client_address)
        line = self.rfile.readline()
        self.wfile.write(line.upper())


class Server(socketserver.TCPServer):
    address_family = FAMILY


def server():
    tcpServ = Server((ANY, PORT), MyRequestHandler)
    print('waiting for connection...')
    tcpServ.handle_request()       # one client; serve_forever() would never return
    tcpServ.server_close()


def client():
    tcpCliSock = socket.socket(FAMILY, socket.SOCK_STREAM)
    if CLIENT_PORT:
        tcpCliSock.bind((ANY, int(CLIENT_PORT)))
    tcpCliSock.connect((HOST, PORT))
    tcpCliSock.send(('%s\r\n' % MESSAGE).encode())
    reply = b''
    while not reply.endswith(b'\n'):
        data = tcpCliSock.recv(BUFSIZ)
        if not data:
            break
        reply += data
    print(reply.decode().strip())
    tcpCliSock.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
