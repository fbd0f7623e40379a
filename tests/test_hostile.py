# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Hostile input (issue 11): hangs, memory, silent truncation, clobbering,
signals, messages.

Every case runs the real command line in a bounded subprocess: a timeout
(a hang fails the test instead of hanging the suite) and, where memory is
the point, an address-space limit. Time and memory are asserted only
through those bounds, never by timing the test itself. The inputs are small
files crafted here or made with the real compressors.
"""

import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import CLI

# An arm64 Image header (magic "ARM\x64" at 0x38): the tool reads on,
# scanning for the build-id note.
ARM64_HEAD = b"\0" * 0x38 + b"ARM\x64" + b"\0" * 8
BID = bytes(range(1, 21))


def note(bid=BID, endian="<"):
    return struct.pack(endian + "III", 4, len(bid), 3) + b"GNU\0" + bid


def elf64(phoff=0, phnum=0, phentsize=56, shoff=0, shnum=0, shentsize=64):
    h = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    h += struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0, phoff, shoff, 0, 64,
                     phentsize, phnum, shentsize, shnum, 0)
    return h


def phdr64(ptype, off, filesz):
    return struct.pack("<IIQQQQQQ", ptype, 0, off, 0, 0, filesz, filesz, 4)


def raw_image(size=1 << 16, bid=BID):
    """A small arm64-Image-like blob with its own build-id note near the end."""
    body = bytearray(os.urandom(size))
    return ARM64_HEAD + bytes(body) + note(bid) + b"\0" * 64


class Bounded:
    """Result of run_bounded: returncode, stdout, stderr, peak RSS (KiB), seconds."""

    def __init__(self, returncode, stdout, stderr, maxrss_kib, seconds):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.maxrss_kib, self.seconds = maxrss_kib, seconds

    def __repr__(self):
        return "<rc=%s %.1fs %d KiB stdout=%r stderr=%r>" % (
            self.returncode, self.seconds, self.maxrss_kib, self.stdout[-300:], self.stderr[-500:])


def run_bounded(*args, timeout=30, mem_mib=None, env=None, cwd=None, cmd=None, stdin=None,
                on_start=None, preexec=None):
    """Run the CLI (or ``cmd``) with a wall-clock timeout and optional RLIMIT_AS.

    A run that passes ``timeout`` is killed and the test fails, saying so.
    The child's own peak RSS comes from wait4(), not from RUSAGE_CHILDREN
    (which would mix in every earlier child of the test process).
    """
    argv = (cmd or CLI) + [a if isinstance(a, bytes) else str(a) for a in args]

    def limits():
        if mem_mib:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mib << 20, mem_mib << 20))
        if preexec:
            preexec()
    outf = __import__("tempfile").TemporaryFile()
    errf = __import__("tempfile").TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=outf, stderr=errf, env=env, cwd=cwd,
                         stdin=stdin if stdin is not None else subprocess.DEVNULL,
                         preexec_fn=limits)
    if on_start:
        on_start(p)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > timeout:
            p.kill()
            os.wait4(p.pid, 0)
            outf.seek(0)
            errf.seek(0)
            pytest.fail("hung: %s still running after %ds (stderr %r)"
                        % (" ".join(map(str, args)), timeout, errf.read()[-300:]))
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t0
    outf.seek(0)
    errf.seek(0)
    out = outf.read().decode("utf-8", "replace")
    err = errf.read().decode("utf-8", "replace")
    return Bounded(p.returncode, out, err, ru.ru_maxrss, seconds)


def assert_error(r, *needles):
    assert r.returncode == 2, r
    assert "Traceback" not in r.stderr, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kernel-repro: error: "), r
    for n in needles:
        assert n.lower() in r.stderr.lower(), (n, r)


def no_leftovers(d):
    return [x for x in os.listdir(d) if x.startswith((".kernel-repro-", "kernel-repro-payload-"))]


# ===================================================================== 1. hangs

def _special_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    return {"FIFO": (fifo, s), "socket": (sock, s), "character device": ("/dev/zero", s),
            "directory": (tmp_path, s)}


@pytest.mark.parametrize("kind", ["FIFO", "socket", "character device", "directory"])
@pytest.mark.parametrize("cmd", ["buildid", "check", "diff", "extract", "running"])
def test_non_regular_input_is_refused_not_waited_on(tmp_path, cmd, kind):
    path, s = _special_files(tmp_path)[kind]
    try:
        good = tmp_path / "good.img"
        good.write_bytes(raw_image())
        argv = {"buildid": ["buildid", path],
                "check": ["check", path, good],
                "diff": ["diff", good, path],
                "extract": ["extract", path, "-o", tmp_path / "out"],
                "running": ["running", "--notes", path, good]}[cmd]
        r = run_bounded(*argv, timeout=20)
        assert_error(r, str(path), "not a regular file" if kind != "directory" else "directory")
        assert kind == "directory" or kind.split()[0].lower() in r.stderr.lower()
        assert not (tmp_path / "out").exists()
    finally:
        s.close()


def test_many_embedded_elf_headers_scan_in_linear_time(tmp_path):
    """A 1 KB gzip of a raw image with a thousand ELF headers and notes.

    Before: every candidate note re-parsed every ELF header in the 128 KiB
    look-behind, each claiming a 0xffff-entry program header table: over a
    minute (killed at 60 s). Now each header is indexed once per window.
    """
    import gzip
    data = bytearray(ARM64_HEAD)
    data += elf64(phoff=64, phnum=1) + phdr64(4, 0, 0x7fffffff)    # "covers" all after it
    for _ in range(1000):
        data += elf64(phoff=64, phnum=0xffff)                        # fat, non-covering
    for _ in range(2000):
        data += note(b"\xaa" * 20)
    data += note() + b"\0" * 64
    p = tmp_path / "Image.gz"
    p.write_bytes(gzip.compress(bytes(data), 9))
    assert p.stat().st_size < 2048
    r = run_bounded("buildid", p, timeout=20)
    assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r


def test_notes_inside_embedded_elfs_are_skipped_cheaply(tmp_path):
    """Every note sits in the PT_NOTE of an ELF just before it (a thousand
    vDSO look-alikes): all are skipped, the image's own note is found."""
    import gzip
    data = bytearray(ARM64_HEAD)
    for _ in range(3000):
        data += elf64(phoff=64, phnum=1) + phdr64(4, 120, 36) + note(b"\xcc" * 20)
    data += b"\0" * 200 + note() + b"\0" * 64
    p = tmp_path / "Image.gz"
    p.write_bytes(gzip.compress(bytes(data), 9))
    r = run_bounded("buildid", p, timeout=20)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


