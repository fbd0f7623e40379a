# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Hostile debuginfod servers (issue 21): the client holds its bounds.

`kernel-repro running --debuginfod` against tiny malicious servers started
here (raw sockets on 127.0.0.1, a random port, one thread per connection,
all stopped by the fixture): drip-fed answers, endless headers, endless
`100 Continue`s, endless chunked trailers, silence; file:// trees holding a
FIFO or a link to /dev/zero; a poisoned cache; terminal escapes in what
the server says; bad $DEBUGINFOD_* values. Every run is the real command
line in a bounded subprocess (test_hostile.run_bounded): a hang fails the
test instead of hanging the suite. The cache is always a temporary
directory ($DEBUGINFOD_CACHE_PATH, and $HOME too), never the real one.
"""

import os
import socket
import stat
import threading
import time

import pytest

from conftest import readelf_build_id
from test_hostile import assert_error, run_bounded
from test_running_records import notes_bytes

PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")
BID = "0123456789abcdef0123456789abcdef01234567"
ESC = "\x1b]0;owned\x07\x1b[2J\x9b31m"   # OSC title, clear screen, C1 CSI


def elf(path="/bin/true"):
    """(bytes, build-id) of a real ELF file of the host."""
    for cand in (path, "/usr" + path):
        bid = os.path.isfile(cand) and readelf_build_id(cand)
        if bid:
            with open(cand, "rb") as f:
                return f.read(), bid
    pytest.skip("no %s with a build-id on this host" % path)


def environment(tmp_path, **extra):
    """The command's environment: no proxies, no $DEBUGINFOD_* of the
    caller, the cache and $HOME under ``tmp_path``; ``extra`` on top (None
    removes a variable)."""
    e = {k: v for k, v in os.environ.items()
         if k not in PROXY_VARS and not k.startswith("DEBUGINFOD_") and k != "XDG_CACHE_HOME"}
    e["HOME"] = str(tmp_path / "home")
    e["DEBUGINFOD_CACHE_PATH"] = str(tmp_path / "cache")
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


def notes(tmp_path, bid=BID):
    p = tmp_path / ("notes-" + bid[:8])
    p.write_bytes(notes_bytes(bid))
    return p


def running(tmp_path, url, bid=BID, timeout=10, **env):
    return run_bounded("running", "--notes", notes(tmp_path, bid), "--debuginfod", url,
                       env=environment(tmp_path, **env), timeout=timeout)


# ------------------------------------------------------------ the servers

class Server:
    """127.0.0.1:<random port>; each connection: read the request head, then
    ``behave(server, conn, request)``. Every loop in a behaviour ends when
    ``stop`` is set (the fixture's teardown) or the client goes away."""

    def __init__(self, behave):
        self.behave = behave
        self.requests = []
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._one, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _one(self, conn):
        try:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head.decode("latin-1"))
            self.behave(self, conn, head)
        except OSError:
            pass
        finally:
            conn.close()

    def send_slowly(self, conn, pieces, delay, limit=60):
        """Send each piece of ``pieces`` ``delay`` seconds apart (at most ``limit`` s)."""
        t0 = time.monotonic()
        for piece in pieces:
            if self.stop.is_set() or time.monotonic() - t0 > limit:
                return
            conn.sendall(piece)
            if delay:
                self.stop.wait(delay)

    def close(self):
        self.stop.set()
        self.sock.close()
        for t in self.threads:
            t.join(5)


@pytest.fixture
def serve():
    """serve(behave) -> a started Server; all are stopped after the test."""
    servers = []

    def start(behave):
        servers.append(Server(behave))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def forever(piece):
    while True:
        yield piece


def ok_head(**headers):
    h = "HTTP/1.1 200 OK\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    return h.encode("latin-1")


def drip_body(srv, conn, _req):
    """A 1 MB answer, one byte every 50 ms."""
    conn.sendall(ok_head(**{"Content-Length": "1000000"}) + b"\x7fELF")
    srv.send_slowly(conn, forever(b"\0"), 0.05)


