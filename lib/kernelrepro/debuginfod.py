# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Find a kernel's debug symbols by GNU build-id through debuginfod.

gdb, perf, drgn and crash fetch debug files from debuginfod servers
(``$DEBUGINFOD_URLS``): ``GET <server>/buildid/<hex id>/debuginfo``.
OE-Core's ``scripts/oe-debuginfod`` serves a build's package feed that way;
Debian, Fedora and Ubuntu run public servers. This module asks the same
question the debugger will: is there a debug file for *this* build-id?

Standard library only: a small HTTP/1.1 client of its own (sockets, and
``ssl`` for https), because every wait and every byte of a server's answer
must be bounded, which urllib's per-read socket timeout cannot do against a
server that drips one byte at a time, or sends ``100 Continue`` or trailer
lines without end. The bounds, with elfutils' client's meaning of its
variables (debuginfod-client-config(7)):

* ``$DEBUGINFOD_TIMEOUT`` (default 90 s; 0: none): connecting and the first
  100 KiB must take at most this long, and so must every further 100 KiB
  (a server that does not deliver 100 KiB within that many seconds is
  skipped). Checked around every receive, not as a per-read timeout.
* ``$DEBUGINFOD_MAXTIME`` (default 0: none): one deadline for the whole
  fetch, every server, redirect, name look-up and read included.
* ``$DEBUGINFOD_MAXSIZE`` (default 0: none) and ``--max-size``, the smaller
  one: a declared Content-Length past it is refused before the body, and
  the body's bytes are counted as they arrive (also chunked ones). The
  server is told (``X-DEBUGINFOD-MAXSIZE``), as elfutils does.
* What is not the body is bounded too: the status line and headers (64 KiB,
  with at most 10 interim ``1xx`` answers), each chunk-size line, the
  trailers, 10 redirects (to http or https only).

A bad value of any of them (not a number, negative, infinite, NaN) is a
one-line error, never a guess. ``file://`` servers are read only if the
file is a regular one (a FIFO or a device is refused, unopened or unread).
Every string a server sends is escaped (``errors.printable``) before it is
printed. An answer counts only if it is an ELF file carrying the requested
build-id.

The cache is elfutils' (``$DEBUGINFOD_CACHE_PATH``, else
``$XDG_CACHE_HOME/debuginfod_client``, else
``~/.cache/debuginfod_client``; ``<build-id>/debuginfo``), so the debugger
and this tool share downloads: a download is written to a temporary file
there and renamed into place only after its build-id was checked, and a
cached file is used only if it is a regular ELF file with the requested
build-id (otherwise it is fetched again; elfutils' empty "failed query"
marker counts as absent). When the cache cannot be written the download
goes to a temporary directory, with a note.

