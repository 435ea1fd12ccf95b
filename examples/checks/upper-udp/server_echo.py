# Wrong: sends the datagram back unchanged.
from socket import *

serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('', 12000))
while True:
    message, clientAddress = serverSocket.recvfrom(2048)
    serverSocket.sendto(message, clientAddress)
