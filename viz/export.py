"""The `analyze` outputs: the analysis/1 JSON document and the text report.

The JSON follows ../shared/spec/analysis-json.md.  It is written while the
capture is read: one packet per line, strings built by hand from per-frame
tuples (`Engine.rows()`), so a million frames never exist as objects at
once.  Because of that, "packets" comes before "capture" (whose frame count
is known only at the end); JSON objects are unordered, so readers do not
care.  Added fields: "notes" on a packet that could not be fully decoded;
per stream "bytes_c2s", "bytes_s2c", "first_t", "last_t", "retransmissions",
"options" (SYN options per side) and "states" (RFC 9293 state changes); a
top-level "calls" list when the capture holds the tracer's socket calls, and
a top-level "kstate" object when it holds the kernel's sampled TCP state
(viz.kstate, README "Kernel TCP state").
"""
from __future__ import annotations

import json
from typing import Callable, Iterable

from viz import analysis as an
from viz import tcp_analysis as ta
from viz.model import FLAG_ORDER, Analysis, SocketCall, TcpOptions, flag_label
from viz.streams import StreamAcc, endpoint_text

SCHEMA = "analysis/1"
FLUSH_LINES = 2048


def _flags_json(bits: int) -> str:
    return "[" + ", ".join('"%s"' % f.name for f in FLAG_ORDER if bits & f) + "]"


FLAGS_JSON = [_flags_json(b) for b in range(256)]
_TAGS_JSON: dict[int, str] = {}


def tags_json(bits: int) -> str:
    s = _TAGS_JSON.get(bits)
    if s is None:
        s = _TAGS_JSON[bits] = "[" + ", ".join('"%s"' % n for n in ta.tag_names(bits)) + "]"
    return s


def _num(v) -> str:
    return "null" if v is None else str(v)


def _str(v) -> str:
    return "null" if v is None else json.dumps(str(v))


def options_obj(o: TcpOptions | None) -> dict | None:
    if o is None:
        return None
    return {"mss": o.mss, "wscale": o.wscale, "sack_perm": o.sack_perm,
            "ts_val": o.ts_val, "ts_ecr": o.ts_ecr}


def stream_obj(acc: StreamAcc) -> dict:
    """One "streams" entry (schema fields first, then the added ones)."""
    c, s = acc.client, 1 - acc.client
    obj = {"id": acc.id, "proto": acc.proto,
           "client": endpoint_text(acc.addr[c], acc.port[c]),
           "server": endpoint_text(acc.addr[s], acc.port[s]),
           "frames": acc.frames,
           "bytes_c2s": acc.bytes[c], "bytes_s2c": acc.bytes[s],
           "first_t": round(acc.first_t, 9), "last_t": round(acc.last_t, 9)}
    if acc.proto == "tcp":
        obj["retransmissions"] = acc.retrans
        obj["options"] = {"client": options_obj(acc.options[c]),
                          "server": options_obj(acc.options[s])}
        if acc.tracker is not None:
            sides = ("client", "server") if c == 0 else ("server", "client")
            obj["states"] = [{"frame": f, "side": sides[ep], "before": b._value_, "after": a._value_,
                              "event": ev} for f, ep, b, a, ev in acc.tracker.finish()]
    return obj


_CHANGE_TAIL: dict[tuple, str] = {}


def _jstr(v: str) -> str:
    if v.isascii() and v.isprintable() and '"' not in v and "\\" not in v:
        return '"' + v + '"'
    return json.dumps(v)


