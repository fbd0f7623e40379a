# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""`kernel-repro running/check --debuginfod`: can a debugger get the symbols?

Real server: Debian's elfutils `debuginfod`, started here on a free
loopback port and stopped by the fixture, serving
  -F  a directory with the reproducible fixture's debug vmlinux
      (`objcopy --only-keep-debug`, a regular file), and
  -R  a directory with an rpm built by Debian's rpmbuild holding the plain
      fixture's debug vmlinux as OE-Core's kernel-dbg does
      (/boot/.debug/vmlinux-<version>), which is how OE-Core's
      scripts/oe-debuginfod serves a build's rpm feed.
The running kernel is the reproducible fixture booted in qemu (its
/sys/kernel/notes read from the serial console).

Answers a real server does not give on demand (404, an oversized, non-ELF
or wrong-build-id body, a stall, a redirect to another scheme) come from a
stdlib http.server on 127.0.0.1 in a thread, also stopped by its fixture.
"""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import CLI, need_tool, readelf_build_id
from test_running_records import notes_bytes, vmlinux_notes

PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")


def cli(*args, env=None, timeout=300):
    """The real command, without proxies (loopback only) or $DEBUGINFOD_URLS
    unless given, with a debuginfod cache of its own (fresh for each run,
    never the real one) unless given."""
    import tempfile
    e = {k: v for k, v in os.environ.items()
         if k not in PROXY_VARS and not k.startswith("DEBUGINFOD_")}
    e.update(env or {})
    if "DEBUGINFOD_CACHE_PATH" not in e:
        with tempfile.TemporaryDirectory(prefix="kernel-repro-test-cache-") as cache:
            e["DEBUGINFOD_CACHE_PATH"] = cache
            return subprocess.run(CLI + [str(a) for a in args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=e, timeout=timeout)
    return subprocess.run(CLI + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=e, timeout=timeout)


def expect(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def one_error(r, *needles):
    expect(r, 2)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    return r.stderr.strip()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nothing listens on (bound, never listening, while in use)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def kernel_release(vmlinux):
    with open(vmlinux, "rb") as f:
        m = re.search(rb"Linux version (\S+)", f.read())
    return m.group(1).decode()


def only_keep_debug(vmlinux, dest):
    subprocess.run(["objcopy", "--only-keep-debug", str(vmlinux), str(dest)], check=True)
    return dest


SPEC = """\
Name: kernel-dbg
Version: 1.0
Release: r0
Summary: kernel-dbg-style debug vmlinux (kernel-repro test)
License: GPL-2.0-only
BuildArch: x86_64
AutoReqProv: no
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%description
The debug vmlinux as OE-Core's kernel-dbg package holds it.
%install
mkdir -p %{buildroot}/boot/.debug
cp %{payload} %{buildroot}/boot/.debug/vmlinux-%{krel}
%files
/boot/.debug/vmlinux-%{krel}
"""


def build_kernel_dbg_rpm(debugfile, krel, top):
    """An rpm, built by the real rpmbuild, with /boot/.debug/vmlinux-<krel>."""
    spec = top / "kernel-dbg.spec"
    spec.write_text(SPEC)
    subprocess.run(["rpmbuild", "-bb", "--define", "_topdir %s" % top,
                    "--define", "payload %s" % debugfile, "--define", "krel %s" % krel,
                    "--define", "_binary_payload w1.gzdio", str(spec)],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    rpms = list((top / "RPMS").rglob("*.rpm"))
    assert len(rpms) == 1, rpms
    return rpms[0]


class Debuginfod:
    """elfutils' debuginfod on 127.0.0.1:<free port>; stop() always."""

    def __init__(self, workdir, scan_args, expect_files):
        self.workdir, self.scan_args, self.expect_files = workdir, scan_args, expect_files
        self.proc = None

    def start(self, deadline=180):
        env = {k: v for k, v in os.environ.items()
               if k not in PROXY_VARS and not k.startswith("DEBUGINFOD_")}  # no upstream
        for attempt in range(3):
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            self.log = self.workdir / ("debuginfod-%d.log" % attempt)
            db = self.workdir / ("debuginfod-%d.sqlite" % attempt)
            with open(self.log, "wb") as logf:
                self.proc = subprocess.Popen(
                    ["debuginfod", "-p", str(self.port), "-d", str(db), "-c", "1", "-t", "0",
                     "-g", "0", "--disable-source-scan", "-v"] + self.scan_args,
                    stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            if self._wait_indexed(time.monotonic() + deadline):
                return self
            self.stop()
        pytest.fail("debuginfod did not come up: %s" % self.log.read_text()[-2000:])

    def metrics(self):
        import urllib.request
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + "/metrics", timeout=5) as r:
            return r.read().decode()

    def _wait_indexed(self, deadline):
        """Until the server has indexed ``expect_files`` debuginfo files (bounded)."""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # e.g. the port was taken meanwhile: try another
            try:
                m = self.metrics()
            except OSError:
                time.sleep(0.3)
                continue
            found = sum(int(float(v)) for v in re.findall(r'^found_debuginfo_total\{[^}]*\} (\S+)$',
                                                         m, re.M))
            idle = re.search(r'^thread_work_pending\{role="scan"\} 0$', m, re.M)
            if found >= self.expect_files and idle:
                return True
            time.sleep(0.3)
        pytest.fail("debuginfod did not index %d files in time: %s"
                    % (self.expect_files, self.log.read_text()[-2000:]))

    def stop(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=20)


