"""Client of the short-connections benchmark: N sequential connections, each a
GET naming a response size (deterministic), read to EOF (HTTP/1.0 style)."""
import os
import random
import socket
import sys

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 10000)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
rng = random.Random(1)
for i in range(N):
    c = socket.create_connection((HOST, PORT))
    size = rng.choice((60, 200, 900, 1500, 3000, 6000))
    c.sendall(b"GET /%d HTTP/1.0\r\nHost: server\r\n\r\n" % size)
    while c.recv(65536):
        pass
    c.close()
