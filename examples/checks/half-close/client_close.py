# Wrong: close() instead of shutdown(SHUT_WR): the client closes before reading the reply.
from socket import *

sock = socket(AF_INET, SOCK_STREAM)
sock.connect(('localhost', 50007))
sock.sendall(b'half-close me')
sock.close()
print('done')
