"""Property test: damaged captures and random frames never crash the reader or decoder.

10,000 cases in total: 4,000 mutated corpus files, 2,000 random files (some
with a valid magic), 4,000 mutated or random frames for every link type.  The
reader may only raise SynackError (a one-line user error); the decoder may
not raise at all, and is called without its safety net (`_decode`) so a bug
cannot hide behind it; the batch decoder (viz.vector.decode_chunk) must agree with it
on every frame it takes whole.
"""
from __future__ import annotations

import glob
import itertools
import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from viz.capture import FrameChunk, open_capture
from viz.decode import P_TCP, P_UDP, _decode
from viz.errors import SynackError
from viz.vector import _Addrs, decode_chunk

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = str(CORPUS_DIR)
SEED_BYTES = 8_000  # a prefix of each corpus file: every format, cheap to mutate and read
SEEDS = [open(p, "rb").read()[:SEED_BYTES]
         for p in sorted(glob.glob(os.path.join(CORPUS, "*.pcap")) + glob.glob(os.path.join(CORPUS, "*.pcapng")))]
LINKTYPES = [1, 101, 12, 14, 228, 229, 113, 276, 0, 108, 104, 9, 50, 147]


def frames_of(seed: bytes) -> list:
    fd, path = tempfile.mkstemp(suffix=".cap")
    with os.fdopen(fd, "wb") as f:
        f.write(seed)
    try:
        with open_capture(path, partial=True) as cap:
            return [(fr.linktype, fr.data) for fr in cap]
    finally:
        os.unlink(path)


SEED_FRAMES = [fr for seed in SEEDS for fr in itertools.islice(frames_of(seed), 40)]

mutation = st.tuples(st.sampled_from(["set", "insert", "delete", "flip"]),
                     st.integers(0, SEED_BYTES), st.binary(min_size=1, max_size=8))


def mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, pos, value in mutations:
        pos = pos % (len(buf) + 1)
        if kind == "set":
            buf[pos:pos + len(value)] = value
        elif kind == "insert":
            buf[pos:pos] = value
        elif kind == "delete":
            del buf[pos:pos + len(value)]
        elif pos < len(buf):
            buf[pos] ^= value[0] or 1
    return bytes(buf)


def read_all(path, partial: bool) -> None:
    """Iteration decodes every frame without an exception, and the mapped chunk
    walk (viz.vector's reader) gives the same frames, stop and error."""
    outcome = []
    try:
        with open_capture(path, partial=partial) as cap:
            frames = []
            for fr in cap:
                check_decode(fr.linktype, fr.data, fr.wire_len)
                frames.append((fr.number, fr.ts, fr.linktype, bytes(fr.data), fr.wire_len))
            assert partial or cap.truncated_at is None
            outcome = [frames, cap.truncated_at]
    except SynackError as exc:
        msg = str(exc)
        assert str(path) in msg and "\n" not in msg
        outcome = [msg]
    try:
        with open_capture(path, partial=partial) as cap:
            chunked = [(ch.first + i, float(ch.ts[i]), int(ch.linktype[i]), ch.frame_bytes(i), int(ch.wire[i]))
                       for ch in cap.chunks() for i in range(ch.n)]
            assert outcome == [chunked, cap.truncated_at]
    except SynackError as exc:
        assert outcome == [str(exc)]


def check_decode(linktype, data, wire_len) -> None:
    b = _decode(linktype, data, wire_len)  # no safety net
    assert b.proto in ("tcp", "udp", "icmp", "icmpv6", "arp", "other")
    assert len(b.payload) <= 64
    for _name, off, length in b.layers:
        assert 0 <= off and 0 <= length and off + length <= len(data)
    check_batch(linktype, data, wire_len, b)


def check_batch(linktype, data, wire_len, b) -> None:
    """The vectorized decoder restates the plain IPv4 TCP/UDP subset of the walk; a frame
    it takes whole must give the walk's fields (and the walk no note about it)."""
    addrs = _Addrs()
    c = decode_chunk(FrameChunk.of_frames([(1, 0.0, linktype, data, wire_len)], 1, np), addrs)
    if 0 in c.decoded:  # handed to the per-frame decoder
        return
    p = int(c.proto[0])
    assert p in (P_TCP, P_UDP)
    got = ("tcp" if p == P_TCP else "udp", addrs.str(int(c.src[0])), addrs.str(int(c.dst[0])),
           int(c.sport[0]), int(c.dport[0]), int(c.flags[0]), int(c.length[0]), bool(c.analyse[0]))
    want = (b.proto, b.src, b.dst, b.sport, b.dport, b.flags, b.tcp_len if p == P_TCP else b.udp_len,
            b.seq_analysis)
    assert got == want
    if p == P_TCP:
        assert (int(c.seq[0]), int(c.ack[0]), int(c.win[0])) == (b.seq_raw, b.ack_raw, b.win_raw)
    assert b.notes == ()


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=4000, **SETTINGS)
@given(seed=st.sampled_from(range(len(SEEDS))), cut=st.integers(0, SEED_BYTES),
       mutations=st.lists(mutation, max_size=6), partial=st.booleans())
def test_mutated_corpus_files(tmp_path_factory, seed, cut, mutations, partial):
    data = mutate(SEEDS[seed][:max(cut, 1)] if cut % 3 == 0 else SEEDS[seed], mutations)
    path = tmp_path_factory.getbasetemp() / "mutated.cap"
    path.write_bytes(data)
    read_all(path, partial)


@settings(max_examples=2000, **SETTINGS)
@given(prefix=st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a",
                               b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00"]),
       body=st.binary(max_size=600), partial=st.booleans())
def test_random_files(tmp_path_factory, prefix, body, partial):
    path = tmp_path_factory.getbasetemp() / "random.cap"
    path.write_bytes(prefix + body)
    read_all(path, partial)


@settings(max_examples=4000, **SETTINGS)
@given(linktype=st.sampled_from(LINKTYPES), frame=st.sampled_from(range(len(SEED_FRAMES))),
       mutations=st.lists(mutation, max_size=4), random=st.binary(max_size=200),
       use_random=st.booleans(), extra=st.integers(-10, 100))
def test_mutated_and_random_frames(linktype, frame, mutations, random, use_random, extra):
    lt, data = SEED_FRAMES[frame]
    if use_random:
        data = random
    else:
        linktype = lt if extra % 4 else linktype
        data = mutate(data, mutations)
    check_decode(linktype, data, max(0, len(data) + extra))