@pytest.mark.parametrize("data", [b"\x7fELF", b"\x7fELF\x02\x01", b"\x7fELF" + bytes(40)])
def test_truncated_elf_header_is_a_clean_error(tmp_path, data):
    """Found by tests/fuzz (atheris): a file holding only the ELF magic said
    'cannot process input (IndexError ...) report this'."""
    p = tmp_path / "vmlinux"
    p.write_bytes(data)
    r = run_bounded("buildid", p)
    assert_error(r, str(p), "truncated elf")
    assert "report this" not in r.stderr


# ===================================================================== 2. memory

def test_lying_program_header_count_costs_no_memory(tmp_path):
    """e_phnum 0xffff of e_phentsize 0xffff in a sparse 1.5 GB file.

    Before: the 4 GB table was read (clamped to the file: 1.5 GB) into
    memory -- 1.58 GB peak RSS, 7.4 s, then 'no GNU build-id'. Now the
    claimed extent is checked against the real size before reading.
    """
    p = tmp_path / "vmlinux.lie"
    with open(p, "wb") as f:
        f.write(elf64(phoff=64, phnum=0xffff, phentsize=0xffff))
        f.truncate(1536 << 20)
    r = run_bounded("buildid", "--max-size", "1M", p, mem_mib=300, timeout=30)
    assert_error(r, str(p), "program header")
    # entries of a sane size, but more than the file holds
    with open(p, "r+b") as f:
        f.write(elf64(phoff=64, phnum=0xffff, phentsize=56, shoff=1 << 40, shnum=0xffff))
        f.truncate(1 << 20)
    assert_error(run_bounded("buildid", p, mem_mib=300), str(p), "program header")


