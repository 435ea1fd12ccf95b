"""TCP uppercase server and client (Socket Programming notes: TCPServer / TCPClient).

The client sends one line; the server answers it uppercased and closes the
connection socket; the client prints the answer and closes.
Run: python3 tcp_upper.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
from socket import *

serverName = os.environ.get("SYNACK_SERVER_HOST", "localhost")
serverPort = int(os.environ.get("SYNACK_SERVER_PORT") or 12000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def server():
    serverSocket = socket(FAMILY, SOCK_STREAM)
    serverSocket.bind((ANY, serverPort))
    serverSocket.listen(1)
    print('The server is ready to receive')
    connectionSocket, addr = serverSocket.accept()
    sentence = connectionSocket.recv(1024).decode()
    capitalizedSentence = sentence.upper()
    connectionSocket.send(capitalizedSentence.encode())
    connectionSocket.close()
    serverSocket.close()


def client():
    clientSocket = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        clientSocket.bind((ANY, int(CLIENT_PORT)))
    clientSocket.connect((serverName, serverPort))
    sentence = MESSAGE
    clientSocket.send(sentence.encode())
    modifiedSentence = clientSocket.recv(1024)
    print('From Server:', modifiedSentence.decode())
    clientSocket.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