@pytest.fixture(scope="module")
def served(repro_a, plain_a, tmp_path_factory):
    """debuginfod serving repro_a's debug file (-F) and plain_a's in a kernel-dbg rpm (-R)."""
    need_tool("debuginfod")
    need_tool("rpmbuild", "rpm")
    d = tmp_path_factory.mktemp("debuginfod")
    fdir, rdir, top = d / "files", d / "rpms", d / "rpmbuild"
    for x in (fdir, rdir, top):
        x.mkdir()
    dbg = only_keep_debug(repro_a.path("vmlinux"), fdir / "vmlinux-repro-a.debug")
    assert not os.path.islink(dbg) and readelf_build_id(dbg) == readelf_build_id(
        repro_a.path("vmlinux"))
    plain_dbg = only_keep_debug(plain_a.path("vmlinux"), d / "plain-a.debug")
    krel = kernel_release(plain_a.path("vmlinux"))
    rpm = build_kernel_dbg_rpm(plain_dbg, krel, top)
    shutil.copy(rpm, rdir)
    plain_dbg.unlink()
    listing = subprocess.run(["rpm", "-qlp", str(rdir / rpm.name)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, check=True).stdout.split()
    assert listing == ["/boot/.debug/vmlinux-%s" % krel]
    server = Debuginfod(d, ["-F", str(fdir), "-R", str(rdir)], expect_files=2)
    try:
        server.start()
        server.rpm = rdir / rpm.name
        server.debugfile = dbg
        server.krel = krel
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def running_repro_a(repro_a, tmp_path_factory):
    """/sys/kernel/notes of the reproducible fixture booted in qemu."""
    need_tool("qemu-system-x86_64", "qemu-system-x86")
    from kernelrepro import qemu
    notes, _console = qemu.running_notes(repro_a.path("bzImage"), timeout=400)
    p = tmp_path_factory.mktemp("running-repro-a") / "notes"
    p.write_bytes(notes)
    return p


# ------------------------------------------------------------ real debuginfod

@pytest.mark.kernel
@pytest.mark.qemu
def test_running_kernel_resolves_through_debuginfod(served, repro_a, running_repro_a):
    bid = readelf_build_id(repro_a.path("vmlinux"))
    # the booted kernel's notes are its vmlinux's .notes section (the other
    # tests take notes from there)
    assert running_repro_a.read_bytes() == vmlinux_notes(
        repro_a.path("vmlinux"), running_repro_a.parent / "section").read_bytes()
    r = expect(cli("running", "--notes", running_repro_a, "--debuginfod", served.url), 0)
    assert r.stdout.splitlines() == [
        "running kernel: %s  %s" % (bid, running_repro_a),
        "debug info:     %s  %s/buildid/%s/debuginfo as vmlinux-repro-a.debug"
        % (bid, served.url, bid),
        "match: debug info for the running kernel %s is on %s" % (bid, served.url)]
    # the standard variable is the default; a trailing slash is fine
    r = expect(cli("running", "--json", "--notes", running_repro_a, "--debuginfod",
                   env={"DEBUGINFOD_URLS": served.url + "/"}), 0)
    j = json.loads(r.stdout)
    assert j["match"] is True and j["found"]["build_id"] == bid
    assert j["found"]["bytes"] == os.path.getsize(served.debugfile)


@pytest.mark.kernel
def test_kernel_dbg_rpm_resolves_like_oe_debuginfod_serves_it(served, plain_a, tmp_path):
    bid = readelf_build_id(plain_a.path("vmlinux"))
    notes = vmlinux_notes(plain_a.path("vmlinux"), tmp_path / "notes")
    r = expect(cli("running", "--notes", notes, "--debuginfod", served.url), 0)
    assert r.stdout.splitlines()[1] == (
        "debug info:     %s  %s/buildid/%s/debuginfo in %s as vmlinux-%s"
        % (bid, served.url, bid, served.rpm, served.krel))
    assert r.stdout.splitlines()[-1] == ("match: debug info for the running kernel %s is on %s"
                                         % (bid, served.url))


@pytest.mark.kernel
def test_plain_build_running_has_no_debug_info(served, plain_b, tmp_path):
    bid = readelf_build_id(plain_b.path("vmlinux"))
    notes = vmlinux_notes(plain_b.path("vmlinux"), tmp_path / "notes")
    r = expect(cli("running", "--notes", notes, "--debuginfod", served.url), 1)
    assert r.stdout.splitlines()[-1] == (
        "no debug info for the running kernel %s on %s" % (bid, served.url))
    assert r.stderr == ""


@pytest.mark.kernel
def test_check_image_against_debuginfod(served, repro_a, plain_a, plain_b):
    bid = readelf_build_id(repro_a.path("vmlinux"))
    r = expect(cli("check", repro_a.path("bzImage"), "--debuginfod", served.url), 0)
    lines = r.stdout.splitlines()
    url = "%s/buildid/%s/debuginfo" % (served.url, bid)
    assert lines[0] == "found:         %s as vmlinux-repro-a.debug" % url
    assert lines[2] == "debug vmlinux: %s  %s" % (bid, url)
    # (check's verdict then says what it compared)
    assert lines[-1].startswith("match: both come from the link with build-id %s (" % bid), lines
    assert any(x.startswith("skipped:       ") and "no bytes in the debug file" in x for x in lines)
    # through the rpm too
    expect(cli("check", plain_a.path("bzImage"), "--debuginfod", served.url), 0)
    # an image whose symbols were never published
    pb = readelf_build_id(plain_b.path("vmlinux"))
    r = expect(cli("check", plain_b.path("bzImage"), "--debuginfod", served.url), 1)
    assert r.stdout.splitlines()[-1] == ("no debug info for %s (%s) on %s"
                                         % (plain_b.path("bzImage"), pb, served.url))


@pytest.mark.kernel
def test_servers_are_tried_in_order(served, plain_a, tmp_path):
    """$DEBUGINFOD_URLS lists several servers: one that is down does not hide
    one that has the file (a note says it was skipped); all 404 -> exit 1."""
    notes = vmlinux_notes(plain_a.path("vmlinux"), tmp_path / "notes")
    s, port = closed_port()
    with s:
        down = "http://127.0.0.1:%d" % port
        r = expect(cli("running", "--notes", notes, "--debuginfod",
                       env={"DEBUGINFOD_URLS": "%s %s" % (down, served.url)}), 0)
        assert r.stderr.startswith("kernel-repro: note: skipped %s/buildid/" % down)
        assert "cannot connect" in r.stderr


def test_server_down_is_one_line_exit_2(tmp_path):
    notes = tmp_path / "notes"
    notes.write_bytes(notes_bytes("ab" * 20))
    s, port = closed_port()
    with s:
        msg = one_error(cli("running", "--notes", notes, "--debuginfod",
                            "http://127.0.0.1:%d" % port), "cannot connect")
    assert msg.startswith("kernel-repro: error: cannot get debug info for %s from debuginfod: "
                          "http://127.0.0.1:%d/buildid/%s/debuginfo: cannot connect: "
                          % ("ab" * 20, port, "ab" * 20)), msg


def test_no_server_given_is_exit_2(tmp_path):
    notes = tmp_path / "notes"
    notes.write_bytes(notes_bytes("ab" * 20))
    one_error(cli("running", "--notes", notes, "--debuginfod"),
              "no debuginfod server: give --debuginfod URL or set DEBUGINFOD_URLS")
    one_error(cli("check", notes, "--debuginfod", env={"DEBUGINFOD_URLS": "  "}),
              "no debuginfod server")
    one_error(cli("check", notes), "check needs a DEBUG_VMLINUX or --debuginfod [URL]")
    for bad in ("ftp://127.0.0.1/", "gopher://127.0.0.1/", "127.0.0.1:8002"):
        one_error(cli("running", "--notes", notes, "--debuginfod", bad),
                  "%s: not a debuginfod server URL (http://, https:// or file:// only)" % bad)


# ------------------------------------------------------ answers on demand

BID = "0123456789abcdef0123456789abcdef01234567"


def small_elf(tmp_path):
    """A real ELF file with a GNU build-id (the host's /bin/true or a fresh link)."""
    for cand in ("/bin/true", "/usr/bin/true", sys.executable):
        if os.path.isfile(cand) and readelf_build_id(cand):
            return os.path.realpath(cand), readelf_build_id(cand)
    need_tool("gcc", "gcc")
    src = tmp_path / "t.c"
    src.write_text("int main(void){return 0;}\n")
    out = tmp_path / "t"
    subprocess.run(["gcc", "-Wl,--build-id", "-o", str(out), str(src)], check=True)
    return str(out), readelf_build_id(out)


class _Handler(http.server.BaseHTTPRequestHandler):
    """/<mode>/buildid/<id>/debuginfo; the mode picks the answer."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server
        m = re.match(r"^/(\w+)/buildid/([0-9a-f]+)/debuginfo$", self.path)
        mode = m.group(1) if m else "notfound"
        srv.requests.append(self.path)
        if mode == "notfound":
            self.send_error(404)
        elif mode == "error":
            self.send_error(503)
        elif mode == "big":       # no Content-Length: only the streamed size tells
            self.send_response(200)
            self.end_headers()
            block = b"\x7fELF" + b"\0" * ((1 << 16) - 4)
            try:
                for _ in range(64):  # 4 MiB, bounded
                    self.wfile.write(block)
            except OSError:
                pass
        elif mode == "bigdeclared":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
        elif mode == "html":
            self._body(b"<html><body>debuginfod? no, a captive portal</body></html>\n")
        elif mode in ("good", "wrongid"):
            with open(srv.elf, "rb") as f:
                self._body(f.read(), {"X-DEBUGINFOD-FILE": "/usr/lib/debug/x.debug"})
        elif mode == "slow":
            srv.release.wait(15)   # bounded; released by the fixture
            self._body(b"late")
        elif mode == "ftpredirect":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/x")
            self.end_headers()
        elif mode == "short":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x7fELF" + b"\0" * 100)

    def _body(self, data, headers=None):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake(tmp_path):
    """A stdlib HTTP server on 127.0.0.1 in a thread; shut down after the test."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # a client that gave up: expected
    srv.requests = []
    srv.release = threading.Event()
    srv.elf, srv.elf_id = small_elf(tmp_path)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    srv.base = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        t.join(10)


def _notes_file(tmp_path, bid):
    p = tmp_path / ("notes-" + bid[:8])
    p.write_bytes(notes_bytes(bid))
    return p


def test_404_is_not_found_exit_1(fake, tmp_path):
    r = expect(cli("running", "--notes", _notes_file(tmp_path, BID), "--debuginfod",
                   fake.base + "/notfound"), 1)
    assert r.stdout.splitlines()[-1] == ("no debug info for the running kernel %s on %s/notfound"
                                         % (BID, fake.base))
    assert fake.requests == ["/notfound/buildid/%s/debuginfo" % BID]
    # two servers, both 404: both named
    r = expect(cli("running", "--notes", _notes_file(tmp_path, BID), "--debuginfod",
                   env={"DEBUGINFOD_URLS": "%s/notfound %s/notfound/" % (fake.base, fake.base)}), 1)
    assert r.stdout.splitlines()[-1].endswith("on %s/notfound, %s/notfound/" % (fake.base, fake.base))


def test_oversized_answer_is_exit_2(fake, tmp_path):
    notes = _notes_file(tmp_path, BID)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    one_error(cli("running", "--max-size", "1M", "--notes", notes, "--debuginfod",
                  fake.base + "/big", env={"TMPDIR": str(tmp)}),
              "/big/buildid/%s/debuginfo: the answer is larger than the 1048576-byte limit" % BID)
    # a declared Content-Length past the limit is refused before any body is read
    one_error(cli("running", "--notes", notes, "--debuginfod", fake.base + "/bigdeclared"),
              "the answer is larger than the %d-byte limit" % (2 << 30))
    # $DEBUGINFOD_MAXSIZE, the standard variable, lowers the bound as well
    one_error(cli("running", "--notes", notes, "--debuginfod", fake.base + "/big",
                  env={"DEBUGINFOD_MAXSIZE": "65536"}),
              "larger than the 65536-byte limit")
    assert list(tmp.iterdir()) == []  # the partial download is gone


def test_non_elf_answer_is_exit_2(fake, tmp_path):
    one_error(cli("running", "--notes", _notes_file(tmp_path, BID), "--debuginfod",
                  fake.base + "/html"),
              "/html/buildid/%s/debuginfo: the answer is not an ELF file (it starts with b'<htm')"
              % BID)


def test_elf_with_wrong_build_id_is_exit_2(fake, tmp_path):
    one_error(cli("running", "--notes", _notes_file(tmp_path, BID), "--debuginfod",
                  fake.base + "/wrongid"),
              "the answer is an ELF file with build-id %s, not %s" % (fake.elf_id, BID))


def test_right_elf_from_plain_http_server_is_found(fake, tmp_path):
    r = expect(cli("running", "--notes", _notes_file(tmp_path, fake.elf_id), "--debuginfod",
                   fake.base + "/good"), 0)
    assert r.stdout.splitlines()[1] == ("debug info:     %s  %s/good/buildid/%s/debuginfo as "
                                        "/usr/lib/debug/x.debug" % (fake.elf_id, fake.base,
                                                                    fake.elf_id))


def test_bad_server_then_404_is_exit_2_naming_both(fake, tmp_path):
    msg = one_error(cli("running", "--notes", _notes_file(tmp_path, BID), "--debuginfod",
                        "%s/html %s/notfound" % (fake.base, fake.base)))
    assert "the answer is not an ELF file" in msg and msg.endswith(
        "not found on %s/notfound" % fake.base)


def test_other_http_errors_stalls_and_redirects_are_exit_2(fake, tmp_path):
    notes = _notes_file(tmp_path, BID)
    one_error(cli("running", "--notes", notes, "--debuginfod", fake.base + "/error"),
              "HTTP 503")
    one_error(cli("running", "--notes", notes, "--debuginfod", fake.base + "/ftpredirect"),
              "redirected to ftp://127.0.0.1/x (only http and https redirects are followed)")
    one_error(cli("running", "--notes", notes, "--debuginfod", fake.base + "/short"),
              "the answer broke off after")
    t0 = time.monotonic()
    one_error(cli("running", "--notes", notes, "--debuginfod", fake.base + "/slow",
                  env={"DEBUGINFOD_TIMEOUT": "1"}), "within 1 s (DEBUGINFOD_TIMEOUT)")
    assert time.monotonic() - t0 < 12


def test_file_urls(fake, tmp_path):
    """file:// servers (a mirrored debuginfod tree): present -> 0, absent -> 1."""
    root = tmp_path / "tree"
    d = root / "buildid" / fake.elf_id
    d.mkdir(parents=True)
    shutil.copy(fake.elf, d / "debuginfo")
    expect(cli("running", "--notes", _notes_file(tmp_path, fake.elf_id), "--debuginfod",
               root.as_uri()), 0)
    r = expect(cli("running", "--notes", _notes_file(tmp_path, BID), "--debuginfod",
                   root.as_uri()), 1)
    assert r.stdout.splitlines()[-1] == "no debug info for the running kernel %s on %s" % (
        BID, root.as_uri())
