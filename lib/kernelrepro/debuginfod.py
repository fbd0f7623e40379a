# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Find a kernel's debug symbols by GNU build-id through debuginfod.

gdb, perf, drgn and crash fetch debug files from debuginfod servers
(``$DEBUGINFOD_URLS``): ``GET <server>/buildid/<hex id>/debuginfo``.
OE-Core's ``scripts/oe-debuginfod`` serves a build's package feed that way;
Debian, Fedora and Ubuntu run public servers. This module asks the same
question the debugger will: is there a debug file for *this* build-id?

Standard library only (urllib). Every answer is bounded: a timeout on each
network operation (``$DEBUGINFOD_TIMEOUT``, default 90 s, as elfutils'
client), an optional total time (``$DEBUGINFOD_MAXTIME``), a size cap (the
``--max-size`` limit; ``$DEBUGINFOD_MAXSIZE`` when smaller), streamed to a
temporary file. Only http, https and file URLs are used (redirects only to
http/https). An answer counts only if it is an ELF file carrying the
requested build-id.

Outcomes: found (the file, the URL, the server's own path for it);
``NotFound`` when every server answered "404 not found" (exit 1 in the
CLI); ``KernelReproError`` (exit 2) when a server could not be asked or
answered something unusable and no other server had the file.
"""

import os
import tempfile
import time

from .errors import KernelReproError

SCHEMES = ("http", "https", "file")
DEFAULT_TIMEOUT = 90
CHUNK = 1 << 20


class NotFound(KernelReproError):
    """Every server answered that it has no debug info for the build-id."""

    def __init__(self, build_id, servers):
        KernelReproError.__init__(self, "no debug info for %s on %s" % (build_id, ", ".join(servers)))
        self.build_id = build_id
        self.servers = list(servers)


class Found:
    """A verified debug file: ``path`` (temporary), ``url``, ``server``, where the server had it."""

    def __init__(self, path, url, server, headers, size, build_id):
        self.path, self.url, self.server, self.size, self.build_id = path, url, server, size, build_id
        # debuginfod names the file it served, and the archive (rpm/deb) it came from
        self.file = headers.get("x-debuginfod-file") if headers else None
        self.archive = headers.get("x-debuginfod-archive") if headers else None
        #: servers skipped before this one, with why
        self.problems = []

    def where(self):
        parts = [self.url]
        if self.archive:
            parts.append("in %s" % self.archive)
        if self.file:
            parts.append("as %s" % self.file)
        return " ".join(parts)

    def as_dict(self):
        return {"url": self.url, "server": self.server, "archive": self.archive,
                "file": self.file, "bytes": self.size, "build_id": self.build_id}


class _Refused(KernelReproError):
    """One server's answer is unusable (error text without the server name)."""


def server_urls(arg, environ=None):
    """``--debuginfod`` value -> list of server URLs.

    ``arg`` is the URL(s) given (space-separated like $DEBUGINFOD_URLS), or
    empty to use ``$DEBUGINFOD_URLS``. ``ima:`` policy words of newer
    elfutils clients are skipped. KernelReproError when there is no server
    or a URL has a scheme other than http, https or file.
    """
    environ = os.environ if environ is None else environ
    text = arg if arg else environ.get("DEBUGINFOD_URLS", "")
    from urllib.parse import urlsplit
    urls = []
    for word in text.split():
        if word.startswith("ima:"):
            continue
        parts = urlsplit(word)
        if parts.scheme.lower() not in SCHEMES:
            raise KernelReproError("%s: not a debuginfod server URL (http://, https:// or file:// only)"
                                   % word)
        if parts.scheme.lower() != "file" and not parts.hostname:
            raise KernelReproError("%s: no host name in the debuginfod server URL" % word)
        urls.append(word)
    if not urls:
        raise KernelReproError("no debuginfod server: give --debuginfod URL or set DEBUGINFOD_URLS")
    return urls


def _env_number(environ, name, default):
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise KernelReproError("%s=%r: not a number" % (name, text))
    return value if value > 0 else default


def _opener():
    import urllib.request

    class Redirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            from urllib.parse import urlsplit
            if urlsplit(newurl).scheme.lower() not in ("http", "https"):
                raise _Refused("redirected to %s (only http and https redirects are followed)"
                               % newurl)
            return urllib.request.HTTPRedirectHandler.redirect_request(
                self, req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(Redirect)


def _download(url, dest, limit, timeout, deadline):
    """Stream ``url`` to the open binary file ``dest``; returns (headers, size).

    Raises NotFound-worthy ``FileNotFoundError`` for 404 / a missing file
    URL, ``_Refused`` for everything unusable.
    """
    import http.client
    import socket
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": "kernel-repro"})
    try:
        resp = _opener().open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 404:
            raise FileNotFoundError(url)
        raise _Refused("HTTP %d %s" % (e.code, e.reason))
    except urllib.error.URLError as e:
        if isinstance(e.reason, FileNotFoundError):
            raise FileNotFoundError(url)
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise _Refused("no answer within %g s (DEBUGINFOD_TIMEOUT)" % timeout)
        reason = e.reason
        raise _Refused("cannot connect: %s" % (getattr(reason, "strerror", None) or reason))
    except (socket.timeout, TimeoutError):
        raise _Refused("no answer within %g s (DEBUGINFOD_TIMEOUT)" % timeout)
    except (http.client.HTTPException, OSError, ValueError) as e:
        raise _Refused("failed: %s" % (getattr(e, "strerror", None) or e or type(e).__name__))
    too_big = _Refused("the answer is larger than the %d-byte limit (--max-size)" % limit)
    size = 0
    with resp:
        length = resp.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > limit:
            raise too_big
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise _Refused("the download took longer than DEBUGINFOD_MAXTIME")
                chunk = resp.read(min(CHUNK, limit + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise too_big
                dest.write(chunk)
        except (socket.timeout, TimeoutError):
            raise _Refused("the answer stalled for %g s (DEBUGINFOD_TIMEOUT)" % timeout)
        except (http.client.HTTPException, ConnectionError) as e:
            raise _Refused("the answer broke off after %d bytes (%s)" % (size, type(e).__name__))
        if length and length.strip().isdigit() and size < int(length):
            # http.client's read(n) ends quietly when the peer closes early
            raise _Refused("the answer broke off after %d of %s bytes" % (size, length.strip()))
        headers = {k.lower(): v for k, v in resp.headers.items()} if resp.headers else {}
    return headers, size


def _verify(path, build_id, limit):
    """The answer must be an ELF file whose GNU build-id is ``build_id``."""
    from . import image
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"\x7fELF":
        raise _Refused("the answer is not an ELF file (it starts with %r)" % magic)
    try:
        got = image.read_build_id(path, limit)
    except KernelReproError as e:
        raise _Refused("the answer is not a usable ELF file (%s)"
                       % str(e).replace(path + ": ", ""))
    if got != build_id:
        raise _Refused("the answer is an ELF file with build-id %s, not %s" % (got, build_id))


def fetch(build_id, servers, directory, limit, environ=None):
    """Ask each server in turn for the debug file of ``build_id``; returns ``Found``.

    The file is written into ``directory`` (the caller removes it). Raises
    ``NotFound`` when every server said 404, else ``KernelReproError``
    naming each server's problem when none had a usable answer.
    """
    environ = os.environ if environ is None else environ
    build_id = build_id.lower()
    timeout = _env_number(environ, "DEBUGINFOD_TIMEOUT", DEFAULT_TIMEOUT)
    maxtime = _env_number(environ, "DEBUGINFOD_MAXTIME", None)
    maxsize = _env_number(environ, "DEBUGINFOD_MAXSIZE", None)
    if maxsize is not None:
        limit = min(limit, int(maxsize))
    deadline = time.monotonic() + maxtime if maxtime else None
    problems, missing = [], []
    for n, server in enumerate(servers):
        url = "%s/buildid/%s/debuginfo" % (server.rstrip("/"), build_id)
        path = os.path.join(directory, "debuginfo-%d" % n)
        try:
            with open(path, "wb") as dest:
                headers, size = _download(url, dest, limit, timeout, deadline)
            _verify(path, build_id, limit)
        except FileNotFoundError:
            missing.append(server)
        except _Refused as e:
            problems.append("%s: %s" % (url, e))
        else:
            found = Found(path, url, server, headers, size, build_id)
            found.problems = problems
            return found
        if os.path.exists(path):
            os.unlink(path)
    if not problems:
        raise NotFound(build_id, missing)
    if missing:
        problems.append("not found on %s" % ", ".join(missing))
    raise KernelReproError("cannot get debug info for %s from debuginfod: %s"
                           % (build_id, "; ".join(problems)))


def _notes(found, out_err):
    for p in found.problems:
        out_err.write("kernel-repro: note: skipped %s\n" % p)


def cmd_running(args, out, limit, notes):
    """``kernel-repro running --debuginfod [URL]``: can a debugger get the running kernel's symbols?"""
    import sys
    from . import image
    servers = server_urls(args.debuginfod)
    running = image.notes_build_id(notes)
    with tempfile.TemporaryDirectory(prefix="kernel-repro-debuginfod-") as tmp:
        try:
            found = fetch(running, servers, tmp, limit)
        except NotFound as e:
            verdict = "no debug info for the running kernel %s on %s" % (running, ", ".join(e.servers))
            _write(args, out, {"running": running, "notes": notes, "servers": servers,
                               "found": None, "match": False, "verdict": verdict},
                   ["running kernel: %s  %s" % (running, notes), verdict])
            return 1
        _notes(found, sys.stderr)
        verdict = ("match: debug info for the running kernel %s is on %s"
                   % (running, found.server))
        _write(args, out, {"running": running, "notes": notes, "servers": servers,
                           "found": found.as_dict(), "match": True, "verdict": verdict},
               ["running kernel: %s  %s" % (running, notes),
                "debug info:     %s  %s" % (found.build_id, found.where()), verdict])
    return 0


def cmd_check(args, out, limit, report):
    """``kernel-repro check IMAGE --debuginfod [URL]``: the image against the debug file a
    debugger would download; ``report(args, result, debug_name, out)`` prints ``check``'s verdict."""
    import sys
    from . import image
    if args.debug_vmlinux is not None:
        raise KernelReproError("give a DEBUG_VMLINUX or --debuginfod, not both")
    if args.debuginfod is None:
        raise KernelReproError("check needs a DEBUG_VMLINUX or --debuginfod [URL]")
    servers = server_urls(args.debuginfod)
    try:
        from . import compare
    except ImportError as e:
        raise KernelReproError("check needs pyelftools (python3-pyelftools): %s" % e)
    wanted = image.read_build_id(args.image, limit)
    with tempfile.TemporaryDirectory(prefix="kernel-repro-debuginfod-") as tmp:
        try:
            found = fetch(wanted, servers, tmp, limit)
        except NotFound as e:
            verdict = "no debug info for %s (%s) on %s" % (args.image, wanted, ", ".join(e.servers))
            _write(args, out, {"image": args.image, "build_id": wanted, "servers": servers,
                               "found": None, "match": False, "verdict": verdict},
                   ["image:         %s  %s" % (wanted, args.image), verdict])
            return 1
        _notes(found, sys.stderr)
        r = compare.check(args.image, found.path, limit)
    r["debug"]["file"] = found.url
    r["debuginfod"] = found.as_dict()
    if not args.json:
        out.write("found:         %s\n" % found.where())
    return report(args, r, found.url, out)


def _write(args, out, obj, lines):
    if args.json:
        import json
        out.write(json.dumps(obj, indent=1) + "\n")
    else:
        out.write("\n".join(lines) + "\n")
