"""Socket calls of programs that are not Python, from strace.

The recorder in callrec/ wraps Python's socket module; a C program (the
UNIX Network Programming examples), a shell using /dev/tcp or a Go binary
never goes through it.  strace sees their system calls instead, on the same
clock as the frames (`-ttt`, CLOCK_REALTIME), so its log becomes the same
call records (captures/README.md, `calls`).  System calls are what the C
socket API is, so the names stay: `accept4` is shown as `accept`, and
`read`/`write` on a socket are kept as `read`/`write`.

`-y` prints each descriptor's target (`3<socket:[707623]>`): calls on files
are dropped, and the socket inode is the record's `fd`, so a socket that a
shell duplicates onto fd 0 and 1 is still one socket.  `-T` gives each
call's duration: a blocking call (connect, accept, read) becomes a `call`
record at its start and a `return` record at its end, as the Python
recorder writes them.
"""
from __future__ import annotations

import re
import shutil

CALLS = ("socket", "bind", "listen", "accept", "accept4", "connect", "send", "sendto", "sendmsg",
         "recv", "recvfrom", "recvmsg", "read", "write", "shutdown", "close", "setsockopt")
BLOCKING = {"accept", "connect", "recv", "recvfrom", "recvmsg", "read", "send", "sendto", "sendmsg",
            "write"}
NAMES = {"accept4": "accept"}


def available() -> bool:
    return shutil.which("strace") is not None


def wrap(argv: list[str], log: str) -> list[str]:
    """`argv` run under strace, writing its log to `log`."""
    return ["strace", "-f", "-qq", "-ttt", "-T", "-y", "-s", "0", "-e", "signal=none",
            "-e", "trace=" + ",".join(CALLS), "-o", log, "--", *argv]


_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<ts>\d+\.\d+)\s+(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>.*?)(?:\s+<(?P<dur>\d+\.\d+)>)?$")
_FD = re.compile(r"^(?P<fd>-?\d+)<(?P<target>[^>]*)>")
_SOCKET = re.compile(r"socket:\[(\d+)\]")
_INET = re.compile(r'sin6?_port=htons\((\d+)\).*?(?:inet_addr|inet_pton\(AF_INET6,)\s*\(?"([^"]+)"')
_HOW = {"SHUT_RD": "0", "SHUT_WR": "1", "SHUT_RDWR": "2"}


def parse(text: str, host: str) -> list[dict]:
    """The call records of one strace log (pure: text in, records out)."""
    records: list[dict] = []
    pending: dict[tuple[str, str], tuple[float, str]] = {}  # (pid, syscall) -> (ts, head)
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        pid, ts, rest = m["pid"], float(m["ts"]), m["rest"]
        if rest.endswith("<unfinished ...>"):
            name = rest.split("(", 1)[0]
            pending[(pid, name)] = (ts, rest[:-len("<unfinished ...>")].rstrip())
            continue
        resumed = re.match(r"^<\.\.\. (\w+) resumed>\s*(.*)$", rest)
        if resumed:
            start = pending.pop((pid, resumed[1]), None)
            if start is None:
                continue
            t0, head = start
            tail = resumed[2]
            rest = head + (", " if tail and not tail.startswith(")") and not head.endswith("(") else "") + tail
            c = _CALL.match(rest)
            if c is None:
                continue
            records += _records(host, int(pid), t0, ts, c)
            continue
        c = _CALL.match(rest)
        if c is None:
            continue
        end = ts + float(c["dur"]) if c["dur"] else ts
        records += _records(host, int(pid), ts, end, c)
    # Only Internet sockets: curl's resolver tries AF_UNIX sockets (nscd), a
    # program's socketpair() or inherited descriptors are not on the wire.
    inet = {r["fd"] for r in records if r["call"] == "socket" and r["args"].startswith(("AF_INET,", "AF_INET6,"))}
    for r in records:
        if r["call"] == "accept" and r["fd"] in inet and r.get("new_fd"):
            inet.add(r["new_fd"])
    records = [r for r in records if r["fd"] in inet]
    # A socket duplicated onto several descriptors (a shell's redirections, a
    # forked child) sends its FIN at the last close; the earlier ones do nothing.
    last_close = {r["fd"]: i for i, r in enumerate(records) if r["call"] == "close" and not r["error"]}
    records = [r for i, r in enumerate(records)
               if r["call"] != "close" or r["error"] or last_close.get(r["fd"]) == i]
    records.sort(key=lambda r: (r["ts"], r["phase"] != "call"))
    return records


