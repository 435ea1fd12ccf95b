# Time server: send the time, close.
import time
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
while True:
    client, addr = s.accept()
    client.send(time.ctime(time.time()).encode())
    client.close()
