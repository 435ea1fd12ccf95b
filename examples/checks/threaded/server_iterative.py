# Wrong for this assignment: serves one client at a time.
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('', 2345))
s.listen(5)
while True:
    conn, addr = s.accept()
    while True:
        line = conn.recv(1024)
        if not line:
            break
        conn.sendall(line.upper())
    conn.close()
