# Half-close client: send, shutdown(SHUT_WR), read the whole reply, close.
from socket import *

sock = socket(AF_INET, SOCK_STREAM)
sock.connect(('localhost', 50007))
sock.sendall(b'half-close me')
sock.shutdown(SHUT_WR)
reply = b''
while True:
    data = sock.recv(1024)
    if not data:
        break
    reply += data
print('received', reply.decode())
sock.close()
