from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.connect(("localhost", 9000))
data = s.recv(10000)
print(data.decode())
s.close()