Outcomes: found (the file, the URL, the server's own path for it);
``NotFound`` when every server answered "404 not found" (exit 1 in the
CLI); ``KernelReproError`` (exit 2) when a server could not be asked or
answered something unusable and no other server had the file.
"""

import contextlib
import math
import os
import re
import stat
import tempfile
import time

from .errors import KernelReproError, printable

SCHEMES = ("http", "https", "file")
DEFAULT_TIMEOUT = 90
CHUNK = 1 << 20
#: elfutils: a server must deliver this much in every DEBUGINFOD_TIMEOUT seconds
RATE_BYTES = 100 << 10
#: status line and header fields of one answer, interim (1xx) answers included
HEAD_MAX = 64 << 10
#: trailer fields after the last chunk
TRAILER_MAX = 64 << 10
#: one chunk-size line (with its extensions)
CHUNK_LINE_MAX = 4096
MAX_INTERIM = 10
MAX_REDIRECTS = 10
#: the longest time a setting may give, in seconds (about 68 years)
MAX_SECONDS = (1 << 31) - 1
RECV = 64 << 10
REDIRECT_CODES = (301, 302, 303, 307, 308)
#: elfutils' cache directory under $XDG_CACHE_HOME or ~/.cache
CACHE_NAME = "debuginfod_client"


class NotFound(KernelReproError):
    """Every server answered that it has no debug info for the build-id."""

    def __init__(self, build_id, servers):
        KernelReproError.__init__(self, "no debug info for %s on %s" % (build_id, ", ".join(servers)))
        self.build_id = build_id
        self.servers = list(servers)


class Found:
    """A verified debug file: ``path``, and where it came from: ``url``/``server``
    (None when it was already in the cache), ``cache_dir`` when it is in the cache."""

    def __init__(self, path, url, server, headers, size, build_id, cache_dir=None):
        self.path, self.url, self.server, self.size, self.build_id = path, url, server, size, build_id
        # debuginfod names the file it served, and the archive (rpm/deb) it came from
        self.file = headers.get("x-debuginfod-file") if headers else None
        self.archive = headers.get("x-debuginfod-archive") if headers else None
        #: the cache directory holding ``path`` (None: a temporary file)
        self.cache_dir = cache_dir
        #: servers (or a cached file) skipped before this one, with why
        self.problems = []
        #: other remarks for the user (the cache could not be written)
        self.notes = []

    @property
    def cached(self):
        """True when the cache had the file (no server was asked)."""
        return self.url is None

    @property
    def source(self):
        return self.url or self.path

    def where(self):
        if self.cached:
            return "%s (debuginfod cache)" % printable(self.path)
        parts = [printable(self.url)]
        if self.archive:
            parts.append("in %s" % printable(self.archive))
        if self.file:
            parts.append("as %s" % printable(self.file))
        return " ".join(parts)

    def as_dict(self):
        return {"url": self.url, "server": self.server, "archive": self.archive,
                "file": self.file, "bytes": self.size, "build_id": self.build_id,
                "cache": self.path if self.cache_dir else None, "from_cache": self.cached}


class _Refused(KernelReproError):
    """One server's answer is unusable (error text without the server name)."""


# ------------------------------------------------------------ settings

def _url_problem(word):
    """Why ``word`` is not a usable server URL, or None."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(word)
        scheme = parts.scheme.lower()
        host = parts.hostname
        parts.port   # raises ValueError when out of range or not a number
    except ValueError as e:
        return "not a valid URL (%s)" % e
    if scheme not in SCHEMES:
        return "not a debuginfod server URL (http://, https:// or file:// only)"
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "a file:// URL of another host (%s); only local file:// URLs can be read" % parts.netloc
        return None
    if not host:
        return "no host name in the debuginfod server URL"
    if any(not (0x20 < ord(c) < 0x7f) for c in word):
        return "not a valid URL (a space, control or non-ASCII character)"
    return None


def server_urls(arg, environ=None):
    """``--debuginfod`` value -> list of server URLs.

    ``arg`` is the URL(s) given (space-separated like $DEBUGINFOD_URLS), or
    empty to use ``$DEBUGINFOD_URLS``. ``ima:`` policy words of newer
    elfutils clients are skipped. KernelReproError when there is no server
    or a URL is not an http, https or local file URL.
    """
    environ = os.environ if environ is None else environ
    text = arg if arg else environ.get("DEBUGINFOD_URLS", "")
    urls = []
    for word in text.split():
        if word.startswith("ima:"):
            continue
        problem = _url_problem(word)
        if problem:
            raise KernelReproError("%s: %s" % (word, problem))
        urls.append(word)
    if not urls:
        raise KernelReproError("no debuginfod server: give --debuginfod URL or set DEBUGINFOD_URLS")
    return urls


def _seconds(environ, name, zero_means):
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or math.isnan(value) or math.isinf(value) or value < 0:
        raise KernelReproError("%s=%s: not a number of seconds >= 0 (0: %s)"
                               % (name, text, zero_means))
    if value > MAX_SECONDS:
        raise KernelReproError("%s=%s: more than %d seconds (0: %s)"
                               % (name, text, MAX_SECONDS, zero_means))
    return value


def limits(environ=None):
    """$DEBUGINFOD_TIMEOUT, _MAXTIME and _MAXSIZE as elfutils reads them ->
    {"timeout": seconds or None, "maxtime": seconds or None, "maxsize": bytes or None}.

    Unset or empty: the default (90 s; no limit; no limit). 0: none.
    KernelReproError (one line) for a value that is not a finite number
    >= 0 (a whole one for MAXSIZE).
    """
    environ = os.environ if environ is None else environ
    timeout = _seconds(environ, "DEBUGINFOD_TIMEOUT", "no timeout")
    if timeout is None and not environ.get("DEBUGINFOD_TIMEOUT", "").strip():
        timeout = DEFAULT_TIMEOUT
    maxtime = _seconds(environ, "DEBUGINFOD_MAXTIME", "no limit")
    text = environ.get("DEBUGINFOD_MAXSIZE", "").strip()
    maxsize = None
    if text:
        if not re.match(r"^\+?[0-9]+$", text):
            raise KernelReproError("DEBUGINFOD_MAXSIZE=%s: not a whole number of bytes >= 0 (0: no limit)"
                                   % text)
        maxsize = int(text)
    return {"timeout": timeout or None, "maxtime": maxtime or None, "maxsize": maxsize or None}


def cache_path(environ=None):
    """elfutils' client cache directory, or None when the environment names none.

    ``$DEBUGINFOD_CACHE_PATH``; else ``~/.debuginfod_client_cache`` if it
    exists (elfutils' old place); else ``$XDG_CACHE_HOME/debuginfod_client``;
    else ``$HOME/.cache/debuginfod_client``.
    """
    environ = os.environ if environ is None else environ
    if environ.get("DEBUGINFOD_CACHE_PATH"):
        return environ["DEBUGINFOD_CACHE_PATH"]
    home = environ.get("HOME")
    if home and os.path.isdir(os.path.join(home, ".debuginfod_client_cache")):
        return os.path.join(home, ".debuginfod_client_cache")
    if environ.get("XDG_CACHE_HOME"):
        return os.path.join(environ["XDG_CACHE_HOME"], CACHE_NAME)
    if home:
        return os.path.join(home, ".cache", CACHE_NAME)
    return None


# ------------------------------------------------------------ time

class _Clock:
    """The bounds of the waits for one server's answer.

    ``deadline`` (monotonic, or None) is DEBUGINFOD_MAXTIME's, shared by
    every server and redirect. ``timeout`` is DEBUGINFOD_TIMEOUT's rule:
    the current window ends ``timeout`` seconds after it began (at the
    connection's start), and only 100 KiB received in it start a new one.
    """

    def __init__(self, timeout, maxtime, deadline):
        self.timeout, self.maxtime, self.deadline = timeout, maxtime, deadline
        self.restart()

    def restart(self):
        """A new connection: a new window, no bytes yet."""
        self.window = time.monotonic()
        self.window_bytes = 0
        self.received = 0

    def got(self, n):
        self.received += n
        self.window_bytes += n
        if self.window_bytes >= RATE_BYTES:
            self.window = time.monotonic()
            self.window_bytes = 0

    def left(self):
        """Seconds the next wait may take (None: unbounded); _Refused when none are left."""
        now = time.monotonic()
        left = None
        if self.deadline is not None:
            left = self.deadline - now
            if left <= 0:
                raise _Refused("the download took longer than %g s (DEBUGINFOD_MAXTIME)" % self.maxtime)
        if self.timeout is not None:
            window = self.window + self.timeout - now
            if window <= 0:
                if not self.received:
                    raise _Refused("no answer within %g s (DEBUGINFOD_TIMEOUT)" % self.timeout)
                raise _Refused("the answer stalled: less than 100 KiB in %g s (DEBUGINFOD_TIMEOUT)"
                               % self.timeout)
            left = window if left is None else min(left, window)
        return left


def _wait(sock, write, seconds):
    import selectors
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE if write else selectors.EVENT_READ)
        sel.select(seconds)


def _ssl_want():
    """(want-read, want-write) exception classes of ssl, or empty tuples without it."""
    try:
        import ssl
    except ImportError:
        return (), ()
    return (ssl.SSLWantReadError,), (ssl.SSLWantWriteError,)


def _resolve(host, port, clock):
    """getaddrinfo(), bounded by the clock (it runs in a thread when the name is no address)."""
    import socket
    import threading
    try:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        pass
    result = {}

    def look_up():
        try:
            result["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as e:
            result["error"] = e
    t = threading.Thread(target=look_up, name="kernel-repro-resolve", daemon=True)
    t.start()
    while t.is_alive():
        t.join(clock.left())
    if "error" in result:
        e = result["error"]
        raise _Refused("cannot connect: %s: %s" % (host, getattr(e, "strerror", None) or e))
    return result["infos"]


# ------------------------------------------------------------ HTTP

class _Conn:
    """A non-blocking socket whose every wait is bounded by ``clock``, read through a buffer."""

    def __init__(self, sock, clock):
        self.sock, self.clock = sock, clock
        self.buf = bytearray()
        self.want_read, self.want_write = _ssl_want()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        view = memoryview(data)
        while view:
            left = self.clock.left()
            try:
                n = self.sock.send(view)
            except (BlockingIOError, InterruptedError) + self.want_write:
                _wait(self.sock, True, left)
                continue
            except self.want_read:
                _wait(self.sock, False, left)
                continue
            except OSError as e:
                raise _Refused("cannot send the request: %s" % (e.strerror or e))
            view = view[n:]

    def _recv(self):
        """Up to RECV bytes (b"" at the end)."""
        while True:
            left = self.clock.left()
            try:
                data = self.sock.recv(RECV)
            except (BlockingIOError, InterruptedError) + self.want_read:
                _wait(self.sock, False, left)
                continue
            except self.want_write:
                _wait(self.sock, True, left)
                continue
            except OSError as e:
                raise _Refused("the connection failed after %d bytes: %s"
                               % (self.clock.received, e.strerror or e))
            self.clock.got(len(data))
            return data

    def readline(self, cap, too_long):
        """One line with its b"\\n" (without it at the end of the stream; b"" there);
        _Refused(too_long) when none ends within ``cap`` bytes."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start, cap)
            if end >= 0:
                line = bytes(self.buf[:end + 1])
                del self.buf[:end + 1]
                return line
            if len(self.buf) >= cap:
                raise _Refused(too_long)
            start = len(self.buf)
            data = self._recv()
            if not data:
                line = bytes(self.buf)
                self.buf.clear()
                return line
            self.buf += data

    def read(self, n):
        """Up to ``n`` bytes (b"" at the end of the stream)."""
        if not self.buf:
            data = self._recv()
            if len(data) <= n:
                return data
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def start_tls(self, hostname):
        try:
            import ssl
        except ImportError:
            raise _Refused("https needs Python's ssl module, which is not installed")
        try:
            self.sock = ssl.create_default_context().wrap_socket(
                self.sock, server_hostname=hostname, do_handshake_on_connect=False)
        except (OSError, ValueError) as e:
            raise _Refused("cannot start TLS: %s" % e)
        while True:
            left = self.clock.left()
            try:
                self.sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                _wait(self.sock, False, left)
            except ssl.SSLWantWriteError:
                _wait(self.sock, True, left)
            except ssl.SSLCertVerificationError as e:
                raise _Refused("TLS: the server's certificate is not trusted (%s)"
                               % (e.verify_message or e))
            except OSError as e:
                raise _Refused("TLS handshake failed: %s" % (e.strerror or e))


def _connect(host, port, clock):
    import socket
    infos = _resolve(host, port, clock)
    error = None
    for family, kind, proto, _name, addr in infos:
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as e:
            error = e
            continue
        try:
            sock.setblocking(False)
            try:
                sock.connect(addr)
            except (BlockingIOError, InterruptedError):
                while True:
                    _wait(sock, True, clock.left())
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    try:
                        sock.getpeername()
                        break
                    except OSError:   # not connected yet: the wait ran out
                        continue
            return _Conn(sock, clock)
        except OSError as e:
            sock.close()
            error = e
        except BaseException:
            sock.close()
            raise
    raise _Refused("cannot connect: %s" % (getattr(error, "strerror", None) or error or
                                           "no address for %s" % host))


def _header_block(conn, cap, too_long):
    """Header fields up to the empty line -> ([(lower-case name, value)], bytes read)."""
    fields, used = [], 0
    while True:
        line = conn.readline(cap - used, too_long)
        used += len(line)
        if not line.endswith(b"\n"):
            raise _Refused("the answer broke off in its header section")
        line = line.rstrip(b"\r\n")
        if not line:
            return fields, used
        if line[:1] in (b" ", b"\t") and fields:      # obsolete line folding
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("latin-1"))
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise _Refused("a malformed header line %s" % printable(repr(line[:60])))
        fields.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))