def _records(host: str, pid: int, start: float, end: float, c: re.Match) -> list[dict]:
    name, args, ret = NAMES.get(c["name"], c["name"]), c["args"], c["ret"].strip()
    # glibc's recv() and send() are recvfrom/sendto without an address
    if name == "recvfrom" and args.endswith("NULL, NULL"):
        name = "recv"
    elif name == "sendto" and args.endswith("NULL, 0"):
        name = "send"
    first = _FD.match(args)
    if name == "socket":
        sock = _FD.match(ret)
        if not sock or not _SOCKET.search(sock["target"]):
            return []
        inode = int(_SOCKET.search(sock["target"])[1])
        family = args.split(",", 1)[0]
        kind = args.split(",")[1].strip().split("|")[0] if "," in args else ""
        return [_rec(host, pid, inode, start, "socket", "return", f"{family}, {kind}", str(sock["fd"]), "")]
    if first is None or not _SOCKET.search(first["target"]):
        return []  # a file, a pipe, a terminal: not a socket call
    inode = int(_SOCKET.search(first["target"])[1])
    after = args[first.end():].lstrip(", ")
    error = ""
    result = ret
    if ret.startswith("-1 "):
        code = ret.split()[1]
        why = re.search(r"\((.*)\)", ret)
        error = f"{code}: {why[1]}" if why else code
        result = ""
    if name in ("send", "sendto", "write"):
        args_text = after.split(",")[1].strip() if "," in after else ""  # the byte count
    elif name in ("sendmsg", "recv", "recvfrom", "recvmsg", "read"):
        args_text = ""
        if not error and result == "0" and name != "sendmsg":
            result = "b''"
    elif name == "accept":
        peer = _INET.search(after)
        got = _FD.match(ret)
        args_text = ""
        if got and not error:
            result = f"({got['fd']}, ('{peer[2]}', {peer[1]}))" if peer else got["fd"]
            new = _SOCKET.search(got["target"])
            if new:
                done = _rec(host, pid, inode, end, name, "return", args_text, result, error)
                done["new_fd"] = int(new[1])  # the accepted socket, named as `fd` names sockets here
                return [_rec(host, pid, inode, start, name, "call", args_text, "", ""), done]
    elif name in ("connect", "bind"):
        peer = _INET.search(after)
        args_text = f"('{peer[2]}', {peer[1]})" if peer else ""
        result = "" if not error else result
    elif name == "shutdown":
        args_text = _HOW.get(after.strip(), after.strip())
        result = ""
    elif name == "listen":
        args_text = after.strip()
        result = ""
    elif name == "setsockopt":
        args_text = ", ".join(a.strip() for a in after.split(",")[:2])
        result = ""
    else:  # close
        args_text = ""
        result = ""
    if name in BLOCKING:
        return [_rec(host, pid, inode, start, name, "call", args_text, "", ""),
                _rec(host, pid, inode, end, name, "return", args_text, result, error)]
    # One record, at entry: the FIN leaves during close(), before strace sees it return.
    return [_rec(host, pid, inode, start, name, "return", args_text, result, error)]


def _rec(host, pid, fd, ts, call, phase, args, result, error) -> dict:
    return {"ts": round(ts, 6), "host": host, "pid": pid, "fd": fd, "call": call, "phase": phase,
            "args": args, "result": result, "error": error}
