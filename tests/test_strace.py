"""tracer.strace.parse on strace logs: the lines are strace 6.1's, as
`strace -f -qq -ttt -T -y -s 0` prints them for the calls a lecture shows."""
from __future__ import annotations

from tracer.strace import parse, wrap

SERVER = """\
100 1700000000.000100 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[11]> <0.000020>
100 1700000000.000200 setsockopt(3<socket:[11]>, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0 <0.000010>
100 1700000000.000300 bind(3<socket:[11]>, {sa_family=AF_INET, sin_port=htons(10000), sin_addr=inet_addr("0.0.0.0")}, 16) = 0 <0.000010>
100 1700000000.000400 listen(3<socket:[11]>, 5) = 0 <0.000010>
100 1700000000.000500 accept4(3<socket:[11]>, {sa_family=AF_INET, sin_port=htons(40000), sin_addr=inet_addr("192.0.2.1")}, [16], SOCK_CLOEXEC) = 4<socket:[12]> <0.500000>
100 1700000000.500600 recvfrom(4<socket:[12]>, ""..., 16, 0, NULL, NULL) = 16 <0.000010>
100 1700000000.500700 sendto(4<socket:[12]>, ""..., 16, 0, NULL, 0) = 16 <0.000010>
100 1700000000.500800 read(4<socket:[12]>, "", 16) = 0 <0.100000>
100 1700000000.600900 shutdown(4<socket:[12]>, SHUT_WR) = 0 <0.000010>
100 1700000000.601000 close(4<socket:[12]>) = 0 <0.000010>
100 1700000000.601100 close(5</etc/hosts>) = 0 <0.000010>
"""


def test_server_calls_become_the_recorders_records():
    recs = parse(SERVER, "server")
    got = [(r["call"], r["phase"], r["args"], r["result"]) for r in recs]
    assert got == [
        ("socket", "return", "AF_INET, SOCK_STREAM", "3"),
        ("setsockopt", "return", "SOL_SOCKET, SO_REUSEADDR", ""),
        ("bind", "return", "('0.0.0.0', 10000)", ""),
        ("listen", "return", "5", ""),
        ("accept", "call", "", ""),                        # accept4 is the C library's accept
        ("accept", "return", "", "(4, ('192.0.2.1', 40000))"),
        ("recv", "call", "", ""),                          # recvfrom without an address is recv()
        ("recv", "return", "", "16"),
        ("send", "call", "16", ""),
        ("send", "return", "16", "16"),
        ("read", "call", "", ""),
        ("read", "return", "", "b''"),                     # EOF reads as Python shows it
        ("shutdown", "return", "1", ""),
        ("close", "return", "", ""),                       # the file's close is not a socket call
    ]
    assert {r["host"] for r in recs} == {"server"} and {r["pid"] for r in recs} == {100}
    assert recs[5]["ts"] == 1700000000.5005 and recs[4]["ts"] == 1700000000.0005  # -T: entry and return
    assert {r["fd"] for r in recs[6:]} == {12}                                    # the accepted socket
    assert recs[5]["new_fd"] == 12 and "new_fd" not in recs[4]  # accept()'s return names it as fd does


def test_blocking_call_split_across_threads_and_errors():
    """`<unfinished ...>` and `<... resumed>` (another thread ran in between); an errno
    becomes the error text the ladder shows (`connect → ECONNREFUSED`)."""
    log = """\
7 1700000000.000100 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3<socket:[21]> <0.000010>
7 1700000000.000200 connect(3<socket:[21]>, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("192.0.2.2")}, 16 <unfinished ...>
8 1700000000.000250 socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = 4<socket:[22]> <0.000010>
7 1700000000.000900 <... connect resumed>) = -1 ECONNREFUSED (Connection refused) <0.000700>
8 1700000000.001000 sendto(4<socket:[22]>, ""..., 5, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("192.0.2.2")}, 16) = 5 <0.000010>
7 1700000000.001100 close(3<socket:[21]>) = 0 <0.000010>
"""
    recs = parse(log, "client")
    connect = [r for r in recs if r["call"] == "connect"]
    assert [(r["phase"], r["ts"], r["args"], r["error"]) for r in connect] == [
        ("call", 1700000000.0002, "('192.0.2.2', 9)", ""),
        ("return", 1700000000.0009, "('192.0.2.2', 9)", "ECONNREFUSED: Connection refused")]
    sendto = [r for r in recs if r["call"] == "sendto"]
    assert sendto and sendto[0]["args"] == "5" and sendto[0]["pid"] == 8
    assert [r["ts"] for r in recs] == sorted(r["ts"] for r in recs)


def test_only_internet_sockets_and_the_last_close_of_a_duplicated_one():
    """curl's resolver tries AF_UNIX sockets first; a shell duplicates the socket
    onto fd 0/1 and closes each copy, and only the last close sends the FIN."""
    log = """\
5 1700000000.000100 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3<socket:[31]> <0.000010>
5 1700000000.000200 connect(3<socket:[31]>, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory) <0.000010>
5 1700000000.000300 close(3<socket:[31]>) = 0 <0.000010>
5 1700000000.000400 socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3<socket:[32]> <0.000010>
5 1700000000.000500 connect(3<socket:[32]>, {sa_family=AF_INET6, sin6_port=htons(10000), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::2", &sin6_addr), sin6_scope_id=0}, 28) = 0 <0.000300>
5 1700000000.000900 write(1<socket:[32]>, ""..., 12) = 12 <0.000010>
6 1700000000.001000 read(0<socket:[32]>, ""..., 12) = 12 <0.000010>
6 1700000000.001100 close(0<socket:[32]>) = 0 <0.000010>
5 1700000000.001200 close(3<socket:[32]>) = 0 <0.000010>
5 1700000000.001300 close(10<socket:[99]>) = 0 <0.000010>
"""
    recs = parse(log, "client")
    assert {r["fd"] for r in recs} == {32}
    assert [(r["call"], r["phase"]) for r in recs if r["phase"] == "return" or r["call"] == "connect"] == [
        ("socket", "return"), ("connect", "call"), ("connect", "return"), ("write", "return"),
        ("read", "return"), ("close", "return")]
    assert recs[1]["args"] == "('2001:db8::2', 10000)"
    assert [r["ts"] for r in recs if r["call"] == "close"] == [1700000000.0012]


def test_wrap_keeps_the_program_and_traces_only_socket_calls():
    argv = wrap(["./echo-client", "-p", "10000"], "/tmp/x.strace")
    assert argv[0] == "strace" and argv[-4:] == ["--", "./echo-client", "-p", "10000"]
    assert "-ttt" in argv and "-T" in argv and "-y" in argv and "-f" in argv
    assert any(a.startswith("trace=") and "connect" in a and "execve" not in a for a in argv)
