"""traceroute: UDP probes with TTL 1, 2, ... until the destination answers (Kurose & Ross 5.6).

Each probe goes to the same closed port; a router that decrements its TTL to
zero drops it and answers ICMP time exceeded, and the destination host, where
nobody listens, answers ICMP port unreachable, which ends the trace.  The
socket asks for ICMP errors with IP_RECVERR, so the kernel queues each one
with the address of the host that sent it (read with recvmsg(MSG_ERRQUEUE),
as Linux traceroute does).  One source and destination port for every probe,
so the figure is one conversation.  No server program.  Meant for
`--topology routed` (one router); on the direct link the first probe arrives.
Run: python3 traceroute.py client (settings from SYNACK_* variables).
"""
import os
import select
import struct
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 33434)
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
MAX_TTL = 8
IP_RECVERR = getattr(__import__("socket"), "IP_RECVERR", 11)
SO_EE_ORIGIN_ICMP = 2
ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACH = 11, 3


def client():
    s = socket(AF_INET, SOCK_DGRAM)
    s.bind(("", CLIENT_PORT))
    s.setsockopt(IPPROTO_IP, IP_RECVERR, 1)
    for ttl in range(1, MAX_TTL + 1):
        s.setsockopt(IPPROTO_IP, IP_TTL, ttl)
        s.sendto(b"probe %d" % ttl, (HOST, PORT))
        if not select.select([s], [], [], 2.0)[0]:  # a queued error makes the socket readable
            print('%d  *' % ttl)
            continue
        _data, anc, _flags, _addr = s.recvmsg(512, 512, MSG_ERRQUEUE)
        for level, kind, blob in anc:
            if level != IPPROTO_IP or kind != IP_RECVERR or len(blob) < 16 + 8:
                continue
            _errno, origin, icmp_type, icmp_code = struct.unpack_from("=IBBBx", blob)
            hop = inet_ntoa(blob[16 + 4:16 + 8])  # offender: a sockaddr_in after the 16-byte header
            print('%d  %s  (ICMP type %d code %d)' % (ttl, hop, icmp_type, icmp_code))
            if origin == SO_EE_ORIGIN_ICMP and icmp_type == ICMP_DEST_UNREACH:
                s.close()
                return
    s.close()


def server():
    sys.exit('traceroute has no server: the destination\'s kernel answers port unreachable')


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
