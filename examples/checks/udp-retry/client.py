# UDP client with a timeout: resend the request until the answer comes (at most 5 tries).
from socket import *

clientSocket = socket(AF_INET, SOCK_DGRAM)
clientSocket.settimeout(0.5)
for attempt in range(5):
    clientSocket.sendto(b'are you there?', ('localhost', 12000))
    try:
        reply, server = clientSocket.recvfrom(2048)
        print('got', reply.decode(), 'after', attempt + 1, 'tries')
        break
    except timeout:
        print('timed out, trying again')
clientSocket.close()