def _jval(v) -> str:
    """json.dumps of None, a bool, an int or a finite float."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v - v != 0.0:
        return json.dumps(v)
    return repr(v)


_OPTIONS_JSON: dict = {}


def _options_json(o: TcpOptions | None) -> str:
    if o is None:
        return "null"
    key = (o.mss, o.wscale, o.sack_perm, o.ts_val, o.ts_ecr)
    text = _OPTIONS_JSON.get(key)
    if text is None:
        if len(_OPTIONS_JSON) > 4096:
            _OPTIONS_JSON.clear()
        text = _OPTIONS_JSON[key] = _options_text(o)
    return text


def _options_text(o: TcpOptions) -> str:
    return '{"mss": %s, "wscale": %s, "sack_perm": %s, "ts_val": %s, "ts_ecr": %s}' % (
        _jval(o.mss), _jval(o.wscale), _jval(o.sack_perm), _jval(o.ts_val), _jval(o.ts_ecr))


def stream_json(acc: StreamAcc) -> str:
    """`_dump(stream_obj(acc))`, written directly: a capture of 100,000
    connections has as many entries (tests/test_analysis.py checks the two agree)."""
    c, s = acc.client, 1 - acc.client
    head = ('{"id": %d, "proto": "%s", "client": %s, "server": %s, "frames": [%s], '
            '"bytes_c2s": %d, "bytes_s2c": %d, "first_t": %s, "last_t": %s' % (
                acc.id, acc.proto, _jstr(endpoint_text(acc.addr[c], acc.port[c])),
                _jstr(endpoint_text(acc.addr[s], acc.port[s])), ", ".join(map(str, acc.frames)),
                acc.bytes[c], acc.bytes[s], _jval(round(acc.first_t, 9)),
                _jval(round(acc.last_t, 9))))
    if acc.proto != "tcp":
        return head + "}"
    head += ', "retransmissions": %d, "options": {"client": %s, "server": %s}' % (
        acc.retrans, _options_json(acc.options[c]), _options_json(acc.options[s]))
    tracker = acc.tracker
    if tracker is None:
        return head + "}"
    sides = ("client", "server") if c == 0 else ("server", "client")
    tails = _CHANGE_TAIL
    parts = []
    for f, ep, b, a, ev in tracker.finish():
        key = (sides[ep], id(b), id(a), ev)  # ids: an enum's hash is a Python call
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = _dump({"side": key[0], "before": b._value_, "after": a._value_,
                                       "event": ev})[1:]
        parts.append('{"frame": %d, %s' % (f, tail))
    return head + ', "states": [' + ", ".join(parts) + "]}"


def call_obj(c: SocketCall) -> dict:
    return {"t": round(c.t, 9), "ts": c.ts, "host": c.host, "pid": c.pid, "fd": c.fd, "new_fd": c.new_fd,
            "call": c.call, "phase": c.phase, "args": c.args, "result": c.result,
            "error": c.error, "frame": c.frame, "frames": list(c.frames),
            "conn": list(c.conn) if c.conn else None}  # [proto, stream] of the call's socket


def _dump(obj) -> str:
    return json.dumps(obj, separators=(", ", ": "))


def write_json(write: Callable[[str], object], frames: Iterable, *, path: str = "",
               decode: Callable | None = None, vector: bool = True,
               write_bytes: Callable[[bytes], object] | None = None):
    """Stream the analysis/1 document of `frames` (a Capture or RawFrame iterable) to `write`.

    A Capture without socket calls goes through `viz.vector` (same bytes,
    many times faster); `vector=False` forces the per-frame Engine, which is
    the reference the vector path is tested against.  `write_bytes`, if given,
    receives the vector path's output instead of `write` (ASCII bytes, no
    str round trip); `write` must have nothing buffered then.
    """
    meta = getattr(frames, "meta", None) or {}
    keep = bool(meta.get("calls"))  # socket calls need the packets to attach to
    if vector and not keep and decode is None and hasattr(frames, "chunks"):
        try:
            from viz.vector import VectorEngine
        except ImportError:  # numpy missing
            pass
        else:
            return _write_json_vector(write, frames, path, VectorEngine(), write_bytes)
    engine = an.Engine(decode, batch=not keep and vector)
    kept: list = []
    write('{\n  "schema": "%s",\n  "packets": [\n' % SCHEMA)
    buf: list[str] = []
    add = buf.append
    FJ = FLAGS_JSON
    TJ = _TAGS_JSON
    tcp_fmt = ('    {"frame": %d, "t": %.9f, "proto": "tcp", "src": "%s", "sport": %s, '
               '"dst": "%s", "dport": %s, "stream": %d, "flags": %s, "seq": %s, "ack": %s, '
               '"len": %s, "win": %s, "analysis": %s')
    udp_fmt = ('    {"frame": %d, "t": %.9f, "proto": "udp", "src": "%s", "sport": %s, '
               '"dst": "%s", "dport": %s, "stream": %d, "flags": [], "seq": null, "ack": null, '
               '"len": %s, "win": null, "analysis": []')
    other_fmt = ('    {"frame": %d, "t": %.9f, "proto": "%s", "src": %s, "sport": null, '
                 '"dst": %s, "dport": null, "stream": null, "flags": [], "seq": null, '
                 '"ack": null, "len": null, "win": null, "analysis": []')
    sep = ""
    for row in engine.rows(frames):
        (n, _ts, t, proto, src, sport, dst, dport, stream, flags, seq, ack, length, win, bits,
         d, _raw) = row
        if proto == "tcp":
            tags = TJ.get(bits)
            if tags is None:
                tags = tags_json(bits)
            line = tcp_fmt % (n, t, src, "null" if sport is None else sport, dst,
                              "null" if dport is None else dport, stream, FJ[flags],
                              "null" if seq is None else seq, "null" if ack is None else ack,
                              "null" if length is None else length, "null" if win is None else win, tags)
        elif proto == "udp":
            line = udp_fmt % (n, t, src, "null" if sport is None or sport < 0 else sport, dst,
                              "null" if dport is None or dport < 0 else dport, stream,
                              "null" if length is None else length)
        else:
            line = other_fmt % (n, t, proto, "null" if src is None else '"%s"' % src,
                                "null" if dst is None else '"%s"' % dst)
        if d is not None and d.notes:
            line += ', "notes": ' + _dump(list(d.notes))
        add(sep + line + "}")
        sep = ",\n"
        if keep:
            kept.append(an.packet_of(row))
        if len(buf) >= FLUSH_LINES:
            write("".join(buf))
            buf.clear()
    if buf:
        write("".join(buf))
    info = an.capture_info(frames, engine.frames, path)
    capture = {"path": info.path, "frames": info.frames, "link_types": list(info.link_types)}
    if info.truncated_at:
        capture["truncated_at"] = info.truncated_at
    write('\n  ],\n  "capture": %s,\n  "streams": [\n' % _dump(capture))
    write(",\n".join("    " + _dump(stream_obj(acc)) for acc in engine.streams))
    write("\n  ]")
    if keep:
        from viz.calls import attach, parse_calls
        calls = attach(kept, parse_calls(meta, kept[0].ts if kept else None), meta)
        write(',\n  "calls": [\n')
        write(",\n".join("    " + _dump(call_obj(c)) for c in calls))
        write("\n  ]")
    write(_kstate_json(meta, engine))
    write("\n}\n")
    return engine


def _kstate_ends(engine) -> list:
    return [(acc.id, acc.addr[0], acc.port[0], acc.addr[1], acc.port[1])
            for acc in engine.streams if acc.proto == "tcp"]


def _kstate_json(meta: dict, engine) -> str:
    """',\n  "kstate": {...}' when the capture recorded the kernel's TCP state, else ''."""
    if not meta.get("kstate"):
        return ""
    from viz import kstate
    ks = kstate.from_meta(meta, engine.t0 or 0.0, _kstate_ends(engine))
    return ',\n  "kstate": ' + _dump(kstate.json_obj(ks)) if ks else ""


