"""Streaming reader for pcap and pcapng files, without scapy.

The reader reads the file in large chunks and walks the records with
precompiled `struct` unpackers, so memory stays flat however long the file is
and the per-frame cost is a slice and a tuple: the analysis of a million-frame
lab capture is bounded by decoding, not by reading.  Every way a file can be
damaged becomes a `SynackError` naming the file and the byte offset (and the
frame number when a record is at fault); `partial=True` turns a damaged tail
into `Capture.truncated_at` so the valid prefix can still be analysed.
"""
from __future__ import annotations

import os
import struct
from typing import Iterator, NamedTuple

from viz.errors import SynackError
from viz.linktypes import link_type_name
from viz.metadata import NAME as META_FIRST_LINE
from viz.metadata import join_comments as join_meta_parts

CHUNK = 1 << 17  # fits in L2: measured faster than 1 MiB chunks here
PCAP_READ = 1 << 25  # bytes per read for FrameChunks (frames are not copied out of it)
MAX_RECORD = 1 << 28  # 256 MiB: larger than any link-layer frame; bigger means garbage
DEFAULT_SNAPLEN = 262144  # libpcap's maximum, used when a header says 0

PCAP_MAGIC = {
    # magic bytes as stored -> (byte order, fraction units per second, record header length)
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1_000_000, 24),  # Kuznetzov's "modified" pcap
    b"\xa1\xb2\xcd\x34": (">", 1_000_000, 24),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
SHB_TYPE = 0x0A0D0D0A
IDB_TYPE, OPB_TYPE, SPB_TYPE, EPB_TYPE = 1, 2, 3, 6
OPT_COMMENT = 1
IF_NAME, IF_TSRESOL, IF_TSOFFSET = 2, 9, 14


class RawFrame(NamedTuple):
    """One captured frame as stored: what the decoder and the analysis start from.

    A NamedTuple (built with tuple.__new__) because it is the cheapest object
    Python can hand out a million times a second.
    """

    number: int  # 1-based over all frames of the file
    ts: float  # epoch seconds
    linktype: int  # LINKTYPE_ value of its interface
    data: bytes  # captured bytes (may be shorter than wire_len)
    wire_len: int  # length on the wire
    interface: int  # index into Capture.interfaces
    comments: tuple  # opt_comment strings of the packet block (pcapng)


class Interface(NamedTuple):
    linktype: int
    name: str | None
    snaplen: int
    tsresol: int  # timestamp units per second
    tsoffset: int = 0  # seconds added to every timestamp (if_tsoffset)

    @property
    def link_type_name(self) -> str:
        return link_type_name(self.linktype)


_new = tuple.__new__


class FrameChunk:
    """Consecutive frames as columns: frame i is buf[data[i]:data[i] + caplen[i]].

    numpy int64 arrays `data`, `caplen`, `wire`, `linktype` and float64 `ts`
    (epoch seconds, computed as iteration computes them); `first` is the
    number of the first frame.
    """

    __slots__ = ("first", "buf", "data", "caplen", "wire", "ts", "linktype", "n")

    def __init__(self, first, buf, data, caplen, wire, ts, linktype):
        self.first = first
        self.buf = buf
        self.data = data
        self.caplen = caplen
        self.wire = wire
        self.ts = ts
        self.linktype = linktype
        self.n = len(data)

    def frame_bytes(self, i: int) -> bytes:
        o = int(self.data[i])
        return bytes(self.buf[o:o + int(self.caplen[i])])

    @classmethod
    def of_frames(cls, frames: list, first: int, np) -> "FrameChunk":
        datas = [r[3] for r in frames]
        caplen = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
        data = np.zeros(len(datas), dtype=np.int64)
        np.cumsum(caplen[:-1], out=data[1:])
        return cls(first, b"".join(datas), data, caplen,
                   np.array([r[4] for r in frames], dtype=np.int64),
                   np.array([r[1] for r in frames], dtype=np.float64),
                   np.array([r[2] for r in frames], dtype=np.int64))


