"""pcapng writer: the capture file format of captures/README.md.

One section: a Section Header Block whose opt_comment is `synack-capture/1`,
a newline and the metadata JSON; one Interface Description Block per capture
interface (nanosecond timestamps, if_tsresol=9); one Enhanced Packet Block
per frame, with one opt_comment per socket call that caused it.  Written
through viz.output (temporary file renamed into place, regular files only), so
a failed or interrupted run never leaves a truncated file under the final name.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from viz.metadata import CONTINUED, split_comments
from viz.metadata import NAME as SCHEMA
LINKTYPE_ETHERNET = 1

SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT, OPT_COMMENT = 0, 1
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9


@dataclass(frozen=True)
class CaptureInterface:
    name: str
    description: str = ""
    linktype: int = LINKTYPE_ETHERNET
    snaplen: int = 262144


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(opts: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(_option(c, v) for c, v in opts)
    return body + struct.pack("<HH", OPT_ENDOFOPT, 0) if body else b""


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


MAX_OPTION = 65000  # an option's length is 16 bits


def metadata_comments(metadata: dict[str, Any]) -> list[bytes]:
    """The metadata as SHB comments (viz.metadata.split_comments: one schema module)."""
    return split_comments(metadata, MAX_OPTION)


def section_header(metadata: dict[str, Any], application: str) -> bytes:
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    opts = [(OPT_COMMENT, c) for c in metadata_comments(metadata)]
    body += _options(opts + [(SHB_USERAPPL, application.encode())])
    return _block(SHB, body)


def interface_description(iface: CaptureInterface) -> bytes:
    opts = [(IF_NAME, iface.name.encode())]
    if iface.description:
        opts.append((IF_DESCRIPTION, iface.description.encode()))
    opts.append((IF_TSRESOL, bytes([9])))
    body = struct.pack("<HHI", iface.linktype, 0, iface.snaplen) + _options(opts)
    return _block(IDB, body)


def enhanced_packet(ts_ns: int, data: bytes, comments: Sequence[str] = (), interface: int = 0) -> bytes:
    head = struct.pack("<IIIII", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), len(data))
    opts = _options((OPT_COMMENT, c.encode()[:MAX_OPTION]) for c in comments) if comments else b""
    return _block(EPB, head + _pad(data) + opts)


def write(path: str, frames: Sequence[tuple[int, bytes]], metadata: dict[str, Any],
          interfaces: Sequence[CaptureInterface], comments: dict[int, list[str]] | None = None,
          application: str = "synack") -> str:
    """Write the capture atomically; return the final path.

    `frames` are (ns timestamp, frame bytes[, interface index]); `comments`
    maps a frame index (0-based) to its comment lines.
    """
    from viz import output

    comments = comments or {}
    with output.open_atomic(path, "wb", buffering=1 << 20) as f:
        f.write(section_header(metadata, application))
        for iface in interfaces:
            f.write(interface_description(iface))
        for i, frame in enumerate(frames):
            ts, data = frame[0], frame[1]
            ifidx = frame[2] if len(frame) > 2 else 0
            f.write(enhanced_packet(ts, data, comments.get(i, ()), ifidx))
    return path


def check_writable(path: str) -> str:
    """Fail before anything runs if `path` may not be written (viz.output's rules); return it absolute."""
    from viz import output

    return output.check(path, make_dirs=True)