def test_lying_table_in_a_stream_is_checked_against_the_cap(tmp_path):
    """A table claimed 3 GB into a gzip stream: refused against --max-size
    (default 2G) before anything is decompressed.

    Before: the stream was decompressed and spooled to a temporary file as
    far as the claim (here: all 300 MB of it), then 'no GNU build-id'.
    RLIMIT_FSIZE (32 MiB) makes any such spooling fail.
    """
    p = _nested(tmp_path, (elf64(phoff=3 << 30, phnum=0xffff), "300M"), "vmlinux.gz", depth=1)

    def no_big_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 20, 32 << 20))
    r = run_bounded("buildid", p, mem_mib=300, timeout=60, preexec=no_big_files)
    assert_error(r, str(p), "program header", "max-size")


def test_section_headers_past_the_end(tmp_path):
    """No PT_NOTE, section header table claimed past the end: a clear error."""
    p = tmp_path / "vmlinux.cut"
    p.write_bytes(elf64(shoff=1 << 20, shnum=40) + bytes(4096))
    assert_error(run_bounded("buildid", p), str(p), "section header", "past the end")


# ===================================================================== 3. every member, every checksum

def _compress(argv, data, tmp_path, name):
    src = tmp_path / (name + ".in")
    src.write_bytes(data)
    r = subprocess.run(argv + [str(src)], stdout=subprocess.PIPE, check=True)
    src.unlink()
    return r.stdout


# second argument: argv to compress a file to stdout
MULTI = [("gzip", ["gzip", "-c", "-n"]), ("xz", ["xz", "-c", "-1"]), ("bzip2", ["bzip2", "-c"]),
         ("lz4", ["lz4", "-q", "-c", "-z"]), ("zstd", ["zstd", "-q", "-c"])]


@pytest.mark.parametrize("name,argv", MULTI, ids=[m[0] for m in MULTI])
def test_concatenated_members_are_all_read(tmp_path, name, argv):
    """`cat a.gz b.gz` (pbzip2 output, xz/lz4/zstd concatenations): every member.

    Before: only the first member was read; buildid said "no GNU build-id
    note" (it is in the second) and extract wrote half the data, exit 0.
    """
    first = ARM64_HEAD + os.urandom(100000)
    second = os.urandom(100000) + note() + b"\0" * 64
    p = tmp_path / ("Image." + name)
    p.write_bytes(_compress(argv, first, tmp_path, "a") + _compress(argv, second, tmp_path, "b"))
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out)
    assert r.returncode == 0, r
    assert out.read_bytes() == first + second


def test_xz_stream_padding_between_streams(tmp_path):
    first, second = ARM64_HEAD + os.urandom(5000), os.urandom(5000) + note()
    p = tmp_path / "Image.xz"
    p.write_bytes(_compress(["xz", "-c"], first, tmp_path, "a") + b"\0" * 8 +
                  _compress(["xz", "-c"], second, tmp_path, "b") + b"\0" * 4)
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out)
    assert r.returncode == 0 and out.read_bytes() == first + second, r


