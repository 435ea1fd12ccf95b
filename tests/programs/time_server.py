import socket
import time

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 21567))
s.listen(5)
while True:
    client, addr = s.accept()
    print('connected from', addr)
    client.send(time.ctime(time.time()).encode())
    client.close()
