"""Spew and bucket (Carbajal: spew() / bucket()).

The sender (client) chops the message into BUFSIZE-byte datagrams; the
bucket (server) prints each one.  UDP has no end of stream, so the bucket
stops once it holds as many bytes as the message has.
Run: python3 udp_spew.py server|client (settings from SYNACK_* variables).
"""
import os
import socket
import sys

BUFSIZE = 8
HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 11111)
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = socket.AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else socket.AF_INET
ANY = "::" if FAMILY == socket.AF_INET6 else ""


def spew(msg, host=HOST, port=PORT):
    s = socket.socket(FAMILY, socket.SOCK_DGRAM)
    s.bind((ANY, CLIENT_PORT))
    while msg:
        s.sendto(msg[:BUFSIZE], (host, port))
        msg = msg[BUFSIZE:]
    s.close()


def bucket(port=PORT, expected=len(MESSAGE.encode())):
    s = socket.socket(FAMILY, socket.SOCK_DGRAM)
    s.bind((ANY, port))
    print('waiting on port: %s' % port)
    received = 0
    while received < expected:
        try:
            data, addr = s.recvfrom(BUFSIZE)
            received += len(data)
            print(repr(data)[2:-1])
        except OSError as msg:
            print(msg)
    s.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    if sys.argv[1] == 'server':
        bucket()
    else:
        spew(MESSAGE.encode())