def _answer(conn):
    """Status line and headers of the final answer -> (code, reason, fields)."""
    too_long = "the answer's header section is longer than %d bytes" % HEAD_MAX
    used = interim = 0
    while True:
        line = conn.readline(HEAD_MAX - used, too_long)
        used += len(line)
        if not line:
            raise _Refused("the server closed the connection without an answer")
        m = re.match(br"HTTP/1\.[0-9] ([0-9]{3})(?:[ \t]([^\r\n]*))?\r?\n$", line)
        if not m:
            raise _Refused("not an HTTP answer (it starts with %s)" % printable(repr(line[:40])))
        code, reason = int(m.group(1)), printable((m.group(2) or b"").strip().decode("latin-1"))
        fields, n = _header_block(conn, HEAD_MAX - used, too_long)
        used += n
        if code == 101:
            raise _Refused("the server switches protocols (HTTP 101)")
        if 100 <= code < 200:
            interim += 1
            if interim > MAX_INTERIM:
                raise _Refused("the server sent more than %d interim (1xx) answers" % MAX_INTERIM)
            continue
        return code, reason, fields


def _save(dest, data):
    try:
        dest.write(data)
    except OSError as e:
        raise KernelReproError("%s: cannot write: %s" % (dest.name, e.strerror or e))


