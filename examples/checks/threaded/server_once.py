# Wrong: serves one client and exits.
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.bind(('', 2345))
s.listen(5)
conn, addr = s.accept()
while True:
    line = conn.recv(1024)
    if not line:
        break
    conn.sendall(line.upper())
conn.close()
s.close()
