"""`synack layers`: one real frame as nested boxes, stack build-up, header fields, hex."""
from __future__ import annotations

import argparse
from pathlib import Path

from viz.errors import SynackError
from viz import figure

VIEWS = ("nested", "stack", "fields", "hex", "all")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "layers",
        help="draw one frame's encapsulation: nested boxes, stack, header fields, hex",
        description="Draw one captured frame layer by layer, with its real values and sizes: "
        "nested boxes (Ethernet > IP > TCP/UDP > data, byte offsets and overhead), the textbook "
        "stack build-up (data, segment, datagram, frame), RFC-style 32-bit header grids, and a hex "
        "dump shaded by layer. Without -o the views are printed as text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack layers captures/tcp-echo.pcapng --frame 1\n"
        "  synack layers captures/tcp-echo.pcapng --frame 4 --view fields -o get.svg\n"
        "  synack layers client.pcapng --frame 4 --compare server.pcapng   # what a router changed",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    p.add_argument("--frame", "-f", type=int, required=True, metavar="N", help="frame number (1-based, as in Wireshark)")
    p.add_argument("--view", default="nested", metavar="VIEW",
                   help="nested | stack | fields | hex | all (default: nested); with -o and 'all', "
                   "one file per view named OUT-VIEW.EXT")
    p.add_argument("-o", "--output", metavar="OUT", help="write a figure (.svg .pdf .png .pgf) instead of text")
    figure.add_theme_argument(p)
    p.add_argument("--size", metavar="WxH", help="figure size in inches (default: fitted to the view)")
    p.add_argument("--hex-rows", type=int, default=None, metavar="N",
                   help="rows of 16 bytes the hex figure draws (default 24, a slide's worth; "
                   "0 = the whole frame, for print); the text view always lists every byte")
    p.add_argument("--compare", metavar="OTHER", help="a second capture holding the same segment "
                   "(e.g. the other side of a router): draw both, differing fields marked")
    p.add_argument("--other-frame", type=int, metavar="M", help="frame in OTHER (default: the frame "
                   "with the same addresses, ports, sequence numbers and payload)")
    p.set_defaults(run=run)


def load_frame(path: str, number: int):
    """The RawFrame numbered `number`, or a SynackError naming the file and the range."""
    from viz.capture import open_capture

    if number < 1:
        raise SynackError(f"{path}: frame {number} out of range (frames are numbered from 1)")
    count = 0
    with open_capture(path) as cap:
        for fr in cap:
            count = fr.number
            if fr.number == number:
                return fr
    raise SynackError(f"{path}: frame {number} out of range (the capture has {count} frames)")


def safe_dissect(fr):
    """Any frame can be drawn: bytes the walk cannot follow become one raw box with a note."""
    from viz.headers import Dissection, Layer, dissect

    try:
        return dissect(fr.linktype, fr.data, fr.wire_len)
    except Exception as exc:  # a decoder bug must not hide the bytes
        lay = Layer("raw", "Undecoded bytes", 0, len(fr.data), -1, note="not decoded")
        return Dissection(fr.linktype, str(fr.linktype), len(fr.data), fr.wire_len, fr.data, (lay,),
                          (f"frame could not be decoded ({type(exc).__name__}: {exc}); bytes shown raw",))


def packet_for(path: str, number: int):
    """The analysis' view of the frame (relative seq/ack), or None without the analysis."""
    try:
        from viz.analysis import analyze
    except ImportError:
        return None
    from viz.capture import open_capture

    with open_capture(path) as cap:
        an = analyze(cap, path=path)
    return an.packet(number) if 0 < number <= len(an.packets) else None


def _identity(d):
    """What a router keeps: addresses, ports, sequence numbers, flags and payload."""
    from viz.headers import HEADERS

    ident = []
    for lay in d.headers:
        if lay.key in ("ipv4", "ipv6"):
            ident += [lay.key, lay.value("Source Address"), lay.value("Destination Address")]
        elif lay.key in ("tcp", "udp", "icmp", "icmpv6"):
            skip = ("Checksum",)
            ident += [lay.key] + [f.raw for f in lay.fields if f.name not in skip]
    data = b"".join(d.data[lay.offset:lay.offset + lay.length] for lay in d.layers if lay.key == "data")
    return tuple(ident) + (data,) if any(k in HEADERS for k in ident if isinstance(k, str)) else None


def match_frame(d, other_path: str):
    from viz.capture import open_capture

    want = _identity(d)
    if want is None:
        raise SynackError(f"{other_path}: frame has no IP header to match; give --other-frame")
    with open_capture(other_path) as cap:
        for fr in cap:
            od = safe_dissect(fr)
            if _identity(od) == want:
                return fr.number, od
    raise SynackError(f"{other_path}: no frame carries the same segment (addresses, ports, "
                      f"sequence numbers, payload); give --other-frame")


def run(args) -> int:
    from viz import layers
    from viz.figure import check_output, parse_size, theme

    view = args.view.lower()
    if view not in VIEWS:
        raise SynackError(f"--view {args.view!r}: unknown view (choose from {', '.join(VIEWS)})")
    th = theme(args.theme)
    size = parse_size(args.size) if args.size else None
    if args.output:
        check_output(args.output)
    if not Path(args.capture).exists():
        raise SynackError(f"{args.capture}: no such file")
    fr = load_frame(args.capture, args.frame)
    d = safe_dissect(fr)
    pkt = packet_for(args.capture, args.frame)

    if args.compare:
        if not Path(args.compare).exists():
            raise SynackError(f"{args.compare}: no such file")
        if args.other_frame:
            ofr = load_frame(args.compare, args.other_frame)
            onum, od = ofr.number, safe_dissect(ofr)
        else:
            onum, od = match_frame(d, args.compare)
        opkt = packet_for(args.compare, onum)
        name_a = f"{Path(args.capture).name} #{args.frame}"
        name_b = f"{Path(args.compare).name} #{onum}"
        if not args.output:
            from viz import layers_text

            print(layers_text.compare(layers.compare(d, od), name_a, name_b), end="")
            return 0
        from viz import layers_mpl
        from viz.figure import save

        fig = layers_mpl.compare_figure(layers.nested(d, pkt, args.frame), layers.nested(od, opkt, onum),
                                        layers.compare(d, od), name_a, name_b, th, size)
        save(fig, args.output)
        print(args.output)
        return 0

    views = ("nested", "stack", "fields", "hex") if view == "all" else (view,)
    if not args.output:
        print(text(d, pkt, args.frame, views), end="")
        return 0
    from viz import layers_mpl
    from viz.figure import save

    out = Path(args.output)
    for v in views:
        target = out if len(views) == 1 else out.with_name(f"{out.stem}-{v}{out.suffix}")
        save(layers_mpl.figure(v, d, pkt, args.frame, th, size, hex_rows=args.hex_rows), target)
        print(target)
    return 0


def text(d, pkt, frame: int, views) -> str:
    from viz import layers, layers_text

    parts = []
    for v in views:
        if v == "nested":
            parts.append(layers_text.nested(layers.nested(d, pkt, frame)))
        elif v == "stack":
            parts.append(layers_text.stack(layers.stack(d)))
        elif v == "fields":
            parts.append(layers_text.fields(layers.fields(d)))
        else:
            parts.append(layers_text.hexdump(layers.hexdump(d)))
    return "\n".join(parts)