def test_corrupt_second_member_is_an_error(tmp_path):
    first = ARM64_HEAD + os.urandom(5000)
    a = _compress(["gzip", "-c"], first, tmp_path, "a")
    b = bytearray(_compress(["gzip", "-c"], os.urandom(5000) + note(), tmp_path, "b"))
    b[len(b) // 2] ^= 0xff
    p = tmp_path / "Image.gz"
    p.write_bytes(a + bytes(b))
    assert_error(run_bounded("extract", p, "-o", tmp_path / "out"), "corrupt gzip", str(p))
    assert not (tmp_path / "out").exists()


def test_corrupt_legacy_lz4_block_size_is_not_end_of_stream(tmp_path):
    """A bad block size after the first block is corruption, not the end.

    Before: taken as the end of the stream; extract wrote the first 8 MiB
    block only and exited 0.
    """
    data = ARM64_HEAD + os.urandom(9 << 20) + note()
    comp = bytearray(_compress(["lz4", "-q", "-l", "-c"], data, tmp_path, "a"))
    (size1,) = struct.unpack_from("<I", comp, 4)
    second = 8 + size1
    struct.pack_into("<I", comp, second, 0xfffffff0)
    p = tmp_path / "Image.lz4"
    p.write_bytes(bytes(comp))
    assert_error(run_bounded("extract", p, "-o", tmp_path / "out"), "corrupt legacy lz4", str(p))
    assert not (tmp_path / "out").exists()


def test_legacy_lz4_trailer_and_padding_still_end_the_stream(tmp_path):
    data = ARM64_HEAD + os.urandom(300000) + note()
    comp = _compress(["lz4", "-q", "-l", "-c"], data, tmp_path, "a")
    for tail in (struct.pack("<I", len(data)), struct.pack("<I", len(data)) + b"\0" * 4096,
                 struct.pack("<I", 12) + b"\0" * 64, b"\0" * 16):
        p = tmp_path / "Image.lz4"
        p.write_bytes(comp + tail)
        out = tmp_path / "out"
        r = run_bounded("extract", "--force", p, "-o", out)
        assert r.returncode == 0 and out.read_bytes() == data, (tail, r)


def test_lzop_checksums_are_verified(tmp_path):
    """A byte flipped in a stored lzop block: `lzop -t` fails, and so must we.

    Before: extract copied the corrupt block and exited 0.
    """
    data = ARM64_HEAD + os.urandom(200000) + note()
    comp = bytearray(_compress(["lzop", "-c"], data, tmp_path, "a"))
    comp[len(comp) // 2] ^= 0x01
    p = tmp_path / "Image.lzo"
    p.write_bytes(bytes(comp))
    assert subprocess.run(["lzop", "-t", str(p)], stderr=subprocess.DEVNULL).returncode != 0
    assert_error(run_bounded("extract", p, "-o", tmp_path / "out"), "checksum", str(p))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [[], ["--crc32"], ["-1"], ["-9"]])
def test_lzop_good_files_still_read(tmp_path, flags):
    data = ARM64_HEAD + os.urandom(100000) + bytes(100000) + note()
    p = tmp_path / "Image.lzo"
    p.write_bytes(_compress(["lzop", "-c"] + flags, data, tmp_path, "a"))
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out)
    assert r.returncode == 0 and out.read_bytes() == data, r
def _nested(tmp_path, inner_cmd, name, depth=5):
    p = tmp_path / name
    head = tmp_path / "head"
    head.write_bytes(inner_cmd[0])
    pipeline = "(cat %s; head -c %s /dev/zero) | gzip -1" % (head, inner_cmd[1])
    pipeline += " | gzip -9" * (depth - 1)
    with open(p, "wb") as f:
        subprocess.run(pipeline, shell=True, stdout=f, check=True)
    return p


def test_nested_gzip_five_deep_shares_one_budget(tmp_path):
    """gzip five deep around 300 MiB of zeros: one --max-size budget for all
    layers, no layer spooled to disk, stopped at the cap."""
    p = _nested(tmp_path, (ARM64_HEAD, "300M"), "deep.gz")
    assert p.stat().st_size < 4096
    r = run_bounded("buildid", "--max-size", "128M", p, timeout=60, mem_mib=1024)
    assert_error(r, "limit")
    assert no_leftovers(tmp_path) == []


def test_section_claimed_far_out_in_a_stream(tmp_path):
    """An ELF in a gzip stream claiming its tables 2 GB out: bounded by --max-size."""
    p = _nested(tmp_path, (elf64(phoff=0x7e000000, phnum=4, shoff=0x7f000000, shnum=4), "300M"),
                "far.gz", depth=2)
    r = run_bounded("buildid", "--max-size", "64M", p, timeout=60, mem_mib=1024)
    assert_error(r, str(p))


def test_nested_layers_share_one_budget(tmp_path):
    """gzip inside gzip: --max-size caps what all layers produce together.

    Before: each layer had the whole cap (6 layers deep: six times it), so
    this 2-layer file of 2 x 6 MB passed a 10M cap.
    """
    import gzip
    inner = gzip.compress(ARM64_HEAD + os.urandom(6 << 20) + note(), 1)
    p = tmp_path / "Image.gz.gz"
    p.write_bytes(gzip.compress(inner, 1))
    assert_error(run_bounded("buildid", "--max-size", "10M", p), "limit", str(p))
    r = run_bounded("buildid", "--max-size", "13M", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


# ===================================================================== 4. never replace anything but a regular file

@pytest.fixture
def image_file(tmp_path):
    p = tmp_path / "Image"
    p.write_bytes(raw_image())
    return p


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_extract_force_never_replaces_a_device(tmp_path, image_file):
    """`extract -o /dev/null --force` as root replaced /dev/null with a file.

    Tested on a private node with /dev/null's numbers, never on /dev/null.
    Before: the node became a regular file holding the kernel.
    """
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 3))
    r = run_bounded("extract", image_file, "-o", dev, "--force")
    assert_error(r, str(dev), "character device")
    assert __import__("stat").S_ISCHR(os.lstat(dev).st_mode)
    assert no_leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "FIFO", "socket"])