def _body(conn, fields, dest, limit, too_big):
    """Copy the answer's body to ``dest`` -> its size; _Refused(too_big) past ``limit`` bytes."""
    headers = dict(fields)
    size = 0
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise _Refused("unsupported Transfer-Encoding %s" % printable(encoding))
        while True:
            line = conn.readline(CHUNK_LINE_MAX, "the answer's chunk size line is longer than %d bytes"
                                 % CHUNK_LINE_MAX)
            if not line.endswith(b"\n"):
                raise _Refused("the answer broke off after %d bytes" % size)
            digits = line.split(b";", 1)[0].strip()
            if not re.match(br"^[0-9A-Fa-f]{1,16}$", digits):
                raise _Refused("a malformed chunk size %s" % printable(repr(line[:40])))
            n = int(digits, 16)
            if not n:
                break
            if size + n > limit:
                raise _Refused(too_big)
            while n:
                data = conn.read(min(n, RECV))
                if not data:
                    raise _Refused("the answer broke off after %d bytes" % size)
                _save(dest, data)
                n -= len(data)
                size += len(data)
            if conn.readline(2, "a malformed chunk end") not in (b"\r\n", b"\n"):
                raise _Refused("a malformed chunk end")
        _header_block(conn, TRAILER_MAX, "the answer's trailer section is longer than %d bytes"
                      % TRAILER_MAX)
        return size
    lengths = set()
    for name, value in fields:
        if name == "content-length":
            lengths.update(x.strip() for x in value.split(","))
    length = None
    if lengths:
        if len(lengths) > 1 or not re.match(r"^[0-9]{1,19}$", next(iter(lengths))):
            raise _Refused("a malformed Content-Length %s" % printable(", ".join(sorted(lengths))))
        length = int(lengths.pop())
        if length > limit:
            raise _Refused(too_big)
    while length is None or size < length:
        data = conn.read(RECV if length is None else min(RECV, length - size))
        if not data:
            if length is not None:
                raise _Refused("the answer broke off after %d of %d bytes" % (size, length))
            break
        size += len(data)
        if size > limit:
            raise _Refused(too_big)
        _save(dest, data)
    return size


