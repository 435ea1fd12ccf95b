# Wrong: no timeout, so a lost request means waiting forever.
from socket import *

clientSocket = socket(AF_INET, SOCK_DGRAM)
clientSocket.sendto(b'are you there?', ('localhost', 12000))
reply, server = clientSocket.recvfrom(2048)
print('got', reply.decode())
clientSocket.close()