def forked_chunks(cap: "Capture", fn, slots: int = 2):
    """`fn(chunk)` for every FrameChunk of a pcap file, computed ahead in a forked
    child process; the caller gets the results in order.

    Reading and decoding (the record walk and the per-chunk numpy decode) then
    run on the other CPU while this process analyses the previous chunk: two
    processes because the walk is Python and would hold the GIL against the
    analysis.  Results travel as pickles through `slots` memory files
    (memfd; a pipe's 64 KiB buffer would cost a context switch per 64 KiB),
    announced on one pipe and handed back on another, so the child runs at
    most `slots` chunks ahead.  Errors are the reader's own (`SynackError`,
    raised here); `truncated_at`, `frames_read` and what a pcapng file
    declares while it is read (interfaces, section comments, metadata) come
    back to `cap`.  The child is killed and reaped however the iteration ends.
    Without fork or memfd the chunks are mapped in this process.
    """
    if not hasattr(os, "fork") or not hasattr(os, "memfd_create"):
        for ch in cap.chunks():
            yield fn(ch)
        return
    import pickle
    import signal
    fds = [os.memfd_create(f"synack-chunk-{i}") for i in range(slots)]
    ctl_r, ctl_w = os.pipe()
    free_r, free_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(ctl_r)
            os.close(free_w)
            with open(ctl_w, "wb", buffering=0) as ctl:
                def send(msg):
                    ctl.write(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))
                free = list(range(slots))
                try:
                    for ch in cap.chunks():
                        data = pickle.dumps(fn(ch), protocol=pickle.HIGHEST_PROTOCOL)
                        del ch
                        if not free:
                            got = os.read(free_r, 1)
                            if not got:
                                raise EOFError
                            free.append(got[0])
                        slot = free.pop()
                        view = memoryview(data)
                        done = 0
                        while done < len(data):
                            done += os.pwrite(fds[slot], view[done:], done)
                        send(("chunk", slot, len(data)))
                    msg = ("end", cap.truncated_at, cap.frames_read, cap.interfaces,
                           cap.section_comments, cap.meta)
                except SynackError as exc:
                    msg = ("error", str(exc))
                except Exception as exc:  # a bug: the parent reports it
                    import traceback
                    msg = ("crash", "".join(traceback.format_exception(exc)))
                send(msg)
        except BaseException:  # the parent went away, or Ctrl-C
            code = 1
        finally:
            os._exit(code)
    os.close(ctl_w)
    os.close(free_r)
    try:
        with open(ctl_r, "rb") as ctl:
            while True:
                try:
                    msg = pickle.load(ctl)
                except EOFError:
                    raise SynackError(f"{cap.path}: the reading process ended early") from None
                if msg[0] == "chunk":
                    _kind, slot, size = msg
                    parts = []
                    got = 0
                    while got < size:
                        part = os.pread(fds[slot], size - got, got)
                        if not part:
                            raise SynackError(f"{cap.path}: the reading process ended early")
                        parts.append(part)
                        got += len(part)
                    try:
                        os.write(free_w, bytes((slot,)))
                    except BrokenPipeError:  # the child has read everything already
                        pass
                    yield pickle.loads(parts[0] if len(parts) == 1 else b"".join(parts))
                elif msg[0] == "end":
                    (cap.truncated_at, cap.frames_read, cap.interfaces, cap.section_comments,
                     cap.meta) = msg[1:]
                    return
                elif msg[0] == "error":
                    raise SynackError(msg[1])
                else:
                    raise RuntimeError("reading process failed:\n" + msg[1])
    finally:
        try:
            os.kill(pid, signal.SIGKILL)  # harmless once it has exited (a zombie)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(free_w)
        for fd in fds:
            os.close(fd)


