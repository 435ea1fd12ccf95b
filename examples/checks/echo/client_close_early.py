# Wrong: closes before reading the reply.
from socket import *

MESSAGE = ('The quick brown fox jumps over the lazy dog. ' * 4500).encode()
s = socket(AF_INET, SOCK_STREAM)
s.connect(('localhost', 50007))
s.sendall(MESSAGE)
s.close()
print('sent', len(MESSAGE), 'bytes')
