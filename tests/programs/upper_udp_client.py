from socket import socket, AF_INET, SOCK_DGRAM
s = socket(AF_INET, SOCK_DGRAM)
s.bind(('127.0.0.1', 0))  # OS chooses port
print("using", s.getsockname())
server = ('127.0.0.1', 11111)
s.sendto(b"MixedCaseString", server)
data, addr = s.recvfrom(1024)
print("received", data, "from", addr)
s.close()
