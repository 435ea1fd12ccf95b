"""ThreadingTCPServer with N concurrent clients (Carbajal, tcps1.py served by ThreadingTCPServer).

Each connection gets its own thread running the uppercase handler.  The
client program opens N connections at once (one thread each, all connected
before any sends) so the capture shows N interleaved conversations, each
from its own client port.
Run: python3 threading_tcp.py server|client (settings from SYNACK_* variables).
"""
import os
import socketserver
import sys
import threading
from socket import socket, AF_INET, AF_INET6, SOCK_STREAM

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 2345)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
CLIENTS = int(os.environ.get("SYNACK_CLIENTS") or 3)
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
print_lock = threading.Lock()


def say(*args):
    with print_lock:               # one line at a time from N client threads
        print(*args)


class UCHandler(socketserver.BaseRequestHandler):
    def handle(self):
        say("Connected:", self.client_address)
        while True:
            data = self.request.recv(1024)
            if not data:
                break
            say(data.decode())
            self.request.send(data.upper())


class Server(socketserver.ThreadingTCPServer):
    address_family = FAMILY
    request_queue_size = max(5, CLIENTS)   # all N connects may arrive before the first accept()


def server():
    myserver = Server((ANY, PORT), UCHandler)
    for _ in range(CLIENTS):       # serve_forever() would never return
        myserver.handle_request()
    myserver.server_close()        # waits for the handler threads


def one_client(i, barrier):
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT) + i))
    s.connect((HOST, PORT))
    say("client %d using %s" % (i, s.getsockname()[:2]))
    barrier.wait()                 # all N connections are open before anyone sends
    message = MESSAGE.encode()
    s.send(message)
    reply = b""
    while len(reply) < len(message):
        data = s.recv(1024)
        if not data:
            break
        reply += data
    say("client %d received %s" % (i, reply.decode()))
    s.close()


def client():
    barrier = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=one_client, args=(i, barrier)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    {"server": server, "client": client}[sys.argv[1]]()
