# Client that stays connected for a while: two lines, half a second apart.
import time
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.settimeout(5)
s.connect(('localhost', 2345))
for line in (b'first line', b'second line'):
    s.sendall(line)
    reply = b''
    while len(reply) < len(line):
        reply += s.recv(1024)
    print(reply.decode())
    time.sleep(0.5)
s.close()
