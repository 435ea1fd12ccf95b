"""Socket-call recorder, loaded by every Python interpreter whose PYTHONPATH holds this folder.

Python imports `sitecustomize` at start-up, before the user's program runs, so
replacing `socket.socket` here records the calls of unmodified programs, and
of the standard modules built on it (socketserver, http.server, http.client,
socket.create_connection).  It is dormant unless SYNACK_CALLS names a file,
or (under synack trace) `fd:N:DEV:INO`, a descriptor already open on it:
then each call appends one JSON line (the `calls` entries of
captures/README.md) with a single O_APPEND write, which keeps lines whole
across threads and forked children without a lock.

The recorder must never change what the program sees: results are returned
and exceptions re-raised untouched, a failing write is ignored, and the
record file sits on a high descriptor so the program's own sockets get the
same fd numbers as without it.
"""
from __future__ import annotations

import os
import sys


def _chain_next_sitecustomize() -> None:
    """Run the sitecustomize this one shadows (Debian's, a virtualenv's), as Python would have."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from importlib.machinery import PathFinder
        from importlib.util import module_from_spec

        rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = PathFinder.find_spec("sitecustomize", rest)
        if spec is None or spec.loader is None:
            return
        module = module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001 - a broken foreign sitecustomize must not stop the program
        pass


def _install(path: str) -> None:
    import _socket
    import socket as socket_module
    import time
    import weakref
    import atexit

    Original = socket_module.socket
    host = os.environ.get("SYNACK_HOST", "")
    state = {"pid": os.getpid(), "fd": -1}

    def open_log() -> int:
        if path.startswith("fd:"):
            return given_log()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            import fcntl

            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 900)
        except OSError:
            return fd
        os.close(fd)
        return high

    def given_log() -> int:
        """`fd:N:DEV:INO`: the log synack opened for this program and passed down already open
        (nobody else can open it by name).  Used only if N is still that very file, opened for
        writing: a child that lost it, or got another file on N, records nothing."""
        import stat

        _, n, dev, ino = path.split(":")
        fd = int(n)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (int(dev), int(ino)) or not stat.S_ISREG(st.st_mode):
            raise OSError("not the call log")
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError("the call log is not open for writing")
        return fd

    try:
        state["fd"] = open_log()
    except (OSError, ValueError):
        return  # cannot record: leave the socket module untouched

    if path.startswith("fd:"):
        _keep_in_children(state)

    def after_fork() -> None:
        state["pid"] = os.getpid()

    os.register_at_fork(after_in_child=after_fork)

    from json.encoder import encode_basestring as quote  # the C string escaper

    now = time.time
    write = os.write
    host_q = quote(host)

    def emit(fd, call, phase, args="", result="", error="", ts=None, extra="") -> None:
        try:
            line = (
                f'{{"ts": {now() if ts is None else ts!r}, "host": {host_q}, "pid": {state["pid"]}, '
                f'"fd": {fd}, "call": "{call}", "phase": "{phase}", "args": {quote(args)}, '
                f'"result": {quote(result)}, "error": {quote(error)}{extra}}}\n'
            )
            write(state["fd"], line.encode("utf-8", "backslashreplace"))
        except Exception:  # noqa: BLE001 - recording is best effort, never the program's problem
            pass

    def short(value, limit=120) -> str:
        text = value if isinstance(value, str) else repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def err(exc: BaseException) -> str:
        return short(f"{type(exc).__name__}: {exc}", 200)

    names: dict[str, dict[int, str]] = {}
    # Several protocol families reuse small option numbers (SO_J1939_PROMISC == SO_REUSEADDR):
    # the names a lecture uses win.
    preferred = (
        "SO_REUSEADDR", "SO_REUSEPORT", "SO_KEEPALIVE", "SO_BROADCAST", "SO_LINGER", "SO_RCVBUF",
        "SO_SNDBUF", "SO_RCVLOWAT", "SO_SNDLOWAT", "SO_RCVTIMEO", "SO_SNDTIMEO", "SO_ERROR",
        "SO_TYPE", "SO_OOBINLINE", "SO_DEBUG", "SO_DONTROUTE", "SO_BINDTODEVICE", "SO_PRIORITY",
        "TCP_NODELAY", "TCP_MAXSEG", "TCP_CORK", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT",
        "TCP_QUICKACK", "TCP_USER_TIMEOUT", "IP_TTL", "IP_TOS", "IPV6_V6ONLY", "SHUT_RD", "SHUT_WR",
        "SHUT_RDWR",
    )

    def const_name(prefix: str, value) -> str:
        table = names.get(prefix)
        if table is None:
            table = {}
            for key in preferred + tuple(sorted(dir(_socket))):
                if key.startswith(prefix) and hasattr(_socket, key):
                    v = getattr(_socket, key)
                    if isinstance(v, int) and not isinstance(v, bool):
                        table.setdefault(v, key)
            names[prefix] = table
        return table.get(value, repr(value)) if isinstance(value, int) else repr(value)

    option_prefix = {
        _socket.SOL_SOCKET: "SO_",
        _socket.IPPROTO_TCP: "TCP_",
        _socket.IPPROTO_IP: "IP_",
        getattr(_socket, "IPPROTO_IPV6", 41): "IPV6_",
    }
    level_names = {
        _socket.SOL_SOCKET: "SOL_SOCKET",
        _socket.IPPROTO_TCP: "IPPROTO_TCP",
        _socket.IPPROTO_IP: "IPPROTO_IP",
        getattr(_socket, "IPPROTO_IPV6", 41): "IPPROTO_IPV6",
    }

    def option_args(level, optname, rest) -> str:
        parts = [level_names.get(level, repr(level))]
        prefix = option_prefix.get(level)
        parts.append(const_name(prefix, optname) if prefix else repr(optname))
        parts.extend(short(v, 40) for v in rest)
        return ", ".join(parts)

    def eof_or_count(sock, n: int) -> str:
        return "b''" if n == 0 and sock.type == _socket.SOCK_STREAM else str(n)

    # A client that loops on recv() without checking for EOF (`while len(x) < n: x += s.recv(..)`)
    # gets b'' millions of times a second once the peer has closed.  The first EOF_KEPT of a run
    # are recorded; the rest only counted, and the count goes on the socket's close record.
    EOF_KEPT = 3

    def eofs_shown(sock) -> str:
        n = sock.__dict__.pop("_synack_unrecorded_eofs", 0)
        return f', "eofs_unrecorded": {n}' if n else ""

    live = weakref.WeakSet()

    class socket(Original):  # noqa: N801 - keeps the name and repr of the class it replaces
        """socket.socket with every call recorded; behaviour unchanged."""

        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            super().__init__(family, type, proto, fileno)
            live.add(self)
            if fileno is None:
                try:
                    args = f"{self.family.name}, {self.type.name}"
                    if self.proto in (1, 58):  # an ICMP echo socket: its datagrams are ICMP messages
                        args += ", IPPROTO_ICMP" if self.proto == 1 else ", IPPROTO_ICMPV6"
                except Exception:  # noqa: BLE001
                    args = f"{family!r}, {type!r}"
                emit(self.fileno(), "socket", "return", args)

        def _blocking(self, call, method, args, shown, result_of):
            fd = self.fileno()
            emit(fd, call, "call", shown)
            try:
                result = method(self, *args)
            except BaseException as exc:
                emit(fd, call, "return", shown, error=err(exc))
                raise
            emit(fd, call, "return", shown, result_of(result))
            return result

        def _stream_read(self, call, method, args, shown, count_of):
            """recv/recv_into of a TCP socket: as _blocking, until the EOF_KEPT-th EOF in a row."""
            d = self.__dict__
            if self.type != _socket.SOCK_STREAM or d.get("_synack_eofs", 0) < EOF_KEPT:
                result = self._blocking(call, method, args, shown, lambda r: eof_or_count(self, count_of(r)))
                if self.type == _socket.SOCK_STREAM:
                    d["_synack_eofs"] = d.get("_synack_eofs", 0) + 1 if count_of(result) == 0 else 0
                return result
            fd, ts = self.fileno(), now()
            try:
                result = method(self, *args)
            except BaseException as exc:
                emit(fd, call, "call", shown, ts=ts)
                emit(fd, call, "return", shown, error=err(exc))
                raise
            if count_of(result) == 0:
                d["_synack_unrecorded_eofs"] = d.get("_synack_unrecorded_eofs", 0) + 1
                return result
            d["_synack_eofs"] = 0
            emit(fd, call, "call", shown, ts=ts)
            emit(fd, call, "return", shown, str(count_of(result)))
            return result

        def _simple(self, call, method, args, shown, result_of=None):
            fd = self.fileno()
            ts = now()
            try:
                result = method(self, *args)
            except BaseException as exc:
                emit(fd, call, "return", shown, error=err(exc), ts=ts)
                raise
            emit(fd, call, "return", shown, result_of(result) if result_of else "", ts=ts)
            return result

        def __repr__(self):
            """Original's repr, minus recording the getsockname/getpeername it makes."""
            closed = getattr(self, "_closed", False)
            text = "<%s.%s%s fd=%i, family=%s, type=%s, proto=%i" % (
                self.__class__.__module__, self.__class__.__qualname__, " [closed]" if closed else "",
                self.fileno(), self.family, self.type, self.proto)
            if not closed:
                try:
                    laddr = _socket.socket.getsockname(self)
                    if laddr:
                        text += ", laddr=%s" % str(laddr)
                except OSError:
                    pass
                try:
                    raddr = _socket.socket.getpeername(self)
                    if raddr:
                        text += ", raddr=%s" % str(raddr)
                except OSError:
                    pass
            return text + ">"

        # --- connection set-up -------------------------------------------------
        def bind(self, address):
            return self._simple("bind", _socket.socket.bind, (address,), short(address))

        def listen(self, *backlog):
            return self._simple("listen", _socket.socket.listen, backlog, ", ".join(map(repr, backlog)))

        def accept(self):
            fd = self.fileno()
            emit(fd, "accept", "call")
            try:
                conn_fd, addr = self._accept()
                conn = socket(self.family, self.type, self.proto, fileno=conn_fd)
                if _socket.getdefaulttimeout() is None and self.gettimeout():
                    conn.setblocking(True)
            except BaseException as exc:
                emit(fd, "accept", "return", error=err(exc))
                raise
            emit(fd, "accept", "return", "", short(addr), extra=f', "new_fd": {int(conn_fd)}')
            return conn, addr

        def connect(self, address):
            return self._blocking("connect", _socket.socket.connect, (address,), short(address), lambda r: "")

        def connect_ex(self, address):
            def shown(rc):
                import errno

                return "0" if rc == 0 else f"{rc} {errno.errorcode.get(rc, '')}".strip()

            return self._blocking("connect_ex", _socket.socket.connect_ex, (address,), short(address), shown)

        # --- data ---------------------------------------------------------------
        def send(self, data, *flags):
            return self._blocking("send", _socket.socket.send, (data, *flags), str(len(data)), str)

        def sendall(self, data, *flags):
            return self._blocking("sendall", _socket.socket.sendall, (data, *flags), str(len(data)), lambda r: "")

        def sendto(self, data, *rest):
            shown = f"{len(data)}, {short(rest[-1])}" if rest else str(len(data))
            return self._blocking("sendto", _socket.socket.sendto, (data, *rest), shown, str)

        def recv(self, bufsize, *flags):
            return self._stream_read("recv", _socket.socket.recv, (bufsize, *flags), repr(bufsize), len)

        def recvfrom(self, bufsize, *flags):
            return self._blocking("recvfrom", _socket.socket.recvfrom, (bufsize, *flags), repr(bufsize),
                                  lambda r: f"{len(r[0])} from {short(r[1])}")

        def recv_into(self, buffer, nbytes=0, *flags):
            shown = str(nbytes or memoryview(buffer).nbytes)
            return self._stream_read("recv_into", _socket.socket.recv_into, (buffer, nbytes, *flags), shown,
                                     int)

        def recvfrom_into(self, buffer, nbytes=0, *flags):
            shown = str(nbytes or memoryview(buffer).nbytes)
            return self._blocking("recvfrom_into", _socket.socket.recvfrom_into, (buffer, nbytes, *flags),
                                  shown, lambda r: f"{r[0]} from {short(r[1])}")

        # --- teardown -----------------------------------------------------------
        def shutdown(self, how):
            return self._simple("shutdown", _socket.socket.shutdown, (how,), const_name("SHUT_", how))

        def _real_close(self, _ss=_socket.socket):
            fd = self.fileno()
            ts = now()
            try:
                _ss.close(self)
            except BaseException as exc:
                emit(fd, "close", "return", error=err(exc), ts=ts)
                raise
            if fd >= 0 and not self.__dict__.get("_synack_closed"):
                self.__dict__["_synack_closed"] = True
                emit(fd, "close", "return", ts=ts, extra=eofs_shown(self))

        def __del__(self):
            try:
                fd = self.fileno()
                if fd >= 0 and not self.__dict__.get("_synack_closed"):
                    self.__dict__["_synack_closed"] = True
                    emit(fd, "close", "return", "'garbage collected'", extra=eofs_shown(self))
            except Exception:  # noqa: BLE001
                pass
            _socket.socket.__del__(self)

        # --- options and names --------------------------------------------------
        def setsockopt(self, level, optname, *value):
            return self._simple("setsockopt", _socket.socket.setsockopt, (level, optname, *value),
                                option_args(level, optname, value))

        def getsockopt(self, level, optname, *buflen):
            return self._simple("getsockopt", _socket.socket.getsockopt, (level, optname, *buflen),
                                option_args(level, optname, buflen), short)

        def settimeout(self, timeout):
            return self._simple("settimeout", _socket.socket.settimeout, (timeout,), repr(timeout))

        def setblocking(self, flag):
            return self._simple("setblocking", _socket.socket.setblocking, (flag,), repr(flag))

        def getsockname(self):
            return self._simple("getsockname", _socket.socket.getsockname, (), "", short)

        def getpeername(self):
            return self._simple("getpeername", _socket.socket.getpeername, (), "", short)

    socket.__module__ = Original.__module__
    socket.__qualname__ = Original.__qualname__
    socket.__doc__ = Original.__doc__

    def at_exit() -> None:
        """The kernel closes what the program left open when it exits: record that close too."""
        for sock in list(live):
            try:
                fd = sock.fileno()
                if fd >= 0 and not sock.__dict__.get("_synack_closed"):
                    sock.__dict__["_synack_closed"] = True
                    emit(fd, "close", "return", "'at exit'", extra=eofs_shown(sock))
            except Exception:  # noqa: BLE001
                pass

    atexit.register(at_exit)
    socket_module.socket = socket


def _keep_in_children(state: dict) -> None:
    """Python's subprocess (and multiprocessing's spawn) close inherited descriptors, so a
    Python child would lose the call log passed by descriptor: its number is added to the
    descriptors they keep (`fork_exec`'s pass_fds, the 4th argument in 3.8-3.13).  Patched
    before the program imports subprocess, which binds fork_exec at import (3.11+)."""
    try:
        import _posixsubprocess
    except ImportError:
        return
    original = _posixsubprocess.fork_exec

    def fork_exec(*args, **kwargs):
        fd = state["fd"]
        try:
            if len(args) > 3 and args[2] and type(args[3]) is tuple and fd >= 0 and fd not in args[3]:
                args = args[:3] + (tuple(sorted(args[3] + (fd,))),) + args[4:]
        except Exception:  # noqa: BLE001 - never change the program's own call on our account
            pass
        return original(*args, **kwargs)

    _posixsubprocess.fork_exec = fork_exec


def _main() -> None:
    path = os.environ.get("SYNACK_CALLS")
    if path:
        try:
            _install(path)
        except Exception:  # noqa: BLE001 - never stop the program because recording failed
            pass
    _chain_next_sitecustomize()


_main()