def _proxy(scheme, host, environ):
    """(host, port, authorization header or None) of the proxy for ``scheme`` in
    ``environ`` ($http_proxy, $https_proxy, $no_proxy as urllib reads them), or None."""
    import urllib.request
    from urllib.parse import unquote, urlsplit
    value = environ.get(scheme + "_proxy") or environ.get(scheme.upper() + "_PROXY")
    if scheme == "http" and "REQUEST_METHOD" in environ:
        value = environ.get("http_proxy")        # CGI: HTTP_PROXY is a request header
    if not value:
        return None
    no = environ.get("no_proxy") or environ.get("NO_PROXY")
    if no and urllib.request.proxy_bypass_environment(host, {"no": no}):
        return None
    if "://" not in value:
        value = "http://" + value
    try:
        parts = urlsplit(value)
        port = parts.port or 80
    except ValueError as e:
        raise _Refused("the proxy %s_proxy=%s is not a valid URL (%s)" % (scheme, value, e))
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise _Refused("the proxy %s_proxy=%s is not an http:// proxy" % (scheme, value))
    auth = None
    if parts.username is not None:
        import base64
        auth = "Basic " + base64.b64encode(("%s:%s" % (unquote(parts.username), unquote(
            parts.password or ""))).encode("utf-8")).decode("ascii")
    return parts.hostname, port, auth


