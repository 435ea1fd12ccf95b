"""`--stream all` on a capture with more endpoints than one ladder lays out: an overview.

A capture of a browser or a DNS resolver holds hundreds of streams; drawn one per lifeline pair they
would not fit a slide, and drawing the first alone hides the rest.  The overview draws each host
(address) as a lifeline, or with more hosts than fit, the clients and the servers as two, and each
stream as one row between its two ends, in order of its first
frame, saying its ports, how much went each way and how it opened and ended, so the reader picks one
to draw with `--stream N`.  Built from the same `Ladder` values (bands, time marks, caption), so
every renderer and the pagination draw it unchanged.  Pure.
"""
from __future__ import annotations

from viz.model import Analysis, Endpoint, Flag, Stream

MAX_HOSTS = 8  # lifelines one overview lays out (as --stream all)


def _ends(analysis: Analysis, s: Stream) -> str:
    """How a TCP stream opened and ended, as far as the capture shows: `SYN…FIN`, `…RST`."""
    if s.proto != "tcp" or not s.frames:
        return ""
    pk = [analysis.packet(f) for f in s.frames if f <= len(analysis.packets)]
    start = "SYN" if any(p.flags & Flag.SYN for p in pk) else ""
    end = "RST" if any(p.flags & Flag.RST for p in pk) else "FIN" if any(p.flags & Flag.FIN for p in pk) else ""
    return f"{start}…{end}" if start or end else ""


def overview(analysis: Analysis, streams: tuple[Stream, ...], caption: str):
    """The overview ladder of `streams`."""
    from viz.ladder import Band, Ladder, Lifeline, TimeMark

    hosts: list[str] = []
    for s in sorted(streams, key=lambda s: s.frames[0] if s.frames else 0):
        for addr in (s.client.addr, s.server.addr):
            if addr not in hosts:
                hosts.append(addr)
    many = len(hosts) > MAX_HOSTS  # then two lifelines, clients and servers, each row naming its hosts
    clients = [h for h in hosts if any(s.client.addr == h for s in streams)
               and not any(s.server.addr == h for s in streams)]
    order = clients + [h for h in hosts if h not in clients]
    if many:
        n_servers = len(hosts) - len(clients)
        lifelines = (Lifeline(0, Endpoint(f"{len(clients)} host{'s' if len(clients) != 1 else ''}", None),
                              "clients", "client"),
                     Lifeline(1, Endpoint(f"{n_servers} host{'s' if n_servers != 1 else ''}", None),
                              "servers", "server"))
        where = {h: (0 if h in clients else 1) for h in hosts}
    else:
        where = {h: i for i, h in enumerate(order)}
        lifelines = tuple(Lifeline(i, Endpoint(h, None), "client" if h in clients else "server",
                                   "client" if h in clients else "server") for i, h in enumerate(order))
    bands, marks = [], []
    ordered = sorted(streams, key=lambda s: (s.frames[0] if s.frames else 0, s.proto, s.id))
    span = max((s.last_t for s in ordered), default=0.0)
    mul = 1e3 if span < 10 else 1.0
    for k, s in enumerate(ordered):
        a, b = where[s.client.addr], where[s.server.addr]
        left, right = min(a, b), max(a, b)
        if left == right:  # both ends on one host (loopback): a row beside its lifeline
            right = min(left + 1, len(lifelines) - 1)
            left = right - 1 if right == left else left
        n = len(s.frames)
        how = _ends(analysis, s)
        ends = f"{s.client} → {s.server}" if many else f":{s.client.port} → :{s.server.port}"
        text = (f"{s.proto} {s.id}: {ends} · {n:,} frame{'s' if n != 1 else ''}, "
                f"{s.bytes_c2s:,} B → / {s.bytes_s2c:,} B ←" + (f" · {how}" if how else ""))
        bands.append(Band(float(k), float(k) + 1.0, left, right, text, n, s.bytes_c2s + s.bytes_s2c, 0,
                              s.frames[0] if s.frames else 0, s.frames[-1] if s.frames else 0))
        marks.append(TimeMark(float(k) + 0.5, f"{s.first_t * mul:.3f}"))  # where a band's time goes
    return Ladder(lifelines=lifelines, arrows=(), bands=tuple(bands), times=tuple(marks),
                  time_unit="ms" if mul > 1 else "s", y_min=-0.5, y_max=float(len(bands)) + 0.5,
                  caption=caption, streams=tuple((s.proto, s.id) for s in ordered))
