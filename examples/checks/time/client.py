# Time client: read until the server closes.
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.connect(('localhost', 8888))
tm = b''
while True:
    data = s.recv(1024)
    if not data:
        break
    tm += data
s.close()
print('The time is', tm.decode())
