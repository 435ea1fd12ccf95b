from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(("", 9000))
s.listen(2)
while True:
    c, a = s.accept()
    print("Received connection from", a)
    c.send(b"Hello " + a[0].encode())
    c.close()
