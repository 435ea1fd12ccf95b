"""Hand-made analyses of the classic exchanges, shaped like what the tracer records.

The values (ISNs, windows, options, 16+4 echo chunks, the socket calls and
their order) follow real veth captures of the course programs, so the ladder
can be built and looked at before the capture analysis exists.  Integration
tests with real captures live beside the tests that use these.
"""
from __future__ import annotations

from viz.model import (Analysis, CaptureInfo, Endpoint, Flag, Packet, SocketCall, StateChange, Stream, Tag,
                       TcpOptions, TcpState)

S = TcpState
T0 = 1763776000.0
CLIENT = Endpoint("192.0.2.1", 40312)
SERVER = Endpoint("192.0.2.2", 10000)
HOSTS = [
    {"name": "client", "role": "client",
     "interfaces": [{"name": "veth0", "addrs": ["192.0.2.1/24"]}]},
    {"name": "server", "role": "server",
     "interfaces": [{"name": "veth0", "addrs": ["192.0.2.2/24"]}]},
]
A = Flag.ACK
P = Flag.PSH
SYN_OPTS_C = TcpOptions(mss=1460, wscale=7, sack_perm=True, ts_val=1000, ts_ecr=0)
SYN_OPTS_S = TcpOptions(mss=1460, wscale=7, sack_perm=True, ts_val=2000, ts_ecr=1000)


class _Builder:
    """Accumulates packets of one or more streams with relative and raw numbers."""

    def __init__(self, isn_c: int = 1_000_000_000, isn_s: int = 3_000_000_000):
        self.packets: list[Packet] = []
        self.isn = {"c": isn_c, "s": isn_s}

    def tcp(self, t: float, d: str, flags: Flag, seq: int, ack: int | None, length: int = 0, *, win: int = 64256,
            payload: bytes = b"", options: TcpOptions | None = None, tags: tuple[Tag, ...] = (),
            client: Endpoint = CLIENT, server: Endpoint = SERVER, stream: int = 0) -> int:
        src, dst = (client, server) if d == "c2s" else (server, client)
        me, peer = ("c", "s") if d == "c2s" else ("s", "c")
        frame = len(self.packets) + 1
        self.packets.append(Packet(
            frame=frame, t=t, ts=T0 + t, proto="tcp", src=src.addr, dst=dst.addr, sport=src.port,
            dport=dst.port, stream=stream, flags=Flag(flags), seq=seq, ack=ack if flags & A else None,
            len=length, win=win, analysis=tags, seq_raw=(self.isn[me] + seq) % 2**32,
            ack_raw=(self.isn[peer] + ack) % 2**32 if flags & A and ack is not None else 0,
            win_raw=win >> 7 if not flags & Flag.SYN else win, options=options, payload=payload[:64],
            wire_len=54 + length + (12 if options is None else 20), cap_len=54 + length))
        return frame

    def udp(self, t: float, d: str, payload: bytes, client: Endpoint, server: Endpoint, stream: int = 0) -> int:
        src, dst = (client, server) if d == "c2s" else (server, client)
        frame = len(self.packets) + 1
        self.packets.append(Packet(frame=frame, t=t, ts=T0 + t, proto="udp", src=src.addr, dst=dst.addr,
                                   sport=src.port, dport=dst.port, stream=stream, len=len(payload),
                                   payload=payload[:64], wire_len=42 + len(payload), cap_len=42 + len(payload)))
        return frame


def _call(t: float, host: str, call: str, phase: str = "return", args: str = "", result: str = "",
          error: str = "", fd: int = 3, frame: int | None = None, pid: int | None = None) -> SocketCall:
    return SocketCall(ts=T0 + t, t=t, host=host, pid=pid or (4242 if host.startswith("client") else 4141),
                      call=call, phase=phase, args=args, result=result, error=error, fd=fd, frame=frame)


def _meta(scenario: str, **extra) -> dict:
    return {"schema": "synack-capture/1", "scenario": scenario, "capture_point": "client",
            "complete": True, "hosts": HOSTS, **extra}


