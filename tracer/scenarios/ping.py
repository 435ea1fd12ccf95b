"""ping: ICMP echo requests and replies between the two hosts (RFC 792; Kurose & Ross 5.6).

The client opens an ICMP datagram socket (SOCK_DGRAM, IPPROTO_ICMP: what
iputils ping uses without privileges; the hosts allow it through
net.ipv4.ping_group_range), sends COUNT echo requests and reads each reply.
The kernel fills in the checksum and uses the socket's bound "port" as the
echo identifier.  No server program: the server host's kernel answers.
Run: python3 ping.py client (settings from SYNACK_* variables).
"""
import os
import struct
import sys
import time
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
MESSAGE = os.environ.get("SYNACK_MESSAGE", "This is the message.")
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
PROTO = IPPROTO_ICMPV6 if FAMILY == AF_INET6 else IPPROTO_ICMP
ECHO_REQUEST = 128 if FAMILY == AF_INET6 else 8
COUNT = 3
INTERVAL = 0.2  # seconds between requests (ping's default is 1 s)


def client():
    s = socket(FAMILY, SOCK_DGRAM, PROTO)
    s.bind(("::" if FAMILY == AF_INET6 else "", CLIENT_PORT))  # the port is the echo identifier
    s.settimeout(2.0)
    for seq in range(1, COUNT + 1):
        request = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, 0, seq) + MESSAGE.encode()
        sent = time.monotonic()
        s.sendto(request, (HOST, 0))
        try:
            reply, addr = s.recvfrom(2048)
        except TimeoutError:
            print('seq=%d: no reply' % seq)
            continue
        _type, _code, _sum, ident, rseq = struct.unpack("!BBHHH", reply[:8])
        print('%d bytes from %s: icmp_seq=%d id=%d time=%.3f ms'
              % (len(reply), addr[0], rseq, ident, (time.monotonic() - sent) * 1e3))
        if seq < COUNT:
            time.sleep(INTERVAL)
    s.close()


def server():
    sys.exit('ping has no server: the server host\'s kernel answers echo requests')


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
