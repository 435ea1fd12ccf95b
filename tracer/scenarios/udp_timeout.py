"""UDP with a timeout and retry (Elwakedy L4: settimeout; powcoder udpc1.py "hangs if no response").

The server drops the first request on purpose (as a lost datagram would be)
and answers the second.  The client's settimeout() turns the wait into a
TimeoutError, after which it sends the request again.
Run: python3 udp_timeout.py server|client (settings from SYNACK_* variables).
"""
import os
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 12000)
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
TIMEOUT = 0.5      # seconds
RETRIES = 3


def server():
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, PORT))
    print('The server is ready to receive')
    message, addr = s.recvfrom(2048)
    print('dropping request 1 from', addr)
    message, addr = s.recvfrom(2048)
    print('answering request 2 from', addr)
    s.sendto(message.decode().upper().encode(), addr)
    s.close()


def client():
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, CLIENT_PORT))
    s.settimeout(TIMEOUT)
    for attempt in range(1, RETRIES + 1):
        print('attempt %d: sending %s' % (attempt, MESSAGE))
        s.sendto(MESSAGE.encode(), (HOST, PORT))
        try:
            reply, addr = s.recvfrom(2048)
        except TimeoutError:
            print('attempt %d: timed out after %.1f s' % (attempt, TIMEOUT))
            continue
        print('received', reply.decode())
        break
    else:
        print('no reply after %d attempts' % RETRIES)
    s.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