def tcp_echo() -> Analysis:
    """tcp-echo: handshake, "This is the message." echoed back in 16+4 chunks, client closes first."""
    b = _Builder()
    msg = b"This is the message."
    f = {}
    f["syn"] = b.tcp(0.000000, "c2s", Flag.SYN, 0, None, win=64240, options=SYN_OPTS_C)
    f["synack"] = b.tcp(0.000041, "s2c", Flag.SYN | A, 0, 1, win=65160, options=SYN_OPTS_S)
    f["ack"] = b.tcp(0.000058, "c2s", A, 1, 1, win=64256)
    f["data"] = b.tcp(0.000190, "c2s", P | A, 1, 1, 20, payload=msg)
    f["echo1"] = b.tcp(0.000402, "s2c", P | A, 1, 21, 16, win=65152, payload=msg[:16])
    f["ack1"] = b.tcp(0.000415, "c2s", A, 21, 17)
    f["echo2"] = b.tcp(0.000520, "s2c", P | A, 17, 21, 4, win=65152, payload=msg[16:])
    f["ack2"] = b.tcp(0.000531, "c2s", A, 21, 21)
    f["fin"] = b.tcp(0.000702, "c2s", Flag.FIN | A, 21, 21)
    f["finack"] = b.tcp(0.000850, "s2c", Flag.FIN | A, 21, 22, win=65152)
    f["lastack"] = b.tcp(0.000862, "c2s", A, 22, 22)
    states = (
        StateChange(f["syn"], "client", S.CLOSED, S.SYN_SENT, "send SYN"),
        StateChange(f["syn"], "server", S.LISTEN, S.SYN_RECEIVED, "recv SYN"),
        StateChange(f["synack"], "client", S.SYN_SENT, S.ESTABLISHED, "recv SYN, ACK"),
        StateChange(f["ack"], "server", S.SYN_RECEIVED, S.ESTABLISHED, "recv ACK"),
        StateChange(f["fin"], "client", S.ESTABLISHED, S.FIN_WAIT_1, "send FIN"),
        StateChange(f["fin"], "server", S.ESTABLISHED, S.CLOSE_WAIT, "recv FIN"),
        StateChange(f["finack"], "server", S.CLOSE_WAIT, S.LAST_ACK, "send FIN"),
        StateChange(f["finack"], "client", S.FIN_WAIT_1, S.TIME_WAIT, "recv FIN, ACK"),
        StateChange(f["lastack"], "server", S.LAST_ACK, S.CLOSED, "recv ACK of FIN"),
    )
    calls = (
        _call(-0.0050, "server", "socket", fd=3),
        _call(-0.0049, "server", "bind", args="('192.0.2.2', 10000)", fd=3),
        _call(-0.0048, "server", "listen", args="5", fd=3),
        _call(-0.0047, "server", "accept", "call", fd=3),
        _call(-0.0010, "client", "socket", fd=3),
        _call(-0.000010, "client", "connect", "call", args="('192.0.2.2', 10000)", frame=f["syn"]),
        _call(0.000070, "client", "connect", "return"),
        _call(0.000080, "server", "accept", "return", result="(4, ('192.0.2.1', 40312))", fd=3),
        _call(0.000090, "server", "recv", "call", args="16", fd=4),
        _call(0.000180, "client", "sendall", "call", args="20", frame=f["data"]),
        _call(0.000195, "client", "sendall", "return"),
        _call(0.000200, "client", "recv", "call", args="1024"),
        _call(0.000380, "server", "recv", "return", args="16", result="16", fd=4),
        _call(0.000390, "server", "sendall", "call", args="16", fd=4, frame=f["echo1"]),
        _call(0.000405, "server", "sendall", "return", fd=4),
        _call(0.000410, "client", "recv", "return", result="16"),
        _call(0.000415, "client", "recv", "call", args="1024"),
        _call(0.000500, "server", "recv", "return", args="16", result="4", fd=4),
        _call(0.000510, "server", "sendall", "call", args="4", fd=4, frame=f["echo2"]),
        _call(0.000525, "server", "sendall", "return", fd=4),
        _call(0.000530, "client", "recv", "return", result="4"),
        _call(0.000700, "client", "close", frame=f["fin"]),
        _call(0.000840, "server", "recv", "return", args="16", result="b''", fd=4),
        _call(0.000845, "server", "close", fd=4, frame=f["finack"]),
    )
    stream = Stream(0, "tcp", CLIENT, SERVER, tuple(range(1, len(b.packets) + 1)), bytes_c2s=20, bytes_s2c=20,
                    syn_options={"client": SYN_OPTS_C, "server": SYN_OPTS_S}, states=states,
                    first_t=0.0, last_t=b.packets[-1].t)
    return Analysis(CaptureInfo("captures/tcp-echo.pcapng", len(b.packets), ("EN10MB",), _meta("tcp-echo")),
                    tuple(b.packets), (stream,), calls)


