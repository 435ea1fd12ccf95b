"""DNS: a tiny authoritative server and a stub resolver over UDP port 53 (RFC 1035 §4).

The server answers from a fixed zone (example.test, a reserved name): A and
AAAA records, NXDOMAIN for a name it does not have.  The resolver sends one
query per question on one socket and reads each answer, as a stub resolver
does; the transaction IDs count from 1 so the figure is reproducible.  Only
the standard library: the wire format is built and parsed here.
Run: python3 dns.py server|client (settings from SYNACK_* variables).
"""
import ipaddress
import os
import struct
import sys
from socket import *

HOST = os.environ.get("SYNACK_SERVER_HOST", "localhost")
PORT = int(os.environ.get("SYNACK_SERVER_PORT") or 53)
CLIENT_PORT = int(os.environ.get("SYNACK_CLIENT_PORT") or 0)
FAMILY = AF_INET6 if os.environ.get("SYNACK_IPV6") == "1" else AF_INET
ANY = "::" if FAMILY == AF_INET6 else ""
A, AAAA, IN = 1, 28, 1
ZONE = {
    ("www.example.test", A): "192.0.2.80",
    ("www.example.test", AAAA): "2001:db8::80",
    ("mail.example.test", A): "192.0.2.25",
}
QUESTIONS = [("www.example.test", A), ("www.example.test", AAAA), ("nosuch.example.test", A)]
TTL = 300


def encode_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def decode_name(msg, off):
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode())
        off += 1 + n
    return ".".join(labels), off + 1


def server():
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, PORT))
    print('DNS server for example.test on port', PORT)
    for _ in QUESTIONS:
        query, addr = s.recvfrom(512)
        ident, flags = struct.unpack("!HH", query[:4])
        name, end = decode_name(query, 12)
        qtype, _qclass = struct.unpack("!HH", query[end:end + 4])
        question = query[12:end + 4]
        value = ZONE.get((name.lower(), qtype))
        rcode = 0 if value or any(n == name.lower() for n, _ in ZONE) else 3  # NXDOMAIN
        answer = b""
        if value:
            rdata = ipaddress.ip_address(value).packed
            answer = struct.pack("!HHHIH", 0xC00C, qtype, IN, TTL, len(rdata)) + rdata
        # QR, opcode 0, AA, RD copied from the query, RA 0.
        head = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | rcode, 1, 1 if answer else 0, 0, 0)
        s.sendto(head + question + answer, addr)
        print('%s %s -> %s' % (name, {A: 'A', AAAA: 'AAAA'}.get(qtype, qtype), value or 'NXDOMAIN'))
    s.close()


def client():
    s = socket(FAMILY, SOCK_DGRAM)
    s.bind((ANY, CLIENT_PORT))
    s.settimeout(2.0)
    for ident, (name, qtype) in enumerate(QUESTIONS, 1):
        query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, IN)
        s.sendto(query, (HOST, PORT))
        reply, _addr = s.recvfrom(512)
        rid, flags, _qd, an = struct.unpack("!HHHH", reply[:8])
        if flags & 15 == 3:
            print('%s: NXDOMAIN' % name)
            continue
        _, end = decode_name(reply, 12)
        off = end + 4
        rtype, _cls, ttl, rdlen = struct.unpack("!HHIH", reply[off + 2:off + 12])
        print('%s: %s (TTL %d)' % (name, ipaddress.ip_address(reply[off + 12:off + 12 + rdlen]), ttl))
    s.close()


if __name__ == '__main__':
    sys.stdout.reconfigure(line_buffering=True)
    {'server': server, 'client': client}[sys.argv[1]]()