def _http(url, dest, limit, too_big, clock, maxsize, environ):
    """GET ``url`` (following redirects) into ``dest`` -> (headers, size)."""
    from urllib.parse import urljoin, urlsplit
    from . import __version__
    redirects = 0
    while True:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        name = "[%s]" % host if ":" in host else host
        hostport = "%s:%d" % (name, port) if parts.port else name
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        proxy = _proxy(scheme, host, environ)
        extra = ["User-Agent: kernel-repro/%s" % __version__, "Accept-Encoding: identity",
                 "Connection: close"]
        if maxsize:
            extra.append("X-DEBUGINFOD-MAXSIZE: %d" % maxsize)
        clock.restart()
        conn = _connect(proxy[0], proxy[1], clock) if proxy else _connect(host, port, clock)
        try:
            if proxy and scheme == "http":
                target = "http://%s%s" % (hostport, target)
                if proxy[2]:
                    extra.append("Proxy-Authorization: " + proxy[2])
            elif proxy:
                auth = "Proxy-Authorization: %s\r\n" % proxy[2] if proxy[2] else ""
                conn.send(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n"
                           % (name, port, name, port, auth)).encode("ascii"))
                code, reason, _fields = _answer(conn)
                if code != 200 or conn.buf:
                    raise _Refused("the proxy refused the tunnel: HTTP %d %s" % (code, reason))
            if scheme == "https":
                conn.start_tls(host)
            conn.send(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n"
                       % (target, hostport, "\r\n".join(extra))).encode("ascii"))
            code, reason, fields = _answer(conn)
            if code == 200:
                size = _body(conn, fields, dest, limit, too_big)
                return dict(fields), size
        finally:
            conn.close()
        if code == 404:
            raise FileNotFoundError(url)
        if code in REDIRECT_CODES:
            location = dict(fields).get("location")
            if not location:
                raise _Refused("HTTP %d %s without a Location" % (code, reason))
            try:
                new = urljoin(url, location.strip())
                scheme = urlsplit(new).scheme.lower()
            except ValueError:
                new, scheme = location, ""
            if scheme not in ("http", "https"):
                raise _Refused("redirected to %s (only http and https redirects are followed)"
                               % printable(new))
            problem = _url_problem(new)
            if problem:
                raise _Refused("redirected to %s: %s" % (printable(new), problem))
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise _Refused("more than %d redirects (the last to %s)" % (MAX_REDIRECTS, printable(new)))
            url = new
            continue
        if code == 406 and maxsize:
            raise _Refused("HTTP 406 %s: the server's file is larger than DEBUGINFOD_MAXSIZE (%d bytes)"
                           % (reason, maxsize))
        raise _Refused("HTTP %d %s" % (code, reason))