def _write_json_vector(write, frames, path, engine, write_bytes=None):
    """The vector export, with the cyclic garbage collector paused: it creates
    no reference cycles, but hundreds of thousands of container objects (stream
    frame lists, state changes) whose repeated scanning costs ~15% of the run."""
    import gc
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _write_json_vector_body(write, frames, path, engine, write_bytes)
    finally:
        if enabled:
            gc.enable()


def _write_json_vector_body(write, frames, path, engine, write_bytes):
    from viz.vector import JsonRows
    rows = JsonRows(engine)
    if write_bytes is None:
        def put(pieces):
            write("".join([str(p, "ascii") for p in pieces]))
    else:
        def put(pieces):
            for p in pieces:
                write_bytes(p)
    put([('{\n  "schema": "%s",\n  "packets": [\n' % SCHEMA).encode()])
    from viz.capture import forked_chunks
    from viz.vector import Prepare, decode_chunk
    first = True
    if getattr(frames, "format", None) in ("pcap", "pcapng"):
        # its own address numbering, replayed in order by analyse()
        decoded = forked_chunks(frames, Prepare())
    else:
        decoded = (decode_chunk(ch, engine.addrs) for ch in frames.chunks())
    for c in decoded:
        pieces = rows.render_bytes(engine.analyse(c))
        if first and pieces:
            pieces[0] = pieces[0][2:]  # the first line has no ",\n" before it
            first = False
        put(pieces)
    engine.finish()
    info = an.capture_info(frames, engine.frames, path)
    capture = {"path": info.path, "frames": info.frames, "link_types": list(info.link_types)}
    if info.truncated_at:
        capture["truncated_at"] = info.truncated_at
    put([('\n  ],\n  "capture": %s,\n  "streams": [\n' % _dump(capture)).encode()])
    from viz.vector import streams_json
    batch: list = []
    for piece in streams_json(engine, rows.store):
        batch.append(piece)
        if len(batch) >= 4096:
            put(batch)
            batch = []
    put(batch + [b"\n  ]", _kstate_json(getattr(frames, "meta", None) or {}, engine).encode(), b"\n}\n"])
    return engine