def test_extract_force_never_replaces_links_or_special_files(tmp_path, image_file, kind):
    """Before: --force renamed the new file over any of these."""
    import stat as st
    out = tmp_path / "out"
    target = tmp_path / "target"
    s = None
    if kind == "symlink":
        target.write_bytes(b"keep me")
        out.symlink_to(target)
    elif kind == "dangling symlink":
        out.symlink_to(tmp_path / "nowhere")
    elif kind == "FIFO":
        os.mkfifo(out)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(out))
    before = os.lstat(out)
    try:
        r = run_bounded("extract", image_file, "-o", out, "--force")
        assert_error(r, str(out), kind.split()[-1].replace("symlink", "symbolic link").lower())
    finally:
        if s:
            s.close()
    after = os.lstat(out)
    assert (st.S_IFMT(after.st_mode), after.st_ino) == (st.S_IFMT(before.st_mode), before.st_ino)
    if kind == "symlink":
        assert target.read_bytes() == b"keep me"
    assert no_leftovers(tmp_path) == []


def test_extract_to_standard_output(tmp_path, image_file):
    """-o - writes the payload through to standard output (a pipe or /dev/null) and nothing else."""
    r = subprocess.run(CLI + ["extract", str(image_file), "-o", "-"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout == image_file.read_bytes(), r.stderr
    with open(os.devnull, "wb") as null:
        r = subprocess.run(CLI + ["extract", str(image_file), "-o", "-"], stdout=null,
                           stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stderr == b""


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o002, 0o664), (0o022, 0o644)])
def test_extract_respects_umask(tmp_path, image_file, umask, mode):
    """Before: the output was always 0644 (0600 temp file chmod-ed), whatever the umask."""
    out = tmp_path / "out"
    r = run_bounded("extract", image_file, "-o", out, preexec=lambda: os.umask(umask))
    assert r.returncode == 0, r
    assert out.stat().st_mode & 0o777 == mode


def test_extract_disk_full_names_the_file(tmp_path, image_file):
    """A write error (here EFBIG under RLIMIT_FSIZE, as ENOSPC would) names the output.

    Before: 'kernel-repro: error: File too large' -- which file?
    """
    out = tmp_path / "out"
    big = tmp_path / "Image.big"
    big.write_bytes(raw_image(4 << 20))
    r = run_bounded("extract", big, "-o", out, preexec=lambda: resource.setrlimit(
        resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)))
    assert_error(r, str(out), "cannot write", "too large")
    assert not out.exists() and no_leftovers(tmp_path) == []


# ===================================================================== 5. signals clean up

@pytest.fixture(scope="module")
def slow_images(tmp_path_factory):
    """A raw image and an ELF image of ~1.5 GB, as bzip2 members (a few KB):
    seconds to decompress, so a signal arrives mid-write."""
    d = tmp_path_factory.mktemp("slow")
    zeros = subprocess.run("head -c 50M /dev/zero | bzip2 -9", shell=True,
                           stdout=subprocess.PIPE, check=True).stdout
    elf = elf64(phoff=64, phnum=1) + phdr64(4, 120, 36) + note()
    out = {}
    for name, head in (("raw", ARM64_HEAD + note()), ("elf", elf)):
        p = d / (name + ".bz2")
        p.write_bytes(subprocess.run(["bzip2", "-c"], input=head, stdout=subprocess.PIPE,
                                     check=True).stdout + zeros * 30)
        out[name] = p
    return out


def _default_signals():
    # the child starts with default dispositions whatever launched the tests:
    # `nohup` ignores SIGHUP and a background job (`cmd &`) SIGINT, and the
    # tool rightly keeps an ignored signal ignored ("nohup stays nohup")
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_DFL)


