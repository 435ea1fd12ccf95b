"""One frame of a capture file: found by number, dissected whatever its bytes, found again in
another capture (the other side of a router).  Used by the layers figure and by playback."""
from __future__ import annotations

from viz.errors import SynackError


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
    """(number, dissection) of the frame in `other_path` carrying the same segment as `d`."""
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
