"""Graphs a course needs: who talked to whom, the TCP state machine, the test network.

The graphs are networkx objects built from the analysis model or the capture
metadata (pure, no I/O); positions are fixed or seeded so a figure comes out
the same every run.  The `draw_*` functions at the end are the matplotlib
renderers and import matplotlib only when called.
"""
from __future__ import annotations

from dataclasses import dataclass

from viz.errors import SynackError
from viz.model import Analysis, Stream, TcpState
from viz.state_diagram import BOXES, RFC9293_TRANSITIONS

S = TcpState

# The RFC figure's arrangement (viz.state_diagram holds the whole layout and the one table of edges).
STATE_POS = {st: xy for key, (st, xy) in BOXES.items() if key != "CLOSED_END"}
TWO_MSL_NOTE = "TIME_WAIT lasts 2 MSL (twice the maximum segment lifetime; Linux: 60 s)"


def state_machine():
    """The RFC 9293 TCP state machine as a networkx DiGraph (11 states, labelled edges)."""
    import networkx as nx

    g = nx.DiGraph()
    for st in TcpState:
        g.add_node(st, pos=STATE_POS[st])
    for a, b, label in RFC9293_TRANSITIONS:
        g.add_edge(a, b, label=label, rfc=True)
    return g


@dataclass(frozen=True, slots=True)
class Step:
    n: int
    side: str
    before: TcpState
    after: TcpState
    event: str
    frame: int
    rfc: bool  # the transition is an edge of the RFC diagram


def stream_paths(g, stream: Stream) -> dict[str, tuple[Step, ...]]:
    """Each side's walk through the diagram; transitions the RFC figure lacks (an RST
    aborting ESTABLISHED) are added to `g` as non-RFC edges so they can be drawn."""
    paths: dict[str, list[Step]] = {"client": [], "server": []}
    for ch in stream.states:
        if ch.before == ch.after:
            continue
        rfc = g.has_edge(ch.before, ch.after) and g.edges[ch.before, ch.after].get("rfc", False)
        if not g.has_edge(ch.before, ch.after):
            g.add_edge(ch.before, ch.after, label=ch.event, rfc=False)
        side = paths.setdefault(ch.side, [])
        side.append(Step(len(side) + 1, ch.side, ch.before, ch.after, ch.event, ch.frame, rfc))
    return {k: tuple(v) for k, v in paths.items()}


def pick_stream(an: Analysis, sid: int | None) -> Stream:
    tcp = [s for s in an.streams if s.proto == "tcp"]
    if not tcp:
        raise SynackError(f"{an.capture.path}: no TCP stream, so no state-machine path to draw")
    if sid is None:
        return tcp[0]
    for s in tcp:
        if s.id == sid:
            return s
    raise SynackError(f"{an.capture.path}: --stream {sid} out of range (TCP streams "
                      f"{tcp[0].id}-{tcp[-1].id})")


# ---------------------------------------------------------------- conversations


def conversations(an: Analysis, ports: bool = False):
    """Hosts (or host:port endpoints) as nodes; one edge per pair with streams, frames
    and bytes in each direction (direction = from the lower-sorted node to the other)."""
    import networkx as nx

    g = nx.Graph(ports=ports)
    per_stream: dict[tuple[str, int], list[int]] = {}
    for p in an.packets:
        if p.stream is None or p.proto not in ("tcp", "udp"):
            continue
        per_stream.setdefault((p.proto, p.stream), []).append(p.frame)
    node = (lambda ep: str(ep)) if ports else (lambda ep: ep.addr)
    for s in sorted(an.streams, key=lambda s: (s.proto, s.id)):
        a, b = node(s.client), node(s.server)
        for n in (a, b):
            if n not in g:
                g.add_node(n)
        if not g.has_edge(a, b):
            g.add_edge(a, b, streams=[], frames={a: 0, b: 0}, bytes={a: 0, b: 0})
        e = g.edges[a, b]
        e["streams"].append(f"{s.proto} {s.id}")
        c2s = sum(1 for f in per_stream.get((s.proto, s.id), ()) if _from_client(an, f, s))
        total = len(per_stream.get((s.proto, s.id), ()))
        e["frames"][a] += c2s
        e["frames"][b] += total - c2s
        e["bytes"][a] += s.bytes_c2s
        e["bytes"][b] += s.bytes_s2c
    return g


