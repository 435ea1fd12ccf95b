# Wrong: one recv() is taken for the whole reply.
from socket import *

MESSAGE = ('The quick brown fox jumps over the lazy dog. ' * 4500).encode()
s = socket(AF_INET, SOCK_STREAM)
s.settimeout(5)
s.connect(('localhost', 50007))
s.sendall(MESSAGE)
data = s.recv(1024)
print('received', len(data), 'bytes')
s.close()