def udp_upper() -> Analysis:
    """udp-upper: one datagram out, the uppercased one back."""
    b = _Builder()
    c, s = Endpoint("192.0.2.1", 40313), Endpoint("192.0.2.2", 10001)
    f1 = b.udp(0.0, "c2s", b"This is the message.", c, s)
    f2 = b.udp(0.000120, "s2c", b"THIS IS THE MESSAGE.", c, s)
    calls = (
        _call(-0.004, "server", "socket"),
        _call(-0.0039, "server", "bind", args="('192.0.2.2', 10001)"),
        _call(-0.0038, "server", "recvfrom", "call", args="2048"),
        _call(-0.001, "client", "socket"),
        _call(-0.000010, "client", "sendto", "call", args="20, ('192.0.2.2', 10001)", frame=f1),
        _call(0.000001, "client", "sendto", "return", result="20"),
        _call(0.000005, "client", "recvfrom", "call", args="2048"),
        _call(0.000060, "server", "recvfrom", "return", result="(b'This is the message.', ('192.0.2.1', 40313))"),
        _call(0.000100, "server", "sendto", "call", args="20, ('192.0.2.1', 40313)", frame=f2),
        _call(0.000125, "client", "recvfrom", "return", result="(b'THIS IS THE MESSAGE.', ('192.0.2.2', 10001))"),
        _call(0.000200, "client", "close"),
    )
    stream = Stream(0, "udp", c, s, (f1, f2), 20, 20, first_t=0.0, last_t=0.00012)
    return Analysis(CaptureInfo("captures/udp-upper.pcapng", 2, ("EN10MB",), _meta("udp-upper")),
                    tuple(b.packets), (stream,), calls)


def refused() -> Analysis:
    """tcp-refused: SYN to a port nobody listens on, answered by RST, ACK (seq=1 ack=1, tshark's rule)."""
    b = _Builder(isn_s=0)
    f1 = b.tcp(0.0, "c2s", Flag.SYN, 0, None, win=64240, options=SYN_OPTS_C)
    f2 = b.tcp(0.000030, "s2c", Flag.RST | A, 1, 1, win=0)
    states = (
        StateChange(f1, "client", S.CLOSED, S.SYN_SENT, "send SYN"),
        StateChange(f2, "client", S.SYN_SENT, S.CLOSED, "recv RST"),
    )
    calls = (
        _call(-0.001, "client", "socket"),
        _call(-0.000010, "client", "connect", "call", args="('192.0.2.2', 10000)", frame=f1),
        _call(0.000050, "client", "connect", "return",
              error="ConnectionRefusedError: [Errno 111] Connection refused"),
        _call(0.000060, "client", "close"),
    )
    stream = Stream(0, "tcp", CLIENT, SERVER, (f1, f2), states=states, first_t=0.0, last_t=0.00003)
    return Analysis(CaptureInfo("captures/tcp-refused.pcapng", 2, ("EN10MB",), _meta("tcp-refused")),
                    tuple(b.packets), (stream,), calls)