def analysis_json(a: Analysis) -> dict:
    """The analysis/1 document of an already built Analysis (for small captures and tests)."""
    packets = []
    for p in a.packets:
        packets.append({
            "frame": p.frame, "t": round(p.t, 9), "proto": p.proto, "src": p.src,
            "sport": p.sport, "dst": p.dst, "dport": p.dport, "stream": p.stream,
            "flags": [f.name for f in FLAG_ORDER if p.flags & f] if p.proto == "tcp" else [],
            "seq": p.seq, "ack": p.ack, "len": p.len, "win": p.win,
            "analysis": [t.value for t in p.analysis]})
    streams = []
    for s in a.streams:
        streams.append({"id": s.id, "proto": s.proto, "client": str(s.client),
                        "server": str(s.server), "frames": list(s.frames)})
    return {"schema": SCHEMA,
            "capture": {"path": a.capture.path, "frames": a.capture.frames,
                        "link_types": list(a.capture.link_types)},
            "packets": packets, "streams": streams}


# -- text ---------------------------------------------------------------------

TEXT_HEADER = "%7s %12s  %-28s %-28s %-6s %4s  %-15s %10s %10s %6s %7s  %s" % (
    "No.", "Time", "Source", "Destination", "Proto", "Strm", "Flags", "Seq", "Ack", "Len",
    "Win", "Analysis")
_FLAG_TEXT = {}


def _flags_text(bits: int) -> str:
    s = _FLAG_TEXT.get(bits)
    if s is None:
        # tshark's summary spelling: "[SYN, ACK]", "[PSH, ACK]", "[<None>]"
        s = _FLAG_TEXT[bits] = "[%s]" % (flag_label(bits) if bits & 0xFF else "<None>")
    return s


def _ep(addr, port) -> str:
    if addr is None:
        return "-"
    return endpoint_text(addr, port) if port is not None else str(addr)


