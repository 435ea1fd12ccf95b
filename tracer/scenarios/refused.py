"""Connection refused (HUFS notes: connect() fails when there is no such server process).

Nobody listens on the port, so the server host's TCP answers the SYN with a
RST and connect() raises ConnectionRefusedError (ECONNREFUSED).  There is no
server program; the client reports the error and exits normally.
Run: python3 refused.py client (settings from SYNACK_* variables).
"""
import errno
import os
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 10000)
CLIENT_PORT = os.environ.get("SYNACK_CLIENT_PORT", "")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""


def client():
    s = socket(FAMILY, SOCK_STREAM)
    if CLIENT_PORT:
        s.bind((ANY, int(CLIENT_PORT)))
    print('connecting to', (HOST, PORT))
    try:
        s.connect((HOST, PORT))
    except ConnectionRefusedError as e:
        print('connect failed: %s (%s)' % (e, errno.errorcode[e.errno]))
    else:
        print('connected?! someone is listening on port', PORT)
    finally:
        s.close()


def server():
    sys.exit('refused has no server: nobody listens on port %d' % PORT)


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