class Forked:
    """`fn()` computed in a forked child process while the caller goes on (a figure
    imports matplotlib while its capture is read and analysed: two CPUs, and no GIL
    between them); `result()` waits for it.  The result comes back as a pickle in a
    memory file; a `SynackError` is raised again here, any other failure of the child
    as a RuntimeError with its traceback.  The child is killed and reaped however the
    caller ends (`close()`, or use it as a context manager).  Without fork or memfd
    `fn` runs when the result is asked for."""

    def __init__(self, fn):
        self.fn = fn
        self.pid = None
        self.fd = None
        if not hasattr(os, "fork") or not hasattr(os, "memfd_create"):
            return
        import pickle
        self.fd = os.memfd_create("synack-result")
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            code = 1
            try:
                try:
                    msg = ("ok", fn())
                except SynackError as exc:
                    msg = ("error", str(exc))
                except Exception as exc:  # a bug: the parent reports it
                    import traceback
                    msg = ("crash", "".join(traceback.format_exception(exc)))
                view = memoryview(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))
                done = 0
                while done < len(view):
                    done += os.pwrite(self.fd, view[done:], done)
                code = 0
            except BaseException:  # Ctrl-C
                pass
            finally:
                os._exit(code)

    def __enter__(self) -> "Forked":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def result(self):
        if self.fd is None:
            return self.fn()
        import pickle
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        size = os.fstat(self.fd).st_size
        if status != 0 or not size:
            raise SynackError("the reading process ended early")
        parts, got = [], 0
        while got < size:
            part = os.pread(self.fd, size - got, got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        kind, value = pickle.loads(b"".join(parts))
        self.close()
        if kind == "error":
            raise SynackError(value)
        if kind == "crash":
            raise RuntimeError("reading process failed:\n" + value)
        return value

    def close(self) -> None:
        if self.pid is not None:
            import signal
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_SPOOLS: dict[str, object] = {}
MAX_SPOOL = 2 << 30  # bytes of standard input kept for reading (`--max-spool`)


def check_magic(path: str, head: bytes) -> None:
    """Refuse, from its first bytes, what is not a pcap or pcapng capture."""
    if not head:
        raise SynackError(f"{path}: empty file, not a pcap or pcapng capture")
    magic = head[:4]
    if magic in PCAP_MAGIC or magic == PCAPNG_SHB or (len(magic) < 4 and any(
            m.startswith(magic) for m in (*PCAP_MAGIC, PCAPNG_SHB))):
        return
    if magic[:2] == b"\x1f\x8b":
        raise SynackError(f"{path}: gzip-compressed file; decompress it first (gunzip)")
    raise SynackError(f"{path}: byte 0: not a pcap or pcapng file (magic {magic.hex()})")


def _reopen(spool) -> object:
    """A new open file (its own offset) on the spool, which has no name to open."""
    try:
        return open(f"/proc/self/fd/{spool.fileno()}", "rb")
    except OSError:
        return os.fdopen(os.dup(spool.fileno()), "rb")


def _open_file(path: str):
    """A regular file is opened as it is.  A pipe or terminal (`tcpdump -w - |
    synack analyze -`) is first copied once to a temporary file: the reader maps
    and seeks, and some commands read a capture twice.  Its first bytes must be a
    capture's before anything is copied (`cat /dev/zero | synack analyze -` stops
    at once), the copy stops with an error past MAX_SPOOL, and the file has no
    name (O_TMPFILE), so no exit, not even SIGKILL, leaves it behind."""
    if path in _SPOOLS:
        return _reopen(_SPOOLS[path])
    f = open(path, "rb")
    import stat
    if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        return f
    import tempfile
    with f:
        head = f.read(4)
        while head and len(head) < 4:
            more = f.read(4 - len(head))
            if not more:
                break
            head += more
        check_magic(path, head)
        spool = tempfile.TemporaryFile(prefix="synack-stdin-")
        try:
            spool.write(head)
            size = len(head)
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_SPOOL:
                    raise SynackError(f"{path}: standard input is longer than the spool limit of "
                                      f"{MAX_SPOOL} bytes; raise it with --max-spool SIZE or write "
                                      "the capture to a file")
                spool.write(chunk)
            spool.flush()
        except BaseException:
            spool.close()
            raise
    _SPOOLS[path] = spool
    return _reopen(spool)


def open_capture(path, partial: bool = False) -> "Capture":
    """Open a pcap or pcapng file for streaming; raises SynackError if it is not one."""
    return Capture(path, partial)


class Capture:
    """An open capture file: header facts plus iteration over `RawFrame`s.

    For pcapng, `interfaces`, `link_types` and `section_comments` hold what
    precedes the first packet block after opening and are complete once the
    frames have been iterated (interface blocks may appear anywhere).
    `RawFrame.interface` indexes `interfaces` over the whole file (sections
    append to it).  Each `iter()` restarts from the first frame; two
    iterations must not be interleaved (they share one file handle).
    """

    def __init__(self, path, partial: bool = False):
        self.path = os.fspath(path)
        if self.path == "-":
            self.path = "/dev/stdin"
        self.partial = partial
        self.interfaces: list[Interface] = []
        self.section_comments: list[str] = []
        self.meta: dict = {}
        self.truncated_at: str | None = None
        self.frames_read = 0
        self._iface_at: dict[int, int] = {}  # IDB file offset -> index in interfaces
        self._shb_seen: set[int] = set()
        try:
            self._file = _open_file(self.path)
        except OSError as exc:
            raise SynackError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._open()
        except BaseException:
            self._file.close()
            raise

    # -- context manager -------------------------------------------------
    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def link_types(self) -> tuple[str, ...]:
        names: list[str] = []
        for iface in self.interfaces:
            name = link_type_name(iface.linktype)
            if name not in names:
                names.append(name)
        return tuple(names)

    @property
    def format(self) -> str:
        return self._format

    def _fail(self, offset: int, msg: str, frame: int | None = None) -> None:
        where = f"frame {frame} at byte {offset}" if frame is not None else f"byte {offset}"
        raise SynackError(f"{self.path}: {where}: {msg}")

    def _bad_record(self, frame: int, offset: int, msg: str) -> None:
        """A damaged record: raise, or with partial=True remember where reading stopped."""
        text = f"frame {frame} at byte {offset}: {msg}"
        if self.partial:
            self.truncated_at = text
            return
        hint = f" (the {frame - 1} frames before it can be read with --partial)" if frame > 1 else ""
        raise SynackError(f"{self.path}: {text}{hint}")

    # -- header ------------------------------------------------------------
    def _open(self) -> None:
        head = self._file.read(24)
        check_magic(self.path, head)
        magic = head[:4]
        if magic in PCAP_MAGIC:
            self._format = "pcap"
            endian, units, hlen = PCAP_MAGIC[magic]
            if len(head) < 24:
                self._fail(len(head), f"truncated pcap file header ({len(head)} of 24 bytes)")
            major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(endian + "HHiIII", head[4:24])
            if major != 2:
                self._fail(4, f"unsupported pcap version {major}.{minor}")
            linktype = network & 0xFFFF
            self.interfaces.append(Interface(linktype, None, snaplen, units))
            self._pcap = (endian, units, hlen)
            self._start = 24
        elif magic == PCAPNG_SHB:
            self._format = "pcapng"
            self._start = 0
            self._preread_pcapng()
        else:
            self._fail(len(head), f"truncated file header ({len(head)} bytes)")

    def __iter__(self) -> Iterator[RawFrame]:
        self.truncated_at = None
        self._file.seek(self._start)
        if self._format == "pcap":
            return self._iter_pcap()
        return self._iter_pcapng(False)

    def chunks(self, batch: int = 16384) -> Iterator["FrameChunk"]:
        """The frames as `FrameChunk`s: numpy columns over one shared buffer.

        The same frames, numbers, times and errors as iteration; for classic
        pcap the record walk is the only per-frame Python (no bytes object or
        tuple per frame), which is what lets `viz.vector` export a million
        frames in a few seconds.  In pcapng, runs of enhanced packet blocks are
        walked the same way (`_epb_run`); a file that cannot be mapped is
        batched from the ordinary iterator.
        """
        self.truncated_at = None
        self._file.seek(self._start)
        mm = self._mmap()
        if mm is not None:
            if self._format == "pcap":
                yield from self._chunks_pcap_mmap(mm)
            else:
                yield from self._iter_pcapng(False, mm)
            return
        import numpy as np
        frames: list = []
        first = 1
        for raw in self._iter_pcap() if self._format == "pcap" else self._iter_pcapng(False):
            frames.append(raw)
            if len(frames) >= batch:
                yield FrameChunk.of_frames(frames, first, np)
                first += len(frames)
                frames = []
        if frames:
            yield FrameChunk.of_frames(frames, first, np)

    def _mmap(self):
        """A read-only map of the file, or None where it cannot be mapped (a
        pipe, a file system without mmap): those are read frame by frame."""
        import mmap
        try:
            return mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None

    def _chunks_pcap_mmap(self, mm) -> Iterator["FrameChunk"]:
        """The record walk straight over the mapped file.  Pages of a finished
        chunk are dropped from the mapping (madvise DONTNEED) so the resident
        size stays one chunk however large the file; the page cache keeps them."""
        import mmap

        import numpy as np
        endian, units, hlen = self._pcap
        linktype = self.interfaces[0].linktype
        snap = self.interfaces[0].snaplen if 0 < self.interfaces[0].snaplen else DEFAULT_SNAPLEN
        snap = min(snap, MAX_RECORD)
        u_incl = struct.Struct(endian + "I").unpack_from
        u_rec = struct.Struct(endian + "8xI").unpack_from
        scale = 1.0 / units
        size = min(self._size, len(mm))
        page = mmap.PAGESIZE
        dontneed = getattr(mmap, "MADV_DONTNEED", None)
        u8 = np.frombuffer(mm, dtype=np.uint8)
        dt = np.dtype(endian + "u4")
        ar16 = np.arange(16, dtype=np.int64)
        pos = self._start
        released = 0
        n = 0
        while True:
            limit = min(pos + PCAP_READ, size)
            offs: list[int] = []
            ap = offs.append
            try:
                while True:
                    stop = pos + hlen + u_rec(mm, pos)[0]
                    if stop > limit:
                        break
                    ap(pos)
                    pos = stop
            except struct.error:  # fewer than 12 bytes left: the header is incomplete
                pass
            if offs:
                o = np.array(offs, dtype=np.int64)
                hdr = u8[o[:, None] + ar16].view(dt).reshape(len(offs), 4).astype(np.int64)
                big = np.flatnonzero(hdr[:, 2] > snap)
                if len(big):  # stop before the first oversized record; reported below
                    k = int(big[0])
                    pos = offs[k]
                    o, hdr = o[:k], hdr[:k]
                if len(o):
                    ts = hdr[:, 0].astype(np.float64) + hdr[:, 1].astype(np.float64) * scale
                    yield FrameChunk(n + 1, mm, o + hlen, hdr[:, 2], hdr[:, 3], ts,
                                     np.full(len(o), linktype, dtype=np.int64))
                    n += len(o)
                    done = int(o[-1]) // page * page
                    if dontneed is not None and done > released:
                        mm.madvise(dontneed, released, done - released)
                        released = done
            if pos >= size:
                break
            if pos + hlen > size:
                self._bad_record(n + 1, pos, f"truncated record header ({size - pos} of {hlen} "
                                 "bytes at end of file)")
                break
            incl = u_incl(mm, pos + 8)[0]
            if incl > snap:
                self._bad_record(n + 1, pos, f"record length {incl} exceeds snaplen {snap}")
                break
            left = size - (pos + hlen)
            if incl > left:
                self._bad_record(n + 1, pos, f"record length {incl} runs past the end of the file "
                                 f"({max(left, 0)} bytes left)")
                break
            if not offs:  # one record longer than PCAP_READ
                limit = pos + hlen + incl
                o = np.array([pos], dtype=np.int64)
                hdr = u8[o[:, None] + ar16].view(dt).reshape(1, 4).astype(np.int64)
                ts = hdr[:, 0].astype(np.float64) + hdr[:, 1].astype(np.float64) * scale
                yield FrameChunk(n + 1, mm, o + hlen, hdr[:, 2], hdr[:, 3], ts,
                                 np.full(1, linktype, dtype=np.int64))
                n += 1
                pos = limit
        self.frames_read = n

    def _preread_pcapng(self) -> None:
        """Read the blocks before the first packet: interfaces, comments, metadata."""
        self._file.seek(0)
        for _ in self._iter_pcapng(True):
            break
        if not self._shb_seen:
            raise SynackError(f"{self.path}: byte 0: truncated pcapng section header")

    # -- pcap --------------------------------------------------------------
    def _iter_pcap(self) -> Iterator[RawFrame]:
        endian, units, hlen = self._pcap
        iface = self.interfaces[0]
        linktype = iface.linktype
        snap = iface.snaplen if 0 < iface.snaplen else DEFAULT_SNAPLEN
        snap = min(snap, MAX_RECORD)
        unpack = struct.Struct(endian + "IIII" + ("8x" if hlen == 24 else "")).unpack_from
        scale = 1.0 / units
        read = self._file.read
        size = self._size
        buf = b""
        base = self._start  # file offset of buf[0]
        pos = end = 0
        n = 0
        comments = ()
        new = _new
        Frame = RawFrame
        while True:
            if pos + hlen <= end:
                sec, frac, incl, orig = unpack(buf, pos)
                stop = pos + hlen + incl
                if stop <= end and incl <= snap:
                    n += 1
                    yield new(Frame, (n, sec + frac * scale, linktype, buf[pos + hlen:stop], orig, 0, comments))
                    pos = stop
                    continue
                if incl > snap:
                    self._bad_record(n + 1, base + pos,
                                     f"record length {incl} exceeds snaplen {snap}")
                    break
                left = size - (base + pos + hlen)
                if incl > left:
                    self._bad_record(n + 1, base + pos,
                                     f"record length {incl} runs past the end of the file "
                                     f"({max(left, 0)} bytes left)")
                    break
                more = read(max(CHUNK, stop - end))
            else:
                more = read(CHUNK)
                if not more:
                    if pos != end:
                        self._bad_record(n + 1, base + pos,
                                         f"truncated record header ({end - pos} of {hlen} bytes at end of file)")
                    break
            if not more:
                self._bad_record(n + 1, base + pos, "file shrank while reading")
                break
            buf = buf[pos:] + more
            base += pos
            pos = 0
            end = len(buf)
        self.frames_read = n

    # -- pcapng ------------------------------------------------------------
    def _iter_pcapng(self, header_only: bool, mm=None) -> Iterator:
        """RawFrames, or with `mm` (the mapped file) FrameChunks: each run of
        enhanced packet blocks is walked and checked as one numpy chunk
        (`_epb_run`), and any other block, or a packet block the run stopped
        at, goes through the same per-block code as iteration, so both report
        the same frames and the same errors."""
        size = self._size
        if mm is None:
            read = self._file.read
            buf = b""
            end = 0
        else:
            import numpy as np
            read = _no_more
            buf = mm
            size = end = min(size, len(mm))
            u8 = np.frombuffer(mm, dtype=np.uint8)
            self._released = 0
        base = 0
        pos = 0
        n = 0
        new = _new
        Frame = RawFrame
        endian = "<"
        u2 = struct.Struct("<II").unpack_from
        u1 = struct.Struct("<I").unpack_from
        epb = struct.Struct("<IIIII").unpack_from
        opb = struct.Struct("<HHIIII").unpack_from
        section: list[tuple] = []  # per-section interface id -> (global index, linktype, snap, scale, offset)
        last_ts = 0.0
        while True:
            if end - pos < 12:
                more = read(CHUNK)
                if more:
                    buf = buf[pos:] + more
                    base += pos
                    pos = 0
                    end = len(buf)
                    continue
                if pos != end:
                    self._bad_block(n + 1, base + pos,
                                    f"truncated block header ({end - pos} bytes at end of file)",
                                    header_only)
                break
            off = base + pos
            btype = u1(buf, pos)[0]
            if btype == SHB_TYPE:
                bom = buf[pos + 8:pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._bad_block(n + 1, off, f"section header with bad byte-order magic {bom.hex()}",
                                    header_only)
                    break
                u2 = struct.Struct(endian + "II").unpack_from
                u1 = struct.Struct(endian + "I").unpack_from
                epb = struct.Struct(endian + "IIIII").unpack_from
                opb = struct.Struct(endian + "HHIIII").unpack_from
            blen = u2(buf, pos)[1]
            if blen < 12 or blen % 4:
                self._bad_block(n + 1, off, f"bad block length {blen} (block type 0x{btype:x})", header_only)
                break
            if blen > size - off:
                self._bad_block(n + 1, off, f"block length {blen} runs past the end of the file "
                                f"({size - off} bytes left)", header_only)
                break
            stop = pos + blen
            if stop > end:
                more = read(max(CHUNK, stop - end))
                if not more:
                    self._bad_block(n + 1, off, "file shrank while reading", header_only)
                    break
                buf = buf[pos:] + more
                base += pos
                pos = 0
                end = len(buf)
                continue
            if u1(buf, stop - 4)[0] != blen:
                self._bad_block(n + 1, off, f"block length {blen} does not match its trailer "
                                f"{u1(buf, stop - 4)[0]}", header_only)
                break
            if mm is not None and btype == EPB_TYPE:
                chunk, nxt = self._epb_run(mm, u8, pos, size, section, endian, n + 1)
                if chunk is not None:
                    n += chunk.n
                    last_ts = float(chunk.ts[-1])
                    yield chunk
                    pos = nxt
                    continue
            if btype == EPB_TYPE or btype == OPB_TYPE:
                if header_only:
                    return
                if blen < 32:
                    self._bad_block(n + 1, off, f"packet block length {blen} too short", False)
                    break
                if btype == EPB_TYPE:
                    iid, th, tl, caplen, orig = epb(buf, pos + 8)
                else:
                    iid, _drops, th, tl, caplen, orig = opb(buf, pos + 8)
                dstart = pos + 28
                dstop = dstart + caplen
                if dstop > stop - 4:
                    self._bad_block(n + 1, off, f"captured length {caplen} exceeds the block "
                                    f"(length {blen})", False)
                    break
                if iid >= len(section):
                    self._bad_block(n + 1, off, f"packet block refers to interface {iid}, "
                                    f"but the section defines {len(section)}", False)
                    break
                gidx, lt, snap, units, scale, tsoff = section[iid]
                if caplen > snap:
                    self._bad_block(n + 1, off, f"record length {caplen} exceeds snaplen {snap}", False)
                    break
                ostart = dstart + ((caplen + 3) & ~3)
                comments = ()
                if ostart < stop - 4:
                    comments = tuple(v.decode("utf-8", "replace")
                                     for code, v in _options(buf, ostart, stop - 4, endian)
                                     if code == OPT_COMMENT)
                n += 1
                stamp = (th << 32) | tl
                last_ts = stamp // units + (stamp % units) * scale + tsoff
                frame = new(Frame, (n, last_ts, lt, buf[dstart:dstop], orig, gidx, comments))
                yield frame if mm is None else FrameChunk.of_frames([frame], n, np)
            elif btype == SPB_TYPE:
                if header_only:
                    return
                if blen < 16:
                    self._bad_block(n + 1, off, f"simple packet block length {blen} too short", False)
                    break
                if not section:
                    self._bad_block(n + 1, off, "simple packet block before any interface block", False)
                    break
                gidx, lt, snap, _units, _scale, _tsoff = section[0]
                orig = u1(buf, pos + 8)[0]
                caplen = min(orig, blen - 16, snap)
                n += 1
                frame = new(Frame, (n, last_ts, lt, buf[pos + 12:pos + 12 + caplen], orig, gidx, ()))
                yield frame if mm is None else FrameChunk.of_frames([frame], n, np)
            elif btype == IDB_TYPE:
                if blen < 20:
                    self._bad_block(n + 1, off, f"interface block length {blen} too short", header_only)
                    break
                section.append(self._interface(buf, pos, stop, off, endian))
            elif btype == SHB_TYPE:
                if blen < 28:
                    self._bad_block(n + 1, off, f"section header length {blen} too short", header_only)
                    break
                major, minor = struct.unpack_from(endian + "HH", buf, pos + 12)
                if major != 1:
                    self._bad_block(n + 1, off, f"unsupported pcapng version {major}.{minor}", header_only)
                    break
                section = []
                if off not in self._shb_seen:
                    self._shb_seen.add(off)
                    for code, value in _options(buf, pos + 24, stop - 4, endian):
                        if code == OPT_COMMENT:
                            text = value.decode("utf-8", "replace")
                            self.section_comments.append(text)
                    if not self.meta:
                        self.meta = parse_meta(join_meta_parts(self.section_comments), self.path)
            # NRB, ISB, DSB, custom and unknown blocks carry nothing a frame needs.
            pos = stop
        self.frames_read = n

    def _epb_run(self, mm, u8, pos: int, size: int, section: list, endian: str, first: int):
        """The enhanced packet blocks from `pos` on as one FrameChunk, up to the
        first other block, the first block that fails a check, or PCAP_READ
        bytes; (None, pos) when the first block fails (the caller reports it).
        The walk reads two words per block; the checks and the times are numpy."""
        import mmap

        import numpy as np
        u2 = struct.Struct(endian + "II").unpack_from
        limit = min(pos + PCAP_READ, size)
        start = pos
        offs: list[int] = []
        ap = offs.append
        try:
            while True:
                btype, blen = u2(mm, pos)
                stop = pos + blen
                if btype != EPB_TYPE or blen < 32 or stop > limit:
                    break
                ap(pos)
                pos = stop
        except struct.error:  # fewer than 8 bytes left
            pass
        if not offs or not section or max(sec[3] for sec in section) >= 1 << 63:
            return None, start
        dt = np.dtype(endian + "u4")
        o = np.array(offs, dtype=np.int64)
        w = u8[o[:, None] + np.arange(28, dtype=np.int64)].view(dt).reshape(len(o), 7).astype(np.int64)
        blen, iid, caplen = w[:, 1], w[:, 2], w[:, 5]
        trailer = u8[(o + blen - 4)[:, None] + np.arange(4, dtype=np.int64)].view(dt).reshape(len(o))
        known = iid < len(section)
        at = np.where(known, iid, 0)
        table = np.array([s[1:] for s in section], dtype=object)  # linktype, snap, units, scale, tsoffset
        snap = table[:, 1].astype(np.int64)[at]
        bad = (blen % 4 != 0) | (trailer != blen) | ~known | (28 + caplen > blen - 4) | (caplen > snap)
        if bad.any():
            k = int(np.argmax(bad))
            if k == 0:
                return None, start
            o, w, at, caplen = o[:k], w[:k], at[:k], caplen[:k]
            pos = offs[k]
        units = table[:, 2].astype(np.int64)[at]
        stamp = (w[:, 3].astype(np.uint64) << np.uint64(32)) | w[:, 4].astype(np.uint64)
        whole = (stamp // units.astype(np.uint64)).astype(np.float64)
        frac = (stamp % units.astype(np.uint64)).astype(np.float64) * table[:, 3].astype(np.float64)[at]
        ts = whole + frac + table[:, 4].astype(np.float64)[at]
        chunk = FrameChunk(first, mm, o + 28, caplen, w[:, 6], ts, table[:, 0].astype(np.int64)[at])
        dontneed = getattr(mmap, "MADV_DONTNEED", None)
        done = start // mmap.PAGESIZE * mmap.PAGESIZE
        if dontneed is not None and done > self._released:
            mm.madvise(dontneed, self._released, done - self._released)
            self._released = done
        return chunk, pos

    def _bad_block(self, frame: int, offset: int, msg: str, header_only: bool) -> None:
        if header_only and offset == 0:
            self._fail(offset, msg)
        if header_only:
            return  # reported with the frame number when the frames are iterated
        self._bad_record(frame, offset, msg)

    def _interface(self, buf: bytes, pos: int, stop: int, off: int, endian: str) -> tuple:
        linktype, _res, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
        name = None
        units = 1_000_000
        tsoffset = 0
        for code, value in _options(buf, pos + 16, stop - 4, endian):
            if code == IF_NAME:
                name = value.decode("utf-8", "replace")
            elif code == IF_TSRESOL and value:
                r = value[0]
                units = 2 ** (r & 0x7F) if r & 0x80 else 10 ** min(r, 30)
            elif code == IF_TSOFFSET and len(value) == 8:
                tsoffset = struct.unpack(endian + "q", value)[0]
        if off not in self._iface_at:
            self._iface_at[off] = len(self.interfaces)
            self.interfaces.append(Interface(linktype, name, snaplen, units, tsoffset))
        snap = min(snaplen, MAX_RECORD) if snaplen else MAX_RECORD  # 0 means no limit
        return (self._iface_at[off], linktype, snap, units, 1.0 / units, tsoffset)


def _no_more(_n: int) -> bytes:
    return b""


def _options(buf: bytes, pos: int, stop: int, endian: str):
    """(code, value) pairs of a pcapng option list; stops quietly at a malformed one."""
    hdr = struct.Struct(endian + "HH").unpack_from
    while pos + 4 <= stop:
        code, length = hdr(buf, pos)
        if code == 0:
            return
        vstart = pos + 4
        vstop = vstart + length
        if vstop > stop:
            return
        yield code, buf[vstart:vstop]
        pos = vstart + ((length + 3) & ~3)


_WARNED: set[tuple[str, str]] = set()


def parse_meta(comment: str, path: str | None = None) -> dict:
    """The valid part of the synack-capture/1 metadata of a section comment ({} if
    it is not one).  With `path`, what viz.metadata's schema dropped is a one-line
    warning on stderr (once per file and problem)."""
    first, _, rest = comment.partition("\n")
    if first.strip() != META_FIRST_LINE:
        return {}
    from viz import metadata

    meta, problems = metadata.parse(rest)
    if problems and path is not None:
        line = metadata.warning(path, problems)
        if (path, line) not in _WARNED:
            _WARNED.add((path, line))
            import sys
            print(line, file=sys.stderr)
    return meta
