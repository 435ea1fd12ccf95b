# Half-close server: read to EOF, then send the uppercased data and close.
from socket import *

sock = socket(AF_INET, SOCK_STREAM)
sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
sock.bind(('', 50007))
sock.listen(5)
while True:
    conn, addr = sock.accept()
    chunks = []
    while True:
        data = conn.recv(1024)
        if not data:
            break
        chunks.append(data)
    conn.sendall(b''.join(chunks).upper())
    conn.close()