# A slide holds about this many labelled conversations; a busy capture is cut
# to its busiest ones rather than drawn as an unreadable clump.
TOP = 12


def busiest(g, top: int = TOP):
    """The `top` conversations with the most bytes (0: all), and how many
    conversations and hosts were left out, so the figure can say so."""
    if not top or g.number_of_edges() <= top:
        return g, 0, 0

    def weight(e):
        a, b = sorted(e)
        d = g.edges[a, b]
        return (-sum(d["bytes"].values()), -sum(d["frames"].values()), a, b)

    keep = sorted((tuple(sorted(e)) for e in g.edges), key=weight)[:top]
    h = g.edge_subgraph(keep).copy()
    return h, g.number_of_edges() - top, len(g) - len(h)


def conversation_figure(an: Analysis, name: str, th, size, ports: bool = False, top: int = TOP):
    g = conversations(an, ports=ports)
    if not g.number_of_nodes():
        raise SynackError(f"{an.capture.path}: no TCP or UDP stream, so no conversations to draw")
    title = f"Conversations in {name}: {len(g)} {'endpoints' if ports else 'hosts'}, {len(an.streams)} streams"
    h, edges_out, hosts_out = busiest(g, top)
    note = None
    if edges_out:
        note = (f"the {h.number_of_edges()} busiest conversations by bytes; {edges_out} more"
                + (f" (and {hosts_out} more hosts)" if hosts_out else "")
                + " are listed by `synack graph` without -o")
    hub = star_hub(h)
    if hub is not None:
        return draw_star(h, hub, th, size, title, note)
    return draw_conversations(h, conversation_layout(h), th, size, title, note)


def star_hub(g) -> str | None:
    """The host every conversation touches, when there are several: most lab
    captures are taken on one machine, and a star drawn as two columns of peers
    leaves room to label each conversation beside its peer."""
    if g.number_of_edges() < 3:
        return None
    hub = max(sorted(g.nodes), key=g.degree)
    return hub if g.degree(hub) == g.number_of_edges() else None


