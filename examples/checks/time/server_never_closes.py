# Wrong: sends the time but never closes the connection.
import time
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('', 8888))
s.listen(5)
clients = []
while True:
    client, addr = s.accept()
    client.send(time.ctime(time.time()).encode())
    clients.append(client)