def write_text(write: Callable[[str], object], frames: Iterable, *, path: str = "",
               decode: Callable | None = None) -> an.Engine:
    """A tshark-like per-frame table with the tags, then one summary per stream."""
    engine = an.Engine(decode, batch=True)
    write(TEXT_HEADER + "\n")
    buf: list[str] = []
    for row in engine.rows(frames):
        (n, _ts, t, proto, src, sport, dst, dport, stream, flags, seq, ack, length, win, bits,
         d, _raw) = row
        tags = " ".join("[%s]" % x for x in ta.tag_names(bits)) if bits else ""
        if d is not None and d.notes:
            tags = (tags + " " if tags else "") + "; ".join(d.notes)
        buf.append("%7d %12.6f  %-28s %-28s %-6s %4s  %-15s %10s %10s %6s %7s  %s\n" % (
            n, t, _ep(src, sport), _ep(dst, dport), proto, "" if stream is None else stream,
            _flags_text(flags) if proto == "tcp" else "", "" if seq is None else seq,
            "" if ack is None else ack, "" if length is None else length,
            "" if win is None else win, tags))
        if len(buf) >= FLUSH_LINES:
            write("".join(buf))
            buf.clear()
    write("".join(buf))
    info = an.capture_info(frames, engine.frames, path)
    write("\n%s: %d frames, link types %s, %d TCP and %d UDP streams\n" % (
        info.path or "capture", info.frames, ", ".join(info.link_types) or "-",
        engine.n_tcp, engine.n_udp))
    if info.truncated_at:
        write("stopped early (--partial): %s\n" % info.truncated_at)
    meta = getattr(frames, "meta", None) or {}
    redirect = meta.get("localhost") if isinstance(meta.get("localhost"), dict) else {}
    for note in list(redirect.get("notes") or ()) + list(meta.get("notes") or ()):
        write("note: %s\n" % note)
    for acc in engine.streams:
        write(stream_summary(acc))
    if meta.get("kstate"):
        from viz import kstate
        ks = kstate.from_meta(meta, engine.t0 or 0.0, _kstate_ends(engine))
        if ks:
            write(kstate.text(ks))
    return engine


def stream_summary(acc: StreamAcc) -> str:
    c, s = acc.client, 1 - acc.client
    lines = ["\n%s stream %d: client %s, server %s" % (
        acc.proto.upper(), acc.id, endpoint_text(acc.addr[c], acc.port[c]),
        endpoint_text(acc.addr[s], acc.port[s]))]
    lines.append("  frames %d, bytes client->server %d, server->client %d, duration %.6f s"
                 % (len(acc.frames), acc.bytes[c], acc.bytes[s], acc.last_t - acc.first_t))
    if acc.proto == "tcp":
        lines.append("  retransmissions %d" % acc.retrans)
        for side, i in (("client", c), ("server", s)):
            o = acc.options[i]
            if o is not None:
                parts = []
                if o.mss is not None:
                    parts.append("MSS %d" % o.mss)
                if o.wscale is not None:
                    parts.append("WS %d" % o.wscale)
                if o.sack_perm:
                    parts.append("SACK_PERM")
                if o.ts_val is not None:
                    parts.append("TS")
                lines.append("  %s SYN options: %s" % (side, ", ".join(parts) or "none"))
        if acc.tracker is not None:
            sides = ("client", "server") if c == 0 else ("server", "client")
            for side_ep, side in ((c, "client"), (s, "server")):
                seen = []
                for _f, ep, before, after, _ev in acc.tracker.finish():
                    if ep != side_ep:
                        continue
                    if not seen:
                        seen.append(before.value)
                    if after.value != seen[-1]:
                        seen.append(after.value)
                lines.append("  %s states: %s" % (sides[side_ep], " -> ".join(seen) or "-"))
    return "\n".join(lines) + "\n"
