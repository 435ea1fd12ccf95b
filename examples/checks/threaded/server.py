# Threaded uppercase server: one thread per client.
import threading
from socket import *


def serve(conn):
    while True:
        line = conn.recv(1024)
        if not line:
            break
        conn.sendall(line.upper())
    conn.close()


s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('', 2345))
s.listen(5)
while True:
    conn, addr = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
