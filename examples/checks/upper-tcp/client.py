# Uppercase client (TCP): send a line, read the answer until the server closes.
from socket import *

clientSocket = socket(AF_INET, SOCK_STREAM)
clientSocket.connect(('localhost', 12000))
clientSocket.sendall('hello from the client'.encode())
reply = b''
while True:
    data = clientSocket.recv(1024)
    if not data:
        break
    reply += data
print('From Server:', reply.decode())
clientSocket.close()