def drip_status(srv, conn, _req):
    """The status line and an endless header, one byte every 50 ms."""
    srv.send_slowly(conn, (bytes([c]) for c in b"HTTP/1.1 200 OK\r\nX-Drip: "), 0.05)
    srv.send_slowly(conn, forever(b"a"), 0.05)


def drip_headers(srv, conn, _req):
    """Short header lines without end, one every 200 ms."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    srv.send_slowly(conn, forever(b"X-More: yes\r\n"), 0.2)


def silent(srv, _conn, _req):
    srv.stop.wait(60)


def endless_continue(srv, conn, _req):
    srv.send_slowly(conn, forever(b"HTTP/1.1 100 Continue\r\n\r\n" * 40), 0.01)


def endless_headers(srv, conn, _req):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    srv.send_slowly(conn, forever(b"X-More: yes\r\n" * 80), 0.01)


def endless_trailers(srv, conn, _req):
    conn.sendall(ok_head(**{"Transfer-Encoding": "chunked"}) + b"4\r\n\x7fELF\r\n0\r\n")
    srv.send_slowly(conn, forever(b"X-Trailer: yes\r\n" * 80), 0.01)


def endless_chunk_line(srv, conn, _req):
    conn.sendall(ok_head(**{"Transfer-Encoding": "chunked"}) + b"4;ext=")
    srv.send_slowly(conn, forever(b"x" * 1024), 0.01)


def endless_chunks(srv, conn, _req):
    """A chunked answer without end and without a Content-Length."""
    conn.sendall(ok_head(**{"Transfer-Encoding": "chunked"}) + b"4\r\n\x7fELF\r\n")
    srv.send_slowly(conn, forever(b"400\r\n" + b"\0" * 1024 + b"\r\n"), 0.001)


def redirect_loop(srv, conn, req):
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again" + req.split(b" ")[1] +
                 b"\r\nContent-Length: 0\r\n\r\n")


# ------------------------------------------------------------ 1. time

CUT_OFF = [
    # drip-fed: a timeout on each recv() never fires; the rate rule does
    ("drip-body", drip_body, {"DEBUGINFOD_TIMEOUT": 1}, "less than 100 KiB in 1 s (DEBUGINFOD_TIMEOUT)"),
    ("drip-status-line", drip_status, {"DEBUGINFOD_TIMEOUT": 1}, "in 1 s (DEBUGINFOD_TIMEOUT)"),
    # no per-transfer timeout at all: DEBUGINFOD_MAXTIME is enforced inside the reads
    ("drip-headers", drip_headers, {"DEBUGINFOD_TIMEOUT": 0, "DEBUGINFOD_MAXTIME": 1},
     "took longer than 1 s (DEBUGINFOD_MAXTIME)"),
    ("drip-body-maxtime", drip_body, {"DEBUGINFOD_TIMEOUT": 0, "DEBUGINFOD_MAXTIME": 1},
     "took longer than 1 s (DEBUGINFOD_MAXTIME)"),
    # the default DEBUGINFOD_TIMEOUT (90 s) does not outlast DEBUGINFOD_MAXTIME
    ("silent-maxtime", silent, {"DEBUGINFOD_MAXTIME": 1}, "(DEBUGINFOD_MAXTIME)"),
    # fast and endless: no time limit set, the size bounds of each part end them
    ("endless-100-continue", endless_continue, {}, "interim (1xx) answers"),
    ("endless-headers", endless_headers, {}, "header section is longer than"),
    ("endless-trailers", endless_trailers, {}, "trailer section is longer than"),
    ("endless-chunk-size-line", endless_chunk_line, {}, "chunk size line is longer than"),
    ("redirect-loop", redirect_loop, {}, "more than 10 redirects"),
]


@pytest.mark.parametrize("name,behave,env,needle", CUT_OFF, ids=[c[0] for c in CUT_OFF])
def test_hostile_server_is_cut_off(serve, tmp_path, name, behave, env, needle):
    srv = serve(behave)
    r = running(tmp_path, srv.url, **env)
    assert_error(r, "%s/buildid/%s/debuginfo: " % (srv.url, BID), needle)
    d = tmp_path / "cache" / BID
    assert not d.exists() or os.listdir(d) == []   # no partial file left behind


def test_timeout_is_a_minimum_rate_and_zero_disables_it(serve, tmp_path):
    """elfutils: a server that does not send 100 KiB within DEBUGINFOD_TIMEOUT
    seconds is skipped; 0 means no timeout (not the 90 s default)."""
    data, bid = elf()

    def slow(srv, conn, _req):   # ~35 KB over ~2 s: complete, but slow
        conn.sendall(ok_head(**{"Content-Length": len(data)}))
        srv.send_slowly(conn, (data[i:i + 1024] for i in range(0, len(data), 1024)),
                        2.0 / (len(data) / 1024))
    srv = serve(slow)
    assert_error(running(tmp_path, srv.url, bid, DEBUGINFOD_TIMEOUT=1),
                 "less than 100 KiB in 1 s (DEBUGINFOD_TIMEOUT)")
    r = running(tmp_path, srv.url, bid, DEBUGINFOD_TIMEOUT=0)
    assert r.returncode == 0, r

    from kernelrepro import debuginfod
    assert debuginfod.limits({"DEBUGINFOD_TIMEOUT": "0"})["timeout"] is None
    assert debuginfod.limits({})["timeout"] == 90
    assert debuginfod.limits({"DEBUGINFOD_MAXTIME": "0", "DEBUGINFOD_MAXSIZE": "0"}) == {
        "timeout": 90, "maxtime": None, "maxsize": None}


def test_maxsize_bounds_a_body_without_length_and_is_sent_to_the_server(serve, tmp_path):
    srv = serve(endless_chunks)
    assert_error(running(tmp_path, srv.url, DEBUGINFOD_MAXSIZE=65536),
                 "larger than the 65536-byte limit")
    # elfutils' request header: a server may answer 406 at once
    assert "\r\nX-DEBUGINFOD-MAXSIZE: 65536\r\n" in srv.requests[0]

    def too_large(_srv, conn, _req):
        conn.sendall(b"HTTP/1.1 406 Not Acceptable\r\nContent-Length: 0\r\n\r\n")
    assert_error(running(tmp_path, serve(too_large).url, DEBUGINFOD_MAXSIZE=1000),
                 "406", "DEBUGINFOD_MAXSIZE")


# ------------------------------------------------------------ 2. file:// trees

def tree(tmp_path, bid=BID):
    d = tmp_path / "tree" / "buildid" / bid
    d.mkdir(parents=True)
    return tmp_path / "tree", d / "debuginfo"


def test_file_url_fifo_is_refused_not_waited_on(tmp_path):
    root, target = tree(tmp_path)
    os.mkfifo(target)
    assert_error(running(tmp_path, root.as_uri()), "FIFO", "not a regular file")


def test_file_url_link_to_a_device_is_refused_unread(tmp_path):
    root, target = tree(tmp_path)
    os.symlink("/dev/zero", target)
    r = run_bounded("running", "--max-size", "64M", "--notes", notes(tmp_path), "--debuginfod",
                    root.as_uri(), env=environment(tmp_path), timeout=10)
    assert_error(r, "character device", "not a regular file")


def test_file_url_directory_and_oversized_file(tmp_path):
    root, target = tree(tmp_path)
    target.mkdir()
    assert_error(running(tmp_path, root.as_uri()), "directory")
    target.rmdir()
    with open(target, "wb") as f:
        f.truncate(1 << 20)   # sparse: the size says it all, nothing is read
    assert_error(running(tmp_path, root.as_uri(), DEBUGINFOD_MAXSIZE=4096),
                 "larger than the 4096-byte limit")


# ------------------------------------------------------------ 3. the cache

def good_server(serve, data, headers=None):
    def good(_srv, conn, _req):
        conn.sendall(ok_head(**dict({"Content-Length": len(data)}, **(headers or {}))) + data)
    return serve(good)


def closed_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, "http://127.0.0.1:%d" % s.getsockname()[1]


def test_download_is_cached_and_reused(serve, tmp_path):
    data, bid = elf()
    srv = good_server(serve, data)
    r = running(tmp_path, srv.url, bid)
    assert r.returncode == 0, r
    cached = tmp_path / "cache" / bid / "debuginfo"
    assert cached.read_bytes() == data and stat.S_ISREG(os.lstat(cached).st_mode)
    assert os.listdir(cached.parent) == ["debuginfo"]    # no temporary file left
    # the server is gone: the cache answers, as it does for gdb
    down, url = closed_url()
    with down:
        r = running(tmp_path, url, bid)
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[1] == "debug info:     %s  %s (debuginfod cache)" % (bid, cached)
    assert r.stdout.splitlines()[-1] == (
        "match: debug info for the running kernel %s is in the debuginfod cache %s"
        % (bid, tmp_path / "cache"))
    assert len(srv.requests) == 1


def test_cache_location_follows_elfutils(serve, tmp_path):
    data, bid = elf()
    srv = good_server(serve, data)
    xdg = tmp_path / "xdg"
    r = running(tmp_path, srv.url, bid, DEBUGINFOD_CACHE_PATH=None, XDG_CACHE_HOME=xdg)
    assert r.returncode == 0, r
    assert (xdg / "debuginfod_client" / bid / "debuginfo").read_bytes() == data
    r = running(tmp_path, srv.url, bid, DEBUGINFOD_CACHE_PATH=None)
    assert r.returncode == 0, r
    assert (tmp_path / "home" / ".cache" / "debuginfod_client" / bid / "debuginfo").read_bytes() == data


def test_cached_file_of_another_build_is_not_used(serve, tmp_path):
    data, bid = elf()
    other, other_bid = elf("/bin/cat")
    assert other_bid != bid
    cached = tmp_path / "cache" / bid / "debuginfo"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(other)
    down, url = closed_url()
    with down:   # no server to fall back on: refused, saying why
        r = running(tmp_path, url, bid)
    assert_error(r, "%s: an ELF file with build-id %s, not %s" % (cached, other_bid, bid),
                 "cannot connect")
    assert cached.read_bytes() == other
    # a server has it: fetched again, the cache entry replaced, a note says why
    r = running(tmp_path, good_server(serve, data).url, bid)
    assert r.returncode == 0, r
    assert "kernel-repro: note: skipped %s: an ELF file with build-id %s" % (cached, other_bid) in r.stderr
    assert cached.read_bytes() == data


@pytest.mark.parametrize("kind", ["fifo", "link-to-zero", "empty"])
def test_cache_entry_that_is_no_file_is_replaced(serve, tmp_path, kind):
    data, bid = elf()
    cached = tmp_path / "cache" / bid / "debuginfo"
    cached.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(cached)
    elif kind == "link-to-zero":
        os.symlink("/dev/zero", cached)
    else:
        cached.write_bytes(b"")   # elfutils' record of a failed query
    r = running(tmp_path, good_server(serve, data).url, bid)
    assert r.returncode == 0, r
    assert stat.S_ISREG(os.lstat(cached).st_mode) and cached.read_bytes() == data


def test_unusable_cache_directory_still_answers(serve, tmp_path):
    data, bid = elf()
    (tmp_path / "file").write_bytes(b"")
    r = running(tmp_path, good_server(serve, data).url, bid,
                DEBUGINFOD_CACHE_PATH=tmp_path / "file" / "cache")
    assert r.returncode == 0, r
    assert r.stderr.startswith("kernel-repro: note: not caching the debug file: %s" % (
        tmp_path / "file" / "cache")), r


# ------------------------------------------------------------ 4. what the server says

def test_server_strings_are_escaped(serve, tmp_path):
    data, bid = elf()
    srv = good_server(serve, data, {"X-DEBUGINFOD-FILE": "/x" + ESC,
                                    "X-DEBUGINFOD-ARCHIVE": "/a.rpm" + ESC})

    def unavailable(_srv, conn, _req):
        conn.sendall(("HTTP/1.1 503 Busy%s\r\nContent-Length: 0\r\n\r\n" % ESC).encode("latin-1"))
    bad = serve(unavailable)
    r = run_bounded("running", "--notes", notes(tmp_path, bid), "--debuginfod",
                    "%s %s" % (bad.url, srv.url), env=environment(tmp_path), timeout=10)
    assert r.returncode == 0, r
    for text in (r.stdout, r.stderr):
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text, r
    assert "in /a.rpm\\x1b]0;owned\\x07\\x1b[2J\\x9b31m as /x\\x1b]0;" in r.stdout
    assert "HTTP 503 Busy\\x1b]0;owned" in r.stderr
    # and in the one error line (a build-id the cache does not have now)
    r = running(tmp_path, bad.url)
    assert_error(r, "HTTP 503 Busy\\x1b]0;owned")
    assert "\x1b" not in r.stderr


# ------------------------------------------------------------ 5. bad settings

BAD_ENV = [
    ("DEBUGINFOD_TIMEOUT", "inf"), ("DEBUGINFOD_TIMEOUT", "nan"), ("DEBUGINFOD_TIMEOUT", "-1"),
    ("DEBUGINFOD_TIMEOUT", "1e999"), ("DEBUGINFOD_TIMEOUT", "1e300"), ("DEBUGINFOD_TIMEOUT", "soon"),
    ("DEBUGINFOD_MAXTIME", "nan"), ("DEBUGINFOD_MAXTIME", "-5"), ("DEBUGINFOD_MAXTIME", "inf"),
    ("DEBUGINFOD_MAXSIZE", "inf"), ("DEBUGINFOD_MAXSIZE", "-1"), ("DEBUGINFOD_MAXSIZE", "1.5"),
]


@pytest.mark.parametrize("var,value", BAD_ENV, ids=["%s=%s" % b for b in BAD_ENV])
def test_bad_setting_is_one_line_exit_2(tmp_path, var, value):
    r = running(tmp_path, "http://127.0.0.1:9", **{var: value})
    assert_error(r, "%s=%s" % (var, value))
    assert "report this" not in r.stderr


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/", "http://127.0.0.1:x/",
                                 "file://elsewhere.example/srv/debuginfod"])
def test_bad_server_url_is_one_line_exit_2(tmp_path, url):
    for how in ("argument", "environment"):
        if how == "argument":
            r = running(tmp_path, url)
        else:
            r = run_bounded("running", "--notes", notes(tmp_path), "--debuginfod",
                            env=environment(tmp_path, DEBUGINFOD_URLS=url), timeout=10)
        assert_error(r, url)
        assert "report this" not in r.stderr


# ------------------------------------------------------------ 6. still a client

def test_http_proxy_from_the_environment_is_used(serve, tmp_path):
    data, bid = elf()
    proxy = good_server(serve, data)
    r = run_bounded("running", "--notes", notes(tmp_path, bid), "--debuginfod",
                    "http://debuginfod.invalid:8002", timeout=10,
                    env=environment(tmp_path, http_proxy=proxy.url))
    assert r.returncode == 0, r
    assert proxy.requests[0].startswith(
        "GET http://debuginfod.invalid:8002/buildid/%s/debuginfo HTTP/1.1\r\n" % bid)

