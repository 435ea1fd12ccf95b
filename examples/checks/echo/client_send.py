# Wrong: send() without checking how much it took (a short write loses the rest).
from socket import *

MESSAGE = ('The quick brown fox jumps over the lazy dog. ' * 4500).encode()
s = socket(AF_INET, SOCK_STREAM)
s.settimeout(5)
s.connect(('localhost', 50007))
s.send(MESSAGE)
received = b''
while len(received) < len(MESSAGE):
    data = s.recv(1024)
    if not data:
        break
    received += data
print('received', len(received), 'bytes')
s.close()