def bulk(total: int = 1_000_000, mss: int = 1448, retransmit_at: int = 300) -> Analysis:
    """bulk: 1 MB client to server in MSS segments, an ACK every second segment, one segment
    retransmitted (fast retransmission after three dup ACKs), then FIN teardown from the client."""
    b = _Builder()
    t = 0.0

    def tick(dt: float = 0.000012) -> float:
        nonlocal t
        t += dt
        return t

    f_syn = b.tcp(t, "c2s", Flag.SYN, 0, None, win=64240, options=SYN_OPTS_C)
    f_sa = b.tcp(tick(40e-6), "s2c", Flag.SYN | A, 0, 1, win=65160, options=SYN_OPTS_S)
    f_ack = b.tcp(tick(), "c2s", A, 1, 1)
    seq = 1
    n = 0
    lost_seq = None
    lost_frame = None
    dup = 0
    acked = 1
    while seq < total + 1:
        length = min(mss, total + 1 - seq)
        n += 1
        if n == retransmit_at:
            lost_seq = seq
            lost_frame = b.tcp(tick(), "c2s", A, seq, 1, length, payload=b"\0" * 64)
        else:
            tags = ()
            b.tcp(tick(), "c2s", P | A if length < mss else A, seq, 1, length, payload=b"\0" * 64, tags=tags)
        seq += length
        if lost_seq is not None and dup < 3:
            dup += 1
            b.tcp(tick(), "s2c", A, 1, lost_seq, tags=(Tag.DUP_ACK,) if dup > 1 else ())
            if dup == 3:
                b.tcp(tick(), "c2s", A, lost_seq, 1, mss, payload=b"\0" * 64,
                      tags=(Tag.RETRANSMISSION, Tag.FAST_RETRANSMISSION))
                b.tcp(tick(), "s2c", A, 1, seq)
                acked = seq
            continue
        if n % 2 == 0 or seq >= total + 1:
            b.tcp(tick(), "s2c", A, 1, seq)
            acked = seq
    del acked
    end = seq
    f_fin = b.tcp(tick(), "c2s", Flag.FIN | A, end, 1)
    f_fa = b.tcp(tick(), "s2c", Flag.FIN | A, 1, end + 1)
    f_la = b.tcp(tick(), "c2s", A, end + 1, 2)
    states = (
        StateChange(f_syn, "client", S.CLOSED, S.SYN_SENT, "send SYN"),
        StateChange(f_syn, "server", S.LISTEN, S.SYN_RECEIVED, "recv SYN"),
        StateChange(f_sa, "client", S.SYN_SENT, S.ESTABLISHED, "recv SYN, ACK"),
        StateChange(f_ack, "server", S.SYN_RECEIVED, S.ESTABLISHED, "recv ACK"),
        StateChange(f_fin, "client", S.ESTABLISHED, S.FIN_WAIT_1, "send FIN"),
        StateChange(f_fin, "server", S.ESTABLISHED, S.CLOSE_WAIT, "recv FIN"),
        StateChange(f_fa, "server", S.CLOSE_WAIT, S.LAST_ACK, "send FIN"),
        StateChange(f_fa, "client", S.FIN_WAIT_1, S.TIME_WAIT, "recv FIN, ACK"),
        StateChange(f_la, "server", S.LAST_ACK, S.CLOSED, "recv ACK of FIN"),
    )
    calls = (
        _call(-0.002, "server", "socket"), _call(-0.0019, "server", "bind"), _call(-0.0018, "server", "listen"),
        _call(-0.0017, "server", "accept", "call"),
        _call(-0.001, "client", "socket"),
        _call(-0.00001, "client", "connect", "call", frame=f_syn),
        _call(0.00006, "client", "connect", "return"),
        _call(0.00007, "server", "accept", "return", fd=3),
        _call(0.0001, "client", "sendall", "call", args=str(total), frame=f_ack + 1),
        *(_call(0.0002 + k * 0.0005, "server", "recv", "return", result="65536", fd=4) for k in range(15)),
        _call(t - 0.00003, "client", "close", frame=f_fin),
        _call(t - 0.00002, "server", "recv", "return", result="b''", fd=4),
        _call(t - 0.000015, "server", "close", fd=4, frame=f_fa),
    )
    stream = Stream(0, "tcp", CLIENT, SERVER, tuple(range(1, len(b.packets) + 1)), bytes_c2s=total,
                    syn_options={"client": SYN_OPTS_C, "server": SYN_OPTS_S}, states=states,
                    first_t=0.0, last_t=t)
    dropped = [{"dir": "c2s", "ts": T0 + b.packets[lost_frame - 1].t}] if lost_frame else []
    meta = _meta("bulk", options={"bytes": total}, dropped=dropped)
    return Analysis(CaptureInfo("captures/bulk.pcapng", len(b.packets), ("EN10MB",), meta),
                    tuple(b.packets), (stream,), calls)


def two_clients() -> Analysis:
    """A threaded server answering two clients: one lifeline per client, one for the server."""
    b = _Builder()
    c2 = Endpoint("192.0.2.3", 40400)
    for k, (c, t0) in enumerate(((CLIENT, 0.0), (c2, 0.0002))):
        b.tcp(t0, "c2s", Flag.SYN, 0, None, client=c, stream=k, options=SYN_OPTS_C, win=64240)
        b.tcp(t0 + 0.00004, "s2c", Flag.SYN | A, 0, 1, client=c, stream=k, options=SYN_OPTS_S, win=65160)
        b.tcp(t0 + 0.00005, "c2s", A, 1, 1, client=c, stream=k)
    pk = sorted(b.packets, key=lambda p: p.t)
    packets = tuple(Packet(**{**{s: getattr(p, s) for s in Packet.__slots__}, "frame": i + 1})
                    for i, p in enumerate(pk))
    streams = tuple(Stream(k, "tcp", c, SERVER, tuple(p.frame for p in packets if p.stream == k))
                    for k, c in ((0, CLIENT), (1, c2)))
    return Analysis(CaptureInfo("two.pcapng", len(packets), ("EN10MB",), {}), packets, streams, ())
