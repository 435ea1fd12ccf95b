"""The built-in scenarios: classic lecture socket programs, each a real server and client script.

A scenario is data (name, seed, transport, default port, which options it
reads) plus two standalone scripts in this folder, run as
`python3 tcp_echo.py server|client`.  The scripts take everything from
SYNACK_* environment variables (see `Scenario.env`), so the same file runs
under the tracer, under the tests, or by hand on a laptop.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from viz.errors import SynackError

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = "tcp-echo"


@dataclass(frozen=True)
class Options:
    """What the user may change on the command line; None means the scenario's default."""

    message: str = "This is the message."
    port: int | None = None
    client_port: int | None = None
    clients: int = 3
    bytes: int = 1_000_000
    ipv6: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: str
    transport: str  # "tcp" | "udp"
    default_port: int
    options: tuple[str, ...] = ("message", "port", "client_port", "ipv6")
    ready: str | None = "listen"  # the server's call after which the client may start
    has_server: bool = True
    script: str = field(default="")
    faults: tuple[tuple[str, str], ...] = ()  # preset fault options, see tracer.faults.preset
    tcp: tuple[tuple[str, str], ...] = ()  # preset --cc/--tcp, see tracer.tcpprofile.preset
    shape: tuple[tuple[str, str], ...] = ()  # preset --delay/--rate, see tracer.wire.preset

    @property
    def path(self) -> str:
        return os.path.join(HERE, (self.script or self.name.replace("-", "_")) + ".py")

    def port(self, opts: Options) -> int:
        return opts.port if opts.port is not None else self.default_port

    def clients(self, opts: Options) -> int:
        """How many client connections (or UDP exchanges) the client script makes."""
        if "clients" in self.options:
            return opts.clients
        return 2 if self.name == "reuseaddr" else 1

    def env(self, opts: Options) -> dict[str, str]:
        """The SYNACK_* variables both scripts read (SYNACK_SERVER_HOST is the orchestrator's)."""
        return {
            "SYNACK_SERVER_PORT": str(self.port(opts)),
            "SYNACK_CLIENT_PORT": "" if opts.client_port is None else str(opts.client_port),
            "SYNACK_MESSAGE": opts.message,
            "SYNACK_CLIENTS": str(opts.clients),
            "SYNACK_BYTES": str(opts.bytes),
            "SYNACK_IPV6": "1" if opts.ipv6 else "0",
        }

    def server_argv(self, opts: Options) -> list[str] | None:
        if not self.has_server:
            return None
        return [sys.executable, self.path, "server"]

    def client_argv(self, opts: Options) -> list[str]:
        return [sys.executable, self.path, "client"]


_BASIC = ("message", "port", "client_port", "ipv6")
_NO_MESSAGE = ("port", "client_port", "ipv6")