def star_rows(g, hub: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Peers for the right and left columns, busiest first, alternating sides."""
    def weight(n):
        d = g.edges[hub, n]
        return (-sum(d["bytes"].values()), n)

    peers = sorted((n for n in g.nodes if n != hub), key=weight)
    return tuple(peers[0::2]), tuple(peers[1::2])


def star_label(g, hub: str, peer: str) -> tuple[str, str]:
    e = g.edges[hub, peer]
    n = len(e["streams"])
    head = e["streams"][0] if n == 1 else f"{n} streams"
    return head, (f"sent {e['frames'][peer]} frames, {_kb(e['bytes'][peer])}\n"
                  f"received {e['frames'][hub]} frames, {_kb(e['bytes'][hub])}")


def _from_client(an: Analysis, frame: int, s: Stream) -> bool:
    p = an.packet(frame)
    return p.src == s.client.addr and p.sport == s.client.port


def conversation_layout(g) -> dict:
    """Deterministic: nodes sorted, a fixed seed, coordinates rounded."""
    import networkx as nx

    h = nx.Graph()
    h.add_nodes_from(sorted(g.nodes))
    h.add_edges_from(sorted(tuple(sorted(e)) for e in g.edges))
    if len(h) <= 2:
        pos = {n: (float(i), 0.0) for i, n in enumerate(h.nodes)}
    elif len(h) <= 16:
        hub = max(sorted(h.nodes), key=h.degree)
        if h.degree(hub) > 2:  # a client talking to many servers: the hub in the middle
            pos = nx.shell_layout(h, [[hub], [n for n in h.nodes if n != hub]])
        else:
            pos = nx.circular_layout(h)
    else:
        pos = nx.spring_layout(h, seed=9293, iterations=200)
    return {n: (round(float(x), 6), round(float(y), 6)) for n, (x, y) in pos.items()}


def _kb(n: int) -> str:
    return f"{n} B" if n < 10_000 else f"{n / 1000:.1f} kB"


def conversation_label(g, a: str, b: str) -> str:
    e = g.edges[a, b]
    x, y = sorted((a, b))
    n = len(e["streams"])
    head = e["streams"][0] if n == 1 else f"{n} streams"
    return (f"{head}\nfrom {x}: {_count(e['frames'][x], 'frame')}, {_kb(e['bytes'][x])}\n"
            f"from {y}: {_count(e['frames'][y], 'frame')}, {_kb(e['bytes'][y])}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------- topology


def topology(meta: dict, path: str = "capture"):
    """The trace's hosts and links (synack-capture/1 metadata) as a networkx Graph."""
    import networkx as nx

    hosts = meta.get("hosts") or []
    if not hosts:
        raise SynackError(f"{path}: no synack-capture/1 host metadata; --kind topology needs a capture "
                          "made by synack trace")
    g = nx.Graph()
    for h in hosts:
        g.add_node(h["name"], role=h.get("role", ""), interfaces={i["name"]: i for i in h.get("interfaces", [])})
    for link in meta.get("links") or []:
        (ha, ia), (hb, ib) = link["a"].split(":", 1), link["b"].split(":", 1)
        for hn in (ha, hb):
            if hn not in g:
                g.add_node(hn, role="", interfaces={})
        g.add_edge(ha, hb, ifaces={ha: ia, hb: ib}, captured=bool(link.get("captured")))
    return g


ROLE_ORDER = {"client": 0, "router": 1, "server": 2}


def captured_here(g, meta: dict) -> set[tuple[str, str]]:
    """The captured links this file holds, as (a, b) in both orders.  A routed trace
    writes one file per link, each with every link's metadata: this file's link is
    the one at its capture point."""
    point = meta.get("capture_point")
    links = g.edges(point, data=True) if point in g else g.edges(data=True)
    return {pair for a, b, e in links if e["captured"] for pair in ((a, b), (b, a))}


def topology_layout(g) -> dict:
    order = sorted(g.nodes, key=lambda n: (ROLE_ORDER.get(g.nodes[n].get("role"), 1), n))
    return {n: (float(i), 0.0) for i, n in enumerate(order)}


def iface_text(g, host: str, iface: str) -> str:
    info = g.nodes[host].get("interfaces", {}).get(iface, {})
    parts = [iface]
    if info.get("mac"):
        parts.append(info["mac"])
    parts += list(info.get("addrs", []))
    return "\n".join(parts)


# ---------------------------------------------------------------- text


def conversations_text(g) -> str:
    node = "endpoint" if g.graph.get("ports") else "host"
    lines = [f"{_count(len(g), node)}, {_count(g.number_of_edges(), 'conversation')}"]
    for a, b in sorted(tuple(sorted(e)) for e in g.edges):
        lines.append(conversation_label(g, a, b).replace("\n", "  |  "))
    return "\n".join(lines) + "\n"


def states_text(stream: Stream, paths: dict) -> str:
    lines = [f"TCP stream {stream.id}: {stream.key}"]
    for side in ("client", "server"):
        steps = paths.get(side, ())
        start = steps[0].before.value if steps else "?"
        lines.append(f"{side}: {start}" + "".join(f" -> {s.after.value}" for s in steps))
        for s in steps:
            mark = "" if s.rfc else "   (not an edge of the RFC 9293 diagram)"
            lines.append(f"  {s.n}. frame {s.frame}: {s.event}: {s.before.value} -> {s.after.value}{mark}")
    lines.append(TWO_MSL_NOTE)
    return "\n".join(lines) + "\n"


def topology_text(g, meta: dict) -> str:
    lines = [f"capture point: {meta.get('capture_point', '?')}"]
    for n in sorted(g.nodes, key=lambda n: (ROLE_ORDER.get(g.nodes[n].get("role"), 1), n)):
        lines.append(f"{n} ({g.nodes[n].get('role') or 'host'})")
        for name in sorted(g.nodes[n].get("interfaces", {})):
            lines.append("  " + iface_text(g, n, name).replace("\n", "  "))
    here = captured_here(g, meta)
    for a, b, e in sorted(g.edges(data=True)):
        cap = "" if not e["captured"] else ("  [captured here]" if (a, b) in here else "  [captured, the other file]")
        lines.append(f"link {a}:{e['ifaces'][a]} -- {b}:{e['ifaces'][b]}{cap}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- drawing


def _axes(fig, th, xlim, ylim):
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.9))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    ax.set_facecolor(th.background)
    return ax