def _signal_midway(argv, watch, prefix, sig, env=None):
    p = subprocess.Popen(CLI + [str(a) for a in argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_signals)
    try:
        deadline = time.monotonic() + 30
        while not [x for x in os.listdir(watch) if x.startswith(prefix)]:
            assert p.poll() is None, ("finished before the signal", p.communicate())
            assert time.monotonic() < deadline, "no partial file appeared"
            time.sleep(0.01)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_extract_removes_the_partial_output(tmp_path, slow_images, sig):
    """Before: SIGTERM/SIGHUP killed the process at once and left the
    partial .kernel-repro-* file (SIGINT was already clean)."""
    out = tmp_path / "vmlinux"
    rc, _out, err = _signal_midway(["extract", slow_images["raw"], "-o", out],
                                   tmp_path, ".kernel-repro-", sig)
    assert rc in (128 + sig, 2), (rc, err)
    assert len(err.splitlines()) == 1 and err.startswith("kernel-repro: "), err
    assert not out.exists() and no_leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_during_check_removes_the_payload_copy(tmp_path, slow_images, sig):
    """check/diff copy a compressed payload to kernel-repro-payload-* in TMPDIR."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    rc, _out, err = _signal_midway(["check", slow_images["elf"], slow_images["elf"]],
                                   tmpdir, "kernel-repro-payload-", sig, env=env)
    assert rc in (128 + sig, 2), (rc, err)
    assert len(err.splitlines()) == 1 and err.startswith("kernel-repro: "), err
    assert os.listdir(tmpdir) == []


# ===================================================================== 6. messages

def test_empty_notes_path_is_an_error(image_file):
    """Before: --notes '' (an unset variable) silently read this machine's /sys/kernel/notes."""
    assert_error(run_bounded("running", "--notes", "", image_file), "--notes", "empty")


@pytest.mark.parametrize("value", ["", "inf", "-inf", "nan", "1e400", "lots", "0", "-5M"])
def test_bad_max_size_is_one_clean_line(image_file, value):
    """Before: '' was ignored (exit 0); inf said 'cannot process input ... report this'."""
    r = run_bounded("buildid", "--max-size", value, image_file, image_file, image_file)
    assert_error(r, "--max-size")   # one line, however many files
    assert "report this" not in r.stderr


def test_max_size_from_empty_environment_is_the_default(image_file):
    r = run_bounded("buildid", image_file, env=dict(os.environ, KERNEL_REPRO_MAX_SIZE=""))
    assert r.returncode == 0, r


@pytest.mark.parametrize("name", ["two\nlines", "esc\x1b[31mred", "tab\there", "cr\rx"])
def test_control_characters_in_arguments_stay_on_one_line(tmp_path, name):
    """Before: a newline in a file name or option made the error two lines."""
    p = tmp_path / name
    assert_error(run_bounded("buildid", p), "no such file")
    r = run_bounded("buildid", tmp_path / "x", "--bogus" + name)
    assert_error(r, "unrecognized arguments")
    assert "\x1b" not in r.stderr and "\r" not in r.stderr


def test_good_file_with_newline_in_name(tmp_path):
    p = tmp_path / "Image\nfake  line"
    p.write_bytes(raw_image())
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, r
    assert r.stdout == "%s  %s\n" % (BID.hex(), str(p).replace("\n", "\\n"))


def test_non_utf8_file_name(tmp_path):
    """Before: the build-id was found, then printing the name failed:
    'cannot process input (UnicodeEncodeError ...)', exit 2."""
    d = os.fsencode(str(tmp_path))
    p = d + b"/Image-\xff\xfe"
    with open(p, "wb") as f:
        f.write(raw_image())
    r = run_bounded("buildid", p, env=dict(os.environ, LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8"))
    assert r.returncode == 0, r
    assert r.stdout.strip().endswith("Image-\\xff\\xfe"), r
    r = run_bounded("buildid", d + b"/missing-\xff", env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert_error(r, "missing-\\xff", "no such file")


def test_json_errors_are_json_too(tmp_path, image_file):
    """Before: --json printed nothing on stdout for an error."""
    import json
    r = run_bounded("extract", "--json", tmp_path / "missing", "-o", tmp_path / "out")
    assert_error(r, "no such file")
    assert json.loads(r.stdout) == {"error": r.stderr.split("error: ", 1)[1].strip(), "exit": 2}
    r = run_bounded("buildid", "--json", image_file, tmp_path / "missing")
    assert r.returncode == 2
    got = json.loads(r.stdout)
    assert got[0]["build_id"] == BID.hex() and got[1]["exit"] == 2 and "no such file" in got[1]["error"]
    r = run_bounded("buildid", "--json", "--max-size", "lots", image_file)
    assert_error(r, "bad size")
    assert json.loads(r.stdout)["exit"] == 2
    r = run_bounded("buildid", "--json", "--no-such-option", image_file)
    assert r.returncode == 2 and json.loads(r.stdout)["exit"] == 2


# ===================================================================== 7. without the optional Python modules

#: The CLI from the checkout under an interpreter without site-packages: no
#: lz4, zstandard, lzo, pyelftools -- a user's first run of scripts/kernel-repro.
BARE = [sys.executable, "-I", "-S", CLI[1]]

FALLBACK = [("lz4", ["lz4", "-q", "-c"]), ("lz4-BX", ["lz4", "-q", "-c", "-BX", "--content-size"]),
            ("lz4-legacy", ["lz4", "-q", "-l", "-c"]), ("zstd", ["zstd", "-q", "-c", "--check"]),
            ("lzo", ["lzop", "-c"]), ("lzo-crc", ["lzop", "-c", "--crc32", "-9"])]


@pytest.fixture
def bare():
    r = subprocess.run(BARE[:3] + ["-c", "import lz4"], stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        pytest.skip("this interpreter has lz4 even without site-packages")
    return BARE


@pytest.mark.parametrize("name,argv", FALLBACK, ids=[f[0] for f in FALLBACK])
def test_missing_binding_falls_back_to_the_command(tmp_path, bare, name, argv):
    """Before: 'cannot process input (ModuleNotFoundError: No module named
    'lz4'); ... report this'. Now the compressor's command decodes it (the
    kernel's size trailer included), with the same bound."""
    if not __import__("shutil").which(argv[0]):
        pytest.skip("%s not installed" % argv[0])
    data = ARM64_HEAD + os.urandom(200000) + bytes(300000) + note() + bytes(64)
    comp = _compress(argv, data, tmp_path, "a")
    p = tmp_path / ("Image." + name)
    p.write_bytes(comp + struct.pack("<I", len(data)))
    r = run_bounded("buildid", p, cmd=bare)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out, cmd=bare)
    assert r.returncode == 0 and out.read_bytes() == data, r
    assert_error(run_bounded("buildid", "--max-size", "300K", p, cmd=bare), "limit", str(p))
    if name in ("lz4", "zstd"):     # concatenated frames, as in-process
        p.write_bytes(comp + comp)
        r = run_bounded("extract", "--force", p, "-o", out, cmd=bare)
        assert r.returncode == 0 and out.read_bytes() == data + data, r
    bad = bytearray(comp)
    if name == "lz4-legacy":    # no checksums in that format: cut it instead
        del bad[len(bad) // 2:]
    else:
        bad[len(bad) // 2] ^= 0x55
    p.write_bytes(bytes(bad))
    r = run_bounded("extract", "--force", p, "-o", out, cmd=bare)
    assert_error(r, str(p))


@pytest.mark.parametrize("name,argv,deb,pip", [
    ("lz4", ["lz4", "-q", "-c"], "python3-lz4", "pip install lz4"),
    ("zstd", ["zstd", "-q", "-c"], "python3-zstandard", "pip install zstandard"),
    ("lzo", ["lzop", "-c"], "python3-lzo", "pip install python-lzo")])
def test_missing_binding_and_command_names_the_packages(tmp_path, bare, name, argv, deb, pip):
    p = tmp_path / ("Image." + name)
    p.write_bytes(_compress(argv, raw_image(), tmp_path, "a"))
    r = run_bounded("buildid", p, cmd=bare, env=dict(os.environ, PATH=str(tmp_path / "empty")))
    assert_error(r, str(p), deb, pip)
    assert "report this" not in r.stderr


def test_missing_pyelftools_names_the_package(tmp_path, bare, image_file):
    """diff needs pyelftools: one line naming the package. check does not
    (it reads ELF with elfread), so it works where there is none: in the
    SDK, OE-Core has no nativesdk-python3-pyelftools."""
    r = run_bounded("diff", image_file, image_file, cmd=bare)
    assert_error(r, "pyelftools", "python3-pyelftools", "pip install pyelftools")
    r = run_bounded("check", image_file, image_file, cmd=bare)
    assert "not a debug vmlinux" in r.stderr and "python3-pyelftools" not in r.stderr, r.stderr


def test_note_claimed_far_into_a_stream_costs_no_disk(tmp_path):
    """A PT_NOTE 200 MB into a gzip stream (under the cap): the build-id look-up
    decompresses that far but keeps only a window -- no temporary file.

    Before: the 200 MB were spooled to a temporary file (EFBIG under a
    32 MiB RLIMIT_FSIZE); at the 2G default that was 2 GB of disk and ~20 s
    on a loaded machine, now ~3 s.
    """
    import gzip
    far = 200 << 20
    head = elf64(phoff=64, phnum=1) + phdr64(4, far, 36)
    p = tmp_path / "vmlinux.gz"
    with gzip.open(p, "wb", 1) as f:
        f.write(head)
        left, zero = far - len(head), bytes(1 << 20)
        while left:
            f.write(zero[:min(left, len(zero))])
            left -= min(left, len(zero))
        f.write(note() + bytes(4096))

    def no_big_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 20, 32 << 20))
    r = run_bounded("buildid", p, mem_mib=400, timeout=120, preexec=no_big_files)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r
    # extraction keeps everything, as it must
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out, timeout=120)
    assert r.returncode == 0 and out.stat().st_size == far + 36 + 4096, r


@pytest.mark.parametrize("name,argv", [("lz4", ["lz4", "-q", "-c"]), ("zstd", ["zstd", "-q", "-c"])])
@pytest.mark.parametrize("interp", ["in-process", "command"])
def test_skippable_frames_are_passed_over(tmp_path, name, argv, interp):
    """lz4 and zstd skippable frames between and after data frames, then the
    kernel's size trailer: like lz4 -dc / zstd -dc, both decoders."""
    cmd = None
    if interp == "command":
        if subprocess.run(BARE[:3] + ["-c", "import lz4"], stderr=subprocess.DEVNULL).returncode == 0:
            pytest.skip("this interpreter has the bindings even without site-packages")
        cmd = BARE
    first, second = ARM64_HEAD + os.urandom(50000), os.urandom(50000) + note()
    skip = struct.pack("<II", 0x184D2A5E, 16) + bytes(range(16))
    p = tmp_path / ("Image." + name)
    p.write_bytes(_compress(argv, first, tmp_path, "a") + skip +
                  _compress(argv, second, tmp_path, "b") + skip +
                  struct.pack("<I", len(first) + len(second)))
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out, cmd=cmd)
    assert r.returncode == 0 and out.read_bytes() == first + second, r


@pytest.mark.parametrize("where", ["mkstemp", "NamedTemporaryFile"])
def test_signal_while_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch, where):
    """A SIGTERM that lands right after tempfile created the file but before
    it was handed to the cleanup (seen in CI under load: a partial
    .kernel-repro-* left by `extract`): the signal is held over that window
    and delivered where the cleanup owns the file."""
    import tempfile
    from kernelrepro import extract, image
    from kernelrepro.errors import Terminated, raise_terminated
    real = getattr(tempfile, where)

    def created_then_signalled(*a, **kw):
        r = real(*a, **kw)
        os.kill(os.getpid(), signal.SIGTERM)   # arrives while still inside tempfile
        return r

    monkeypatch.setattr(tempfile, where, created_then_signalled)
    old = signal.signal(signal.SIGTERM, raise_terminated)
    old_hup = signal.getsignal(signal.SIGHUP)   # raise_terminated ignores both
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", None)
    src = tmp_path / "payload.gz"
    import gzip
    src.write_bytes(gzip.compress(raw_image()))
    try:
        with pytest.raises(Terminated):
            if where == "mkstemp":
                extract.extract(str(src), str(tmp_path / "out"))
            else:
                with image.payload_file(str(src)) as (_k, _l, name):
                    pass
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGHUP, old_hup)
    assert not (tmp_path / "out").exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".kernel-repro-")] == []
    assert os.listdir(tmpdir) == []