# Seeds are the lecture notes in shared/seeds/: "Elwakedy, TCP Programming" (000),
# "Carbajal, Network Programming using Python" (001), "powcoder, Network Programming" (002),
# "Socket Programming, TCP/UDP uppercase" (003), "HUFS, Network Programming in Python" (004).
_ALL = (
    Scenario("tcp-echo", "echo server recv(16) chunks and sendall them back; client reassembles",
             "Elwakedy L4: TCPEchoServer / TCPEchoClient", "tcp", 10000, _BASIC),
    Scenario("tcp-hello", "server says 'Hello <client address>' and closes first",
             "Elwakedy L4: simple server (accept, send Hello, close)", "tcp", 9000, _NO_MESSAGE),
    Scenario("tcp-time", "time server sends ctime() and closes; client reads to EOF",
             "Carbajal ex1.py / ex2.py: time server and client", "tcp", 8888, _NO_MESSAGE),
    Scenario("tcp-upper", "client sends one line, server returns it uppercased and closes",
             "Socket Programming: TCPServer / TCPClient uppercase", "tcp", 12000, _BASIC),
    Scenario("udp-upper", "UDP uppercase; client binds port 0 and prints getsockname()",
             "Carbajal ex3.py / ex4.py; Socket Programming: UDPServer", "udp", 11111, _BASIC,
             ready="bind"),
    Scenario("udp-spew", "sender chops the message into BUFSIZE-byte datagrams; bucket prints them",
             "Carbajal: spew() / bucket()", "udp", 11111, _BASIC, ready="bind"),
    Scenario("socketserver-tcp", "socketserver.TCPServer + StreamRequestHandler: readline, write uppercased",
             "Carbajal tsTservSS.py / tsTclntSS.py", "tcp", 21567, _BASIC),
    Scenario("socketserver-udp", "socketserver.UDPServer + BaseRequestHandler: datagram uppercased",
             "Carbajal udps1.py / udpc1.py", "udp", 2345, _BASIC, ready="bind"),
    Scenario("threading-tcp", "ThreadingTCPServer serving N concurrent clients (--clients)",
             "Carbajal tcps1.py with ThreadingTCPServer", "tcp", 2345, _BASIC + ("clients",)),
    Scenario("forking-tcp", "ForkingTCPServer: one child process per client, N clients (--clients)",
             "Carbajal tcps1.py with ForkingTCPServer", "tcp", 2345, _BASIC + ("clients",)),
    Scenario("half-close", "client shutdown(SHUT_WR); server reads to EOF, replies, closes",
             "HUFS: shutdown(SHUT_WR), recv after half-close", "tcp", 50007, _BASIC),
    Scenario("refused", "connect to a port nobody listens on: RST, ECONNREFUSED reported",
             "HUFS: when connect() fails (no such server process)", "tcp", 10000, _NO_MESSAGE,
             ready=None, has_server=False),
    Scenario("http-get", "raw 'GET / HTTP/1.0' against http.server on port 80 serving a fixed page",
             "Elwakedy L4 TCP client (GET /); HUFS: http.server", "tcp", 80, _NO_MESSAGE),
    Scenario("bulk", "one large message (--bytes): MSS-sized segments and window behaviour",
             "Elwakedy L4: sendall() of large data, partial reads", "tcp", 10000,
             ("port", "client_port", "ipv6", "bytes")),
    Scenario("udp-timeout", "UDP client with settimeout; server drops the first request, client retries",
             "Elwakedy L4: timeouts; powcoder: 'hangs if no response'", "udp", 12000, _BASIC,
             ready="bind"),
    Scenario("reuseaddr", "server closes first (TIME_WAIT); rebind fails without SO_REUSEADDR, works with it",
             "HUFS: bind error when server relaunched; Elwakedy L4: SO_REUSEADDR", "tcp", 50007, _BASIC),
    # ICMP and DNS (Kurose & Ross 2.4, 5.6): no server program for ping and traceroute, the kernel answers.
    Scenario("ping", "ICMP echo socket: 3 echo requests, the server host's kernel replies (id, seq, RTT)",
             "lecture: ICMP, ping (RFC 792)", "icmp", 0, ("message", "client_port", "ipv6"),
             ready=None, has_server=False),
    Scenario("traceroute", "UDP probes with TTL 1, 2, ...: time exceeded from the router, then port "
             "unreachable (use --topology routed)", "lecture: ICMP, traceroute", "udp", 33434,
             ("port", "client_port"), ready=None, has_server=False),
    Scenario("dns", "a tiny DNS server (stdlib) and a resolver: A, AAAA and a name that does not exist",
             "lecture: DNS queries and answers (RFC 1035)", "udp", 53, ("port", "client_port", "ipv6"),
             ready="bind"),
    # Classic faults (tracer.faults): the user's --drop/--loss/--rto-min replace these presets.
    Scenario("lost-segment", "tcp-echo with the client's data segment dropped: RTO retransmission",
             "Elwakedy L4: TCPEchoServer / TCPEchoClient; lecture: retransmission timeout", "tcp", 10000,
             _BASIC, script="tcp_echo", faults=(("drop", "c2s:3"), ("rto_min", "20ms"))),
    Scenario("fast-retransmit", "bulk transfer with one mid-transfer segment dropped: dup ACKs, fast retransmit",
             "Elwakedy L4: sendall() of large data; lecture: fast retransmit", "tcp", 10000,
             ("port", "client_port", "ipv6", "bytes"), script="bulk", faults=(("drop", "c2s:8"),)),
    Scenario("lost-ack", "server ACKs at once, answers later; the ACK is dropped, the client retransmits",
             "Socket Programming: TCPServer uppercase; lecture: lost ACK", "tcp", 12000, _BASIC,
             faults=(("drop", "s2c:2"), ("rto_min", "20ms"))),
    Scenario("zero-window", "receiver with a 4 KB SO_RCVBUF sleeps before reading: zero window, probes",
             "Elwakedy L4: partial reads; lecture: flow control, persist timer", "tcp", 10000,
             _NO_MESSAGE, faults=(("rto_min", "20ms"),)),
    Scenario("syn-retry", "the first SYN is dropped: connect() waits for the SYN retransmission (1 s)",
             "Elwakedy L4: connect(); lecture: SYN retransmission", "tcp", 10000, _BASIC,
             script="tcp_echo", faults=(("drop", "c2s:1"),)),
    # Congestion and flow control (tracer.tcpprofile, tracer.wire): the user's --cc/--tcp,
    # --delay/--rate and --drop replace these presets.
    Scenario("slow-start", "textbook Reno bulk transfer over 10 ms each way at 20 Mbit/s: slow start "
             "doubles cwnd every RTT until the first loss halves it",
             "Elwakedy L4: sendall() of large data; lecture: slow start", "tcp", 10000,
             ("port", "client_port", "ipv6", "bytes"), script="bulk", faults=(("drop", "c2s:120"),),
             tcp=(("cc", "reno"), ("tcp", "textbook")), shape=(("delay", "10ms"), ("rate", "20mbit"))),
    Scenario("sawtooth", "textbook Reno bulk transfer at 10 Mbit/s: one loss ends slow start, then one "
             "every 150 packets: congestion avoidance, fast recovery, the sawtooth",
             "Elwakedy L4: sendall() of large data; lecture: AIMD, the sawtooth", "tcp", 10000,
             ("port", "client_port", "ipv6", "bytes"), script="bulk",
             faults=(("drop", "c2s:30,180,330,480,630"),),
             tcp=(("cc", "reno"), ("tcp", "textbook")), shape=(("delay", "10ms"), ("rate", "10mbit"))),
    Scenario("sliding-window", "receiver with a 32 KB SO_RCVBUF that reads 4 KB every 10 ms: the "
             "advertised window closing and opening",
             "Elwakedy L4: partial reads; lecture: flow control, the sliding window", "tcp", 10000,
             _NO_MESSAGE, shape=(("delay", "2ms"),)),
)
_BY_NAME = {s.name: s for s in _ALL}


def all() -> list[Scenario]:  # noqa: A001 - the interface's name
    return list(_ALL)


def names() -> list[str]:
    return [s.name for s in _ALL]


def get(name: str) -> Scenario:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SynackError(
            f"unknown scenario {name!r}; known scenarios: {', '.join(names())}"
        ) from None