def draw_states(g, stream: Stream, paths: dict, th, size):
    """The diagram of viz.state_diagram, the stream's client and server walks beside its edges."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from viz import state_diagram as D
    from viz.figure import new_figure

    fig = new_figure(size, th)
    fig.text(0.02, 0.965, f"TCP state machine (RFC 9293) and the path of stream {stream.id}",
             fontsize=14, fontweight="bold", color=th.foreground, va="center")
    fig.text(0.02, 0.925, stream.key, fontsize=11, va="center", color=th.muted)
    ax = fig.add_axes((0.01, 0.13, 0.98, 0.76))
    ax.set_xlim(*D.XLIM)
    ax.set_ylim(*D.YLIM)
    ax.axis("off")
    lines = D.path_lines(paths)
    touched = {e.target for _, e, _ in lines} | {e.source for _, e, _ in lines}  # box keys a walk reaches
    for key, (st, _) in D.BOXES.items():
        x0, y0, x1, y1 = D.box_rect(key)
        on = key in touched
        ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.08",
                                    facecolor=th.fills[2] if on else th.background, edgecolor=th.foreground,
                                    linewidth=1.8 if on else 1.0, zorder=3))
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, st.value, ha="center", va="center", fontsize=12,
                fontweight="bold" if on else "normal", color=th.foreground, zorder=4)

    def arrow(pts, color, lw, ls, z, gid=None):
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if len(pts) > 2:
            ax.add_line(Line2D(xs[:-1], ys[:-1], color=color, lw=lw, ls=ls, zorder=z, solid_joinstyle="miter",
                               gid=gid))
        ax.add_patch(FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>", mutation_scale=13, color=color, lw=lw,
                                     ls=ls, shrinkA=0, shrinkB=0, zorder=z, gid=gid))

    def label(lab, color, style="normal", z=5, gid=None):
        ax.text(lab.x, lab.y, lab.text, ha=lab.ha, va=lab.va, fontsize=11, color=color, style=style, zorder=z,
                gid=gid)

    # gids name each edge and its label in SVG output (tests find which label belongs to which edge).
    for e in D.EDGES:
        arrow(e.points, th.muted, 1.0, "-", 2, f"edge {e.source}->{e.target}")
        label(e.label, th.muted, gid=f"edge-label {e.source}->{e.target}")
    for lab in D.GROUPS:
        ax.text(lab.x, lab.y, lab.text, ha=lab.ha, va=lab.va, fontsize=12, style="italic", fontweight="bold",
                color=th.accent, zorder=5)
    label(D.TWO_MSL, th.foreground, "italic")
    styles = {"client": (th.data, "-", 2.8), "server": (th.alert, (0, (4, 2)), 2.8)}
    drawn = set()
    for side, e, pts in lines:
        color, ls, lw = styles.get(side, (th.accent, ":", 2.4))
        if not e.rfc and (e.source, e.target) not in drawn:  # an edge only captures draw: a reset's, or unusual
            drawn.add((e.source, e.target))
            if e.target.startswith("RST "):  # with its small CLOSED
                x0, y0, x1, y1 = D.pill_rect(e.a)
                ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.15",
                                            facecolor=th.background, edgecolor=color, linewidth=1.4, zorder=3))
                ax.text((x0 + x1) / 2, (y0 + y1) / 2, "CLOSED", ha="center", va="center", fontsize=10,
                        color=th.foreground, zorder=4)
            arrow(e.points, th.muted, 1.0, "-", 2, f"edge {e.source}->{e.target}")
            label(e.label, color, "italic", gid=f"edge-label {e.source}->{e.target}")
        arrow(pts, color, lw, ls, 6, f"path {side}")
    handles = [Line2D([], [], color=c, ls=ls, lw=lw, label=f"{side} {stream.client if side == 'client' else stream.server}: "
                      + " \u2192 ".join([steps[0].before.value] + [x.after.value for x in steps]) if steps else side)
               for side, steps in paths.items() for (c, ls, lw) in [styles.get(side, (th.accent, ":", 2.4))]]
    handles.append(Line2D([], [], color=th.muted, lw=1.0, label="RFC 9293 transition (event / action); "
                          + TWO_MSL_NOTE))
    leg = fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), fontsize=11, frameon=False,
                     ncol=1)
    for t in leg.get_texts():
        t.set_color(th.foreground)
    return fig


def draw_conversations(g, pos: dict, th, size, title: str, note: str | None = None):
    from matplotlib.patches import FancyArrowPatch

    from viz.figure import new_figure

    fig = new_figure(size, th)
    fig.text(0.02, 0.96, title, fontsize=14, fontweight="bold", color=th.foreground, va="center")
    pos = {n: (x * size[0] / size[1], y) for n, (x, y) in pos.items()}  # use the slide's width
    xs = [p[0] for p in pos.values()] or [0]
    ys = [p[1] for p in pos.values()] or [0]
    padx = max(0.6, (max(xs) - min(xs)) * 0.1)
    pady = max(0.3, (max(ys) - min(ys)) * 0.1)
    ax = _axes(fig, th, (min(xs) - padx, max(xs) + padx), (min(ys) - pady, max(ys) + pady))
    many = g.number_of_edges() > 12
    for a, b in sorted(tuple(sorted(e)) for e in g.edges):
        e = g.edges[a, b]
        width = 1.0 + min(5.0, len(e["streams"]) ** 0.5)
        ax.add_patch(FancyArrowPatch(pos[a], pos[b], arrowstyle="-", lw=width, color=th.control, zorder=1,
                                     shrinkA=0, shrinkB=0))
        if not many:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            t = 0.5 if g.degree(a) == g.degree(b) else (0.62 if g.degree(a) > g.degree(b) else 0.38)
            ax.text(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t, conversation_label(g, a, b), fontsize=9.5, ha="center",
                    va="center", color=th.foreground, zorder=3,
                    bbox=dict(boxstyle="round,pad=0.25", facecolor=th.background, edgecolor=th.muted))
    fs = 11 if len(g) <= 12 else 8
    for n in sorted(g.nodes):
        x, y = pos[n]
        ax.text(x, y, n, fontsize=fs, ha="center", va="center", fontweight="bold", color=th.foreground, zorder=4,
                bbox=dict(boxstyle="round,pad=0.35", facecolor=th.fills[2], edgecolor=th.foreground, linewidth=1.2))
    if many or note:
        fig.text(0.02, 0.925, note or "line width grows with the number of streams; `synack graph` without -o "
                 "lists every conversation with frames and bytes each way", fontsize=9.5, color=th.muted,
                 style="italic")
    return fig


def draw_star(g, hub: str, th, size, title: str, note: str | None = None):
    from viz.figure import new_figure

    w, h = size
    fig = new_figure(size, th)
    fig.text(0.02, 0.96, title, fontsize=14, fontweight="bold", color=th.foreground, va="center")
    if note:
        fig.text(0.02, 0.925, note, fontsize=9.5, color=th.muted, style="italic")
    ax = _axes(fig, th, (0, w), (h, 0))
    right, left = star_rows(g, hub)
    top, bottom = 1.05, h - 0.35
    hx, hy = w / 2, (top + bottom) / 2
    rows = max(len(right), len(left))
    step = (bottom - top) / rows
    peer_fs = 11 if rows <= 4 else 9.5
    # Peers and their labels are aligned on the side facing the hub, and each line
    # ends at that side, so no line crosses a label.
    pad = 0.35 * peer_fs / 72
    for column, x, ha, sign in ((right, w - 3.5, "left", -1), (left, 3.5, "right", 1)):
        for i, peer in enumerate(column):
            y = top + step * (i + 0.5) - 0.15
            e = g.edges[hub, peer]
            lw = 1.0 + min(5.0, len(e["streams"]) ** 0.5)
            ax.plot([hx, x + sign * pad], [hy, y], color=th.control, lw=lw, solid_capstyle="butt", zorder=1)
            ax.text(x, y, peer, fontsize=peer_fs, ha=ha, va="center", fontweight="bold", color=th.foreground,
                    zorder=4, bbox=dict(boxstyle="round,pad=0.35", facecolor=th.fills[2], edgecolor=th.foreground,
                                        linewidth=1.2))
            head, detail = star_label(g, hub, peer)
            ax.text(x, y + 0.2, f"{head}\n{detail}", fontsize=8.5, ha=ha, va="top", color=th.foreground,
                    zorder=3, linespacing=1.15)
    ax.text(hx, hy, hub, fontsize=12, ha="center", va="center", fontweight="bold", color=th.foreground, zorder=4,
            bbox=dict(boxstyle="round,pad=0.5", facecolor=th.fills[0], edgecolor=th.foreground, linewidth=1.5))
    return fig


def draw_topology(g, pos: dict, meta: dict, th, size):
    from viz.figure import new_figure

    fig = new_figure(size, th)
    fig.text(0.02, 0.96, f"Test network of the trace ({meta.get('scenario', 'capture')}); capture point: "
             f"{meta.get('capture_point', '?')}", fontsize=14, fontweight="bold", color=th.foreground, va="center")
    n = max(1, len(pos) - 1)
    ax = _axes(fig, th, (-0.6, n + 0.6), (-1.2, 1.0))
    here = captured_here(g, meta)
    for a, b, e in sorted(g.edges(data=True)):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        ax.plot([x1, x2], [y1, y2], color=th.foreground, lw=2.5 if e["captured"] else 1.5,
                ls="-" if e["captured"] else (0, (5, 3)), zorder=1)
        if e["captured"]:
            mine = (a, b) in here
            ax.text((x1 + x2) / 2, y1 + 0.12, "captured here" if mine else "captured (the other file)",
                    fontsize=10, ha="center", va="bottom", style="italic", color=th.foreground if mine else th.muted,
                    bbox=dict(boxstyle="round,pad=0.2", facecolor=th.background,
                              edgecolor=th.muted if mine else th.background))
    # Interface labels sit under their host: centred for one link, toward each link for two.
    for host in g.nodes:
        hx = pos[host][0]
        links = sorted(g.edges(host, data=True), key=lambda t: pos[t[1]][0])
        for _, other, e in links:
            side = 0 if len(links) == 1 else (1 if pos[other][0] > hx else -1)
            ax.text(hx + side * 0.03, -0.25, iface_text(g, host, e["ifaces"][host]), fontsize=9.5,
                    ha={0: "center", 1: "left", -1: "right"}[side], va="top", family="monospace",
                    color=th.foreground, multialignment="left")
    for host, (x, y) in pos.items():
        role = g.nodes[host].get("role") or "host"
        ax.text(x, y, f"{host}\n({role})", fontsize=13, ha="center", va="center", fontweight="bold",
                color=th.foreground, zorder=3,
                bbox=dict(boxstyle="round,pad=0.6", facecolor=th.fills[2], edgecolor=th.foreground, linewidth=1.5))
    return fig