# ------------------------------------------------------------ files

def _open_regular(path, nofollow=False):
    """An open binary file if ``path`` is a regular file; FileNotFoundError when
    absent; _Refused for anything else (a FIFO is never waited on: O_NONBLOCK)."""
    from .safefile import kind_of
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(path)
    except PermissionError:
        raise
    except OSError as e:
        try:
            mode = os.lstat(path).st_mode if nofollow else os.stat(path).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            raise _Refused("%s is a symbolic link, not a regular file" % path)
        if mode and not stat.S_ISREG(mode):
            raise _Refused("%s is a %s, not a regular file" % (path, kind_of(mode)))
        raise _Refused("cannot open %s: %s" % (path, e.strerror or e))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused("%s is a %s, not a regular file" % (path, kind_of(st.st_mode)))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _file(url, dest, limit, too_big, clock):
    """Copy a file:// URL's regular file into ``dest`` -> ({}, size)."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname
    path = url2pathname(urlsplit(url).path)
    try:
        src = _open_regular(path)
    except FileNotFoundError:
        raise FileNotFoundError(url)
    except PermissionError as e:
        raise _Refused("cannot open %s: %s" % (path, e.strerror or e))
    size = 0
    with src:
        if os.fstat(src.fileno()).st_size > limit:
            raise _Refused(too_big)
        while True:
            clock.left()
            try:
                data = src.read(min(CHUNK, limit + 1 - size))
            except OSError as e:
                raise _Refused("cannot read %s: %s" % (path, e.strerror or e))
            if not data:
                return {}, size
            size += len(data)
            if size > limit:
                raise _Refused(too_big)
            _save(dest, data)


def _check(path, build_id, limit):
    """Why the file at ``path`` is not the debug file of ``build_id`` (None: it is)."""
    from . import image
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"\x7fELF":
        return "not an ELF file (it starts with %s)" % printable(repr(magic))
    try:
        got = image.read_build_id(path, limit)
    except KernelReproError as e:
        return "not a usable ELF file (%s)" % str(e).replace(path + ": ", "")
    if got != build_id:
        return "an ELF file with build-id %s, not %s" % (got, build_id)
    return None


def _cached(entry, build_id, limit):
    """(True, None) when ``entry`` is a usable cached file, else (False, why or None)."""
    try:
        f = _open_regular(entry, nofollow=True)
    except (FileNotFoundError, PermissionError):   # PermissionError: elfutils' old 000-mode
        return False, None                         # marker of a failed query
    except _Refused as e:
        return False, "%s (a cached file; not used)" % e
    with f:
        if not os.fstat(f.fileno()).st_size:   # elfutils' marker of a failed query
            return False, None
    why = _check(entry, build_id, limit)
    if why:
        return False, "%s: %s (a cached file; not used)" % (entry, why)
    return True, None


# ------------------------------------------------------------ fetch

def _temporary(directory, kind):
    """(open file, path) of a new temporary file in ``directory``; signals held meanwhile."""
    from .safefile import hold_signals, release_signals
    old = hold_signals()
    try:
        fd, path = tempfile.mkstemp(prefix="%s." % kind, dir=directory)
        return os.fdopen(fd, "wb"), path
    finally:
        release_signals(old)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _keep(path, entry, directory, notes):
    """Rename the checked download at ``path`` to the cache ``entry`` -> (its path,
    the cache directory or None); when that fails, move it to ``directory``, with a note."""
    import shutil
    try:
        os.chmod(path, 0o400)   # as elfutils leaves its cached files
        os.replace(path, entry)
        return entry, os.path.dirname(os.path.dirname(entry))
    except OSError as e:
        notes.append("not caching the debug file: %s: %s" % (entry, e.strerror or e))
    moved = os.path.join(directory, os.path.basename(path))
    shutil.move(path, moved)
    return moved, None


def fetch(build_id, servers, directory, limit, environ=None, kind="debuginfo"):
    """The debug file of ``build_id`` (``kind`` "debuginfo" or "executable"): from
    the cache, else from each server in turn; returns ``Found``.

    Downloads go to the cache (see ``cache_path``; none when the environment
    names none), else into ``directory`` (the caller removes it). Raises
    ``NotFound`` when every server said 404, else ``KernelReproError``
    naming each server's problem when none had a usable answer.
    """
    environ = os.environ if environ is None else environ
    build_id = build_id.lower()
    if not re.match(r"^[0-9a-f]{2,256}$", build_id):
        raise KernelReproError("%s: not a build-id (hexadecimal digits)" % printable(build_id))
    if kind not in ("debuginfo", "executable"):
        raise ValueError(kind)
    settings = limits(environ)
    what = "--max-size"
    if settings["maxsize"] is not None and settings["maxsize"] < limit:
        limit, what = settings["maxsize"], "DEBUGINFOD_MAXSIZE"
    too_big = "the answer is larger than the %d-byte limit (%s)" % (limit, what)
    deadline = time.monotonic() + settings["maxtime"] if settings["maxtime"] else None
    clock = _Clock(settings["timeout"], settings["maxtime"], deadline)
    problems, missing, notes = [], [], []
    cache = cache_path(environ)
    store = entry = None
    if cache:
        entry = os.path.join(cache, build_id, kind)
        hit, why = _cached(entry, build_id, limit)
        if hit:
            return Found(entry, None, None, None, os.path.getsize(entry), build_id, cache)
        if why:
            problems.append(why)
        try:
            os.makedirs(os.path.join(cache, build_id), mode=0o700, exist_ok=True)
            store = os.path.join(cache, build_id)
        except OSError as e:
            notes.append("not caching the debug file: %s: %s" % (cache, e.strerror or e))
    for server in servers:
        url = "%s/buildid/%s/%s" % (server.rstrip("/"), build_id, kind)
        cache_dir = None
        if store:
            try:
                dest, path = _temporary(store, kind)
            except OSError as e:   # a cache directory of another user, a read-only file system
                notes.append("not caching the debug file: %s: %s" % (store, e.strerror or e))
                store = None
        if not store:
            dest, path = _temporary(directory, kind)
        try:
            with dest:
                if url.lower().startswith("file:"):
                    headers, size = _file(url, dest, limit, too_big, clock)
                else:
                    headers, size = _http(url, dest, limit, too_big, clock, settings["maxsize"],
                                          environ)
            why = _check(path, build_id, limit)
            if why:
                raise _Refused("the answer is " + why)
            if store:
                path, cache_dir = _keep(path, entry, directory, notes)
        except FileNotFoundError:
            missing.append(server)
        except _Refused as e:
            problems.append("%s: %s" % (url, e))
        except BaseException:
            _unlink(path)
            raise
        else:
            found = Found(path, url, server, headers, size, build_id, cache_dir)
            found.problems, found.notes = problems, notes
            return found
        _unlink(path)
    if not problems:
        raise NotFound(build_id, missing)
    if missing:
        problems.append("not found on %s" % ", ".join(missing))
    raise KernelReproError("cannot get debug info for %s from debuginfod: %s"
                           % (build_id, "; ".join(problems)))


# ------------------------------------------------------------ for a command

def servers(arg, environ=None):
    """server_urls(``arg``), with the DEBUGINFOD_* limits checked too: a bad
    setting is an error before anything is read."""
    urls = server_urls(arg, environ)
    limits(environ)
    return urls


@contextlib.contextmanager
def fetched(build_id, servers, limit):
    """fetch() into a temporary directory, removed on the way out: yields the
    ``Found`` (its notes and problems for the user); raises ``NotFound``."""
    with tempfile.TemporaryDirectory(prefix="kernel-repro-debuginfod-") as tmp:
        yield fetch(build_id, servers, tmp, limit)
