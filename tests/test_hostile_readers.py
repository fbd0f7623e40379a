# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Hostile input, the rest of the list (issue 21): the readers.

As tests/test_hostile.py: the real command line in a bounded subprocess
(timeout, and where memory is the point an address-space limit), inputs
crafted here from small synthetic data or made with the real compressors.
Each test names what the code did before.
"""

import os
import shutil
import struct
import subprocess
import sys

import pytest

from conftest import CLI, LIB, readelf_build_id
from test_hostile import (ARM64_HEAD, BARE, BID, assert_error, no_leftovers, note,
                          run_bounded)

DATA = ARM64_HEAD + os.urandom(150000) + note() + b"\0" * 64


def _compress(argv, data):
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, check=True).stdout


def _need(tool):
    if not shutil.which(tool):
        pytest.skip("%s not installed" % tool)


def _bare_or_skip():
    r = subprocess.run(BARE[:3] + ["-c", "import lz4"], stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        pytest.skip("this interpreter has lz4 even without site-packages")
    return BARE


# ============================================================ 1. concatenated streams, trailing bytes

# every format decompress.py reads: argv compressing stdin to stdout
FORMATS = [("gzip", ["gzip", "-c", "-n"]), ("xz", ["xz", "-c", "-1"]),
           ("lzma", ["xz", "-c", "-1", "--format=lzma"]), ("bzip2", ["bzip2", "-c"]),
           ("zstd", ["zstd", "-q", "-c"]), ("lz4", ["lz4", "-q", "-c", "-z"]),
           ("lz4-legacy", ["lz4", "-q", "-c", "-l"]), ("lzo", ["lzop", "-c"])]
IDS = [f[0] for f in FORMATS]
#: the command-line decoder the toolkit falls back on without the Python binding
TOOL_FORMATS = [f for f in FORMATS if f[0] in ("zstd", "lz4", "lz4-legacy", "lzo")]


@pytest.mark.parametrize("interp", ["in-process", "command"])
def test_concatenated_lzop_files_are_all_read(tmp_path, interp):
    """`cat a.lzo b.lzo` (lzop -dc reads both, as gzip -dc does two members).

    Before: only the first file was read: extract wrote half the data with
    exit 0, buildid said "no GNU build-id note" (it is in the second).
    """
    _need("lzop")
    cmd = _bare_or_skip() if interp == "command" else None
    first = ARM64_HEAD + os.urandom(100000)
    second = os.urandom(100000) + note() + b"\0" * 64
    p = tmp_path / "Image.lzo"
    p.write_bytes(_compress(["lzop", "-c"], first) + _compress(["lzop", "-c", "--crc32"], second)
                  + struct.pack("<I", len(first) + len(second)))
    r = run_bounded("buildid", p, cmd=cmd)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r
    out = tmp_path / "out"
    r = run_bounded("extract", p, "-o", out, cmd=cmd)
    assert r.returncode == 0, r
    assert out.read_bytes() == first + second


@pytest.mark.parametrize("name,argv", FORMATS, ids=IDS)
def test_trailing_garbage_is_an_error_not_a_silent_end(tmp_path, name, argv):
    """Bytes after the last member that are neither another member, the
    kernel's appended 4-byte size nor zero padding: the payload may be cut
    short (a damaged member header looks just like that), so the whole-payload
    commands refuse it with one line, as xz, zstd and lz4 -dc do (gzip and
    lzop -dc exit 2 with a warning).

    Before: ignored (all but legacy lz4): extract wrote the first member and
    exited 0.
    """
    _need(argv[0])
    comp = _compress(argv, DATA)
    p = tmp_path / ("Image." + name)
    out = tmp_path / "out"
    for tail in (b"GARBAGE!" * 8, struct.pack("<I", len(DATA)) + b"\0" * 16 + b"\x01",
                 comp[:200]):
        p.write_bytes(comp + tail)
        r = run_bounded("extract", p, "-o", out)
        assert_error(r, str(p))
        assert not out.exists() and no_leftovers(tmp_path) == [], (tail, r)


@pytest.mark.parametrize("name,argv", FORMATS, ids=IDS)
def test_kernel_size_trailer_and_padding_still_end_the_stream(tmp_path, name, argv):
    """What kernel builds append (scripts/Makefile.lib size_append: the
    uncompressed size, 4 bytes) and zero padding (PE sections, flash
    alignment) end the stream quietly, for every format."""
    _need(argv[0])
    comp = _compress(argv, DATA)
    p = tmp_path / ("Image." + name)
    out = tmp_path / "out"
    for tail in (b"", struct.pack("<I", len(DATA)), struct.pack("<I", len(DATA)) + bytes(4096),
                 bytes(512), b"\x1f\x8b\x08\x00"):
        p.write_bytes(comp + tail)
        r = run_bounded("extract", "--force", p, "-o", out)
        assert r.returncode == 0 and out.read_bytes() == DATA, (tail, r)


@pytest.mark.parametrize("name,argv", TOOL_FORMATS, ids=[f[0] for f in TOOL_FORMATS])
def test_trailing_garbage_through_the_command_too(tmp_path, name, argv):
    """The same rule where the zstd / lz4 / lzop command decodes (no binding)."""
    _need(argv[0])
    bare = _bare_or_skip()
    comp = _compress(argv, DATA)
    p = tmp_path / ("Image." + name)
    out = tmp_path / "out"
    p.write_bytes(comp + b"GARBAGE!" * 8)
    assert_error(run_bounded("extract", p, "-o", out, cmd=bare), str(p))
    assert not out.exists()
    p.write_bytes(comp + struct.pack("<I", len(DATA)) + bytes(64))
    r = run_bounded("extract", p, "-o", out, cmd=bare)
    assert r.returncode == 0 and out.read_bytes() == DATA, r


def test_concatenated_lzma_is_refused(tmp_path):
    """.lzma has no magic to chain members on; xz --format=lzma -dc calls a
    second one corrupt. Before: the second was dropped, exit 0."""
    _need("xz")
    a = _compress(["xz", "-c", "--format=lzma"], DATA)
    p = tmp_path / "Image.lzma"
    p.write_bytes(a + a)
    assert_error(run_bounded("extract", p, "-o", tmp_path / "out"), str(p), "lzma")


def test_buildid_still_stops_at_the_note(tmp_path):
    """buildid on a raw Image stops decoding at its note: appended data after
    the stream (an Image.gz-dtb's device tree) is never reached."""
    import gzip
    p = tmp_path / "Image.gz-dtb"
    p.write_bytes(gzip.compress(DATA) + b"\xd0\x0d\xfe\xed" + os.urandom(2000))
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


# ===================================================================== 2. extended ELF numbering

SHN_XINDEX, PN_XNUM = 0xffff, 0xffff


def build_elf(is64=True, e="<", fillers=0, ext_shnum=True, ext_strndx=True, note_in="section",
              ext_phnum=False, vaddr_base=0):
    """A small ELF with a GNU build-id note and extended numbering where asked:
    e_shnum 0 (the count in section 0's sh_size), e_shstrndx SHN_XINDEX (the
    index in its sh_link), e_phnum PN_XNUM (the count in its sh_info).

    ``note_in``: "section" (an SHT_NOTE section, ET_REL: a module or an
    object with more than 0xff00 sections) or "segment" (a PT_NOTE program
    header only, ET_EXEC). ``fillers``: empty sections before the note and
    the name table, so their indices pass SHN_LORESERVE (0xff00).
    """
    ehsize, phentsize, shentsize = (64, 56, 64) if is64 else (52, 32, 40)
    nt = note(endian=e)
    phnum = 1 if note_in == "segment" else 0
    phoff = ehsize if phnum else 0
    note_off = ehsize + phnum * phentsize
    names = b"\0.note.gnu.build-id\0.shstrtab\0"
    str_off = note_off + len(nt)
    shoff = (str_off + len(names) + 7) & ~7
    secs = [(0, 0, 0, 0, 0, 0)]     # name, type, offset, size, link, info
    secs += [(0, 1, 0, 0, 0, 0)] * fillers
    if note_in == "section":
        secs.append((1, 7, note_off, len(nt), 0, 0))
    strndx = len(secs)
    secs.append((20, 3, str_off, len(names), 0, 0))
    n = len(secs)
    secs[0] = (0, 0, 0, n if ext_shnum else 0, strndx if ext_strndx else 0,
               phnum if ext_phnum else 0)
    e_shnum = 0 if ext_shnum else n
    e_shstrndx = SHN_XINDEX if ext_strndx else strndx
    e_phnum = PN_XNUM if ext_phnum else phnum
    etype = 2 if note_in == "segment" else 1
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if e == "<" else 2, 1]) + bytes(9)
    if is64:
        hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", etype, 183, 1, 0, phoff, shoff, 0, ehsize,
                                  phentsize, e_phnum, shentsize, e_shnum, e_shstrndx)
        ph = struct.pack(e + "IIQQQQQQ", 4, 4, note_off, vaddr_base, vaddr_base, len(nt),
                         len(nt), 4) if phnum else b""
        sh = b"".join(struct.pack(e + "IIQQQQIIQQ", name, typ, 0, 0, off, size, link, info, 4, 0)
                      for name, typ, off, size, link, info in secs)
    else:
        hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", etype, 40, 1, 0, phoff, shoff, 0, ehsize,
                                  phentsize, e_phnum, shentsize, e_shnum, e_shstrndx)
        ph = struct.pack(e + "IIIIIIII", 4, note_off, vaddr_base, vaddr_base, len(nt), len(nt),
                         4, 4) if phnum else b""
        sh = b"".join(struct.pack(e + "IIIIIIIIII", name, typ, 0, 0, off, size, link, info, 4, 0)
                      for name, typ, off, size, link, info in secs)
    body = hdr + ph + nt + names
    return body + bytes(shoff - len(body)) + sh


@pytest.mark.parametrize("is64,e,fillers", [(True, "<", 0), (False, ">", 0), (True, "<", 0xff00)],
                         ids=["elf64-le", "elf32-be", "elf64-65284-sections"])
def test_extended_section_numbering(tmp_path, is64, e, fillers):
    """e_shnum 0 / e_shstrndx SHN_XINDEX (an object or module with more than
    0xff00 sections): readelf -n finds the note.

    Before: 'no GNU build-id note' (the section table was taken as empty).
    """
    p = tmp_path / "big.ko"
    p.write_bytes(build_elf(is64, e, fillers))
    if shutil.which("readelf"):
        assert readelf_build_id(p) == BID.hex()
    r = run_bounded("buildid", p, timeout=60)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r
    # the same file compressed (a .ko.xz): the table is read from the stream
    x = tmp_path / "big.ko.xz"
    x.write_bytes(_compress(["xz", "-c", "-1"], p.read_bytes()))
    r = run_bounded("buildid", x, timeout=60)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


def test_extended_program_header_numbering(tmp_path):
    """e_phnum PN_XNUM: the count is section 0's sh_info.

    Before: the 0xffff entries claimed ran past the end: 'corrupt or
    truncated ELF: the program header table ...'.
    """
    p = tmp_path / "vmlinux"
    p.write_bytes(build_elf(note_in="segment", ext_shnum=False, ext_strndx=False, ext_phnum=True))
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


@pytest.mark.parametrize("numbering", ["extended", "plain"])
def test_embedded_elf_with_a_note_section_is_still_skipped(tmp_path, numbering):
    """A raw Image holding a vDSO-like ELF (its own build-id note in an
    SHT_NOTE section, e_shnum 0 or not) before the image's own note.

    Before: the embedded ELF's section table was never read (its entries
    were unpacked as 56 of their 64 bytes and taken for the wrong size;
    with e_shnum 0 there was no table at all), so its note was taken for
    the image's: buildid printed the wrong build-id, exit 0.
    """
    vdso_id = b"\xcc" * 20
    ext = numbering == "extended"
    vdso = bytearray(build_elf(ext_shnum=ext, ext_strndx=ext))
    i = vdso.index(note())
    vdso[i:i + len(note())] = note(vdso_id)
    p = tmp_path / "Image"
    p.write_bytes(ARM64_HEAD + bytes(4096) + bytes(vdso) + bytes(4096) + note() + bytes(64))
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


# ===================================================================== 3. records read with a bound

def _device(tmp_path):
    from test_running_records import ID_A, notes_bytes
    from kernelrepro import fingerprint
    notes = tmp_path / "notes"
    notes.write_bytes(notes_bytes(ID_A))
    records = tmp_path / "records"
    records.mkdir()
    fingerprint.write_record(str(records / "linux-yocto.buildid"), ID_A, "linux-yocto",
                             source="/" + "d" * 4000)    # a long path: still a record
    return notes, records


def test_huge_record_is_refused_not_read(tmp_path):
    """A 1.5 GB file named *.buildid among the records (sparse here).

    Before: read whole into memory -- under a 300 MiB address-space limit
    'out of memory (lower --max-size)', else 1.5 GB of RAM and then 'not a
    kernel-repro-buildid-1 file'. A record is a few hundred bytes: one that
    passes 64 KiB is refused at once, naming it.
    """
    notes, records = _device(tmp_path)
    r = run_bounded("running", "--notes", notes, "--records", records)
    assert r.returncode == 0, r
    big = records / "zz-huge.buildid"
    with open(big, "wb") as f:
        f.write(b"kernel-repro-buildid-1\nbuild_id=" + b"ab" * 20 + b"\n")
        f.truncate(1536 << 20)
    r = run_bounded("running", "--notes", notes, "--records", records, mem_mib=300, timeout=30)
    assert_error(r, str(big), "too large")
    assert r.maxrss_kib < 200 << 10, r
    # just past the bound: refused too; a record is never read in part
    with open(big, "wb") as f:
        f.write(b"kernel-repro-buildid-1\nbuild_id=" + b"ab" * 20 + b"\n")
        f.truncate((64 << 10) + 1)
    assert_error(run_bounded("running", "--notes", notes, "--records", records), str(big),
                 "too large")


# ===================================================================== 4. a linear note scan

def _elf_note_segment(covered):
    """An ELF header whose PT_NOTE covers the ``covered`` bytes after it (a vDSO
    look-alike: notes there are its own, not the image's)."""
    from test_hostile import elf64, phdr64
    return elf64(phoff=64, phnum=1) + phdr64(4, 120, covered)


def _gzip_members(block, count, head=ARM64_HEAD, tail=note() + bytes(64)):
    """``head``, ``count`` times ``block`` and ``tail`` as a gzip file: the block is
    compressed once and repeated as members (cat a.gz b.gz ...), so a stream of
    hundreds of MB costs the test nothing to make."""
    import gzip
    member = gzip.compress(block, 9)
    return gzip.compress(head, 9) + member * count + gzip.compress(tail, 9)


def test_dense_note_candidates_scan_in_linear_time(tmp_path):
    """A raw arm64 Image.gz of ~2 MB whose ~900 MB are dense with GNU build-id
    note look-alikes: "GNU\\0" runs, notes of another type or size, notes
    inside embedded ELF objects. The image's own note is at the end.

    Before: every "GNU" was examined in Python and every covered note looked
    up again: 0.35 s per MB of "GNU\\0" (the report: 227 s for such a 2 MB
    file); this file took over a minute (killed at 20 s). Now a regular
    expression finds only well-formed build-id note headers, and the notes
    of one embedded ELF are passed over in one step.
    """
    bad_type = struct.pack("<III", 4, 20, 4) + b"GNU\0" + b"\xaa" * 20
    bad_size = struct.pack(">III", 4, 21, 3) + b"GNU\0" + b"\xaa" * 24
    covered = note(b"\xcc" * 20) * (65536 // 36)
    block = (_elf_note_segment(len(covered)) + covered + b"GNU\0" * (448 << 8) +
             bad_type * ((256 << 10) // 36) + bad_size * ((256 << 10) // 40))
    p = tmp_path / "Image.gz"
    p.write_bytes(_gzip_members(block, 900))
    assert p.stat().st_size < 3 << 20
    r = run_bounded("buildid", p, timeout=20)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


def test_endless_embedded_elf_objects_are_refused_quickly(tmp_path):
    """~2 MB of gzip holding an ELF object with its own note every 156 bytes.

    Before: each parsed in Python, about a minute for the whole file (killed
    at 20 s). A kernel embeds a vDSO or two; past 4096 such objects before
    the image's own note, buildid stops with one line.
    """
    unit = _elf_note_segment(36) + note(b"\xcc" * 20)
    p = tmp_path / "Image.gz"
    p.write_bytes(_gzip_members(unit * 8000, 400))
    r = run_bounded("buildid", p, timeout=20)
    assert_error(r, str(p), "embedded ELF")


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("shift", [-30, -12, -1, 0, 7])
def test_note_across_a_chunk_edge_is_found(tmp_path, endian, shift):
    """The scan reads a stream a chunk (1 MiB) at a time: a note cut by the
    edge, and an embedded ELF in one chunk covering a note in the next."""
    import gzip
    from kernelrepro import decompress
    edge = decompress.CHUNK
    at = edge + shift
    data = bytearray(ARM64_HEAD + os.urandom(at - len(ARM64_HEAD)))
    data += note(endian=endian) + os.urandom(4096)
    p = tmp_path / "Image.gz"
    p.write_bytes(gzip.compress(bytes(data), 1))
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r
    # an ELF 1000 bytes before the edge whose PT_NOTE covers a note just past it
    vdso_note = note(b"\xcc" * 20, endian="<")
    elf_at = edge - 1000
    data = bytearray(ARM64_HEAD + os.urandom(elf_at - len(ARM64_HEAD)))
    from test_hostile import elf64, phdr64
    hdr = elf64(phoff=64, phnum=1) + phdr64(4, 1000 + 20 + shift + 40, len(vdso_note))
    data += hdr + os.urandom(1000 + 20 + shift + 40 - len(hdr)) + vdso_note
    data += os.urandom(3000) + note(endian=endian) + bytes(64)
    p.write_bytes(gzip.compress(bytes(data), 1))
    r = run_bounded("buildid", p)
    assert r.returncode == 0 and r.stdout.split()[0] == BID.hex(), r


# ===================================================================== 6. user numbers: one line, exit 2

@pytest.fixture
def srctree(tmp_path):
    d = tmp_path / "linux"
    d.mkdir()
    (d / "Makefile").write_text("all:\n")
    return d


BAD_EPOCHS = ["99999999999999999999", "-1", "abc", "nan", "inf", "1e9", "1.5", "", " ",
              "253402300800", "0x10", "1_000", "\u0661\u0662"]


@pytest.mark.parametrize("value", BAD_EPOCHS)
def test_bad_source_date_epoch_is_one_clean_line(srctree, value):
    """`env --source-date-epoch V` and `SOURCE_DATE_EPOCH=V env`.

    Before: 99999999999999999999 (and the environment's abc, nan, 1.5 ...)
    said 'cannot process input (OverflowError: timestamp out of range for
    platform time_t) ... report this'; 253402300800 (year 10000) and 1_000
    passed, '1_000' as 1000. Now: decimal digits only, 0 to 253402300799
    (the end of year 9999: the timestamp goes through date -d and tar
    --mtime), else one line, exit 2.
    """
    r = run_bounded("env", "--srctree", srctree, "--source-date-epoch=" + value)
    assert_error(r, "source-date-epoch")
    assert "report this" not in r.stderr
    r = run_bounded("env", "--srctree", srctree,
                    env=dict(os.environ, SOURCE_DATE_EPOCH=value) if value.strip() else
                    dict(os.environ, SOURCE_DATE_EPOCH=value + "x"))
    assert_error(r, "SOURCE_DATE_EPOCH")
    assert "report this" not in r.stderr


@pytest.mark.parametrize("value,stamp", [("0", "Thu Jan  1 00:00:00 UTC 1970"),
                                         ("1700000000", "Tue Nov 14 22:13:20 UTC 2023"),
                                         ("253402300799", "Fri Dec 31 23:59:59 UTC 9999")])
def test_good_source_date_epoch(srctree, value, stamp):
    for argv, env in ((["--source-date-epoch", value], None),
                      ([], dict(os.environ, SOURCE_DATE_EPOCH=value))):
        r = run_bounded("env", "--srctree", srctree, "--format", "json", *argv, env=env)
        assert r.returncode == 0, r
        import json
        assert json.loads(r.stdout)["variables"]["KBUILD_BUILD_TIMESTAMP"] == stamp


def test_makefile_dated_before_1970_is_one_clean_line(srctree):
    """The fallback, the Makefile's mtime, can be negative too."""
    os.utime(srctree / "Makefile", (-86400, -86400))
    r = run_bounded("env", "--srctree", srctree, env={k: v for k, v in os.environ.items()
                                                      if k != "SOURCE_DATE_EPOCH"})
    assert_error(r, "Makefile")



@pytest.mark.parametrize("value", ["1e308T", "9e307K", "1e300G", "1.7e308", "-1e308T"])
def test_max_size_that_overflows_is_one_clean_line(tmp_path, value):
    """--max-size and $KERNEL_REPRO_MAX_SIZE: a finite number whose product
    with its unit is no longer one.

    Before: 1e308T said 'cannot process input (OverflowError: cannot convert
    float infinity to integer) ... report this'.
    """
    p = tmp_path / "Image"
    p.write_bytes(DATA)
    r = run_bounded("buildid", "--max-size", value, p)
    assert_error(r, "--max-size")
    assert "report this" not in r.stderr
    r = run_bounded("buildid", p, env=dict(os.environ, KERNEL_REPRO_MAX_SIZE=value))
    assert_error(r, value)
    assert "report this" not in r.stderr


# ===================================================================== 5. Ctrl-C at any point

#: Runs an entry point of the command the way its launcher does, once the
#: interpreter itself is up: it writes one byte to the fd in $KR_READY_FD,
#: then runs the entry (a script by path, or -m kernelrepro). What comes
#: before that byte -- the interpreter's own start-up and site -- runs no
#: code of the project (see test_interrupt_at_any_point).
LAUNCH = """
import os, pkgutil, runpy, sys      # pkgutil: what run_path imports (typing, enum ...)
fd = int(os.environ.pop("KR_READY_FD"))
entry, sys.argv = sys.argv[1], sys.argv[1:]
if entry == "-m":
    sys.path.insert(0, %r)
os.write(fd, b"r")
os.close(fd)
if entry == "-m":
    runpy.run_module("kernelrepro", run_name="__main__", alter_sys=True)
else:
    runpy.run_path(entry, run_name="__main__")
""" % LIB

#: What pip writes for the console script (pyproject.toml: kernelrepro.cli:main),
#: and the OE recipe's kernel-repro much the same.
CONSOLE_SCRIPT = """# -*- coding: utf-8 -*-
import re
import sys
sys.path.insert(0, %r)
from kernelrepro.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
""" % LIB


@pytest.fixture(scope="module")
def slow_raw(tmp_path_factory):
    """A raw Image behind a bzip2 of zeros: a second or so of work."""
    p = tmp_path_factory.mktemp("sigint") / "Image.bz2"
    zeros = subprocess.run("head -c 40M /dev/zero | bzip2 -9", shell=True,
                           stdout=subprocess.PIPE, check=True).stdout
    p.write_bytes(subprocess.run(["bzip2", "-c"], input=ARM64_HEAD, stdout=subprocess.PIPE,
                                 check=True).stdout + zeros * 2)
    return p


def _interrupt(entry, args, delay):
    import signal
    import time
    r, w = os.pipe()

    def child():
        signal.signal(signal.SIGINT, signal.SIG_DFL)    # as from a terminal, whatever ran pytest
        os.close(r)
    env = dict(os.environ, KR_READY_FD=str(w))
    p = subprocess.Popen([sys.executable, "-c", LAUNCH, entry] + [str(a) for a in args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, pass_fds=(w,),
                         preexec_fn=child)
    os.close(w)
    try:
        assert os.read(r, 1) == b"r", p.communicate(timeout=30)
        os.close(r)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _project_frames(err):
    """Traceback frames of the package's code that runs once its SIGINT
    handler is in place -- all but __init__.py and __main__.py (they only
    import), errors.py's module body and catch_interrupt (which install it)
    and cli.py up to its own catch_interrupt() call."""
    import re
    pkg = os.path.join(LIB, "kernelrepro") + os.sep
    with open(pkg + "cli.py") as f:
        installed = min([n for n, line in enumerate(f, 1) if line.strip() == "catch_interrupt()"]
                        or [0])
    out = []
    for path, line, fn in re.findall(r'File "([^"]+)", line (-?\d+), in (\S+)', err):
        path = os.path.normpath(path)
        name = os.path.basename(path)
        if not path.startswith(pkg) or name in ("__init__.py", "__main__.py") or \
                (name == "errors.py" and fn in ("<module>", "catch_interrupt", "_is_the_program")) \
                or (name == "cli.py" and fn == "<module>" and int(line) <= installed):
            continue
        out.append("%s:%s:%s" % (name, line, fn))
    return out


@pytest.mark.parametrize("entry", ["scripts/kernel-repro", "console script", "-m kernelrepro"])
def test_interrupt_at_any_point(tmp_path, slow_raw, entry):
    """SIGINT 0, 10, 20, 40 ms (and more points) after an entry point starts,
    through the imports, the argument parsing and the command: 'kernel-repro:
    interrupted' and 130, never a traceback from the package's code.

    Before: the handler came with main(), after some 40 ms of imports: a
    Ctrl-C in that time printed a KeyboardInterrupt traceback through cli.py
    (exit by SIGINT). What runs before the handler is in place -- the
    interpreter's start-up and site (not timed here), the entry script's own
    lines, the package being found and loaded up to the install, a few
    milliseconds -- is out of the package's reach: a signal there is
    Python's own KeyboardInterrupt, counted and allowed; anything else fails.
    """
    if entry == "scripts/kernel-repro":
        path = CLI[1]
    elif entry == "console script":
        path = str(tmp_path / "kernel-repro")
        with open(path, "w") as f:
            f.write(CONSOLE_SCRIPT)
    else:
        path = "-m"
    seen = {}
    for delay in (0, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.3) * 2:
        rc, out, err = _interrupt(path, ["buildid", slow_raw], delay)
        if rc == 130 and err == "kernel-repro: interrupted\n" and out == "":
            what = "clean"
        elif rc == -2 and err.rstrip().endswith("KeyboardInterrupt") and \
                not _project_frames(err) and out == "":
            what = "before the package's first line"
        else:
            what = "BAD: rc %s, stdout %r, stderr %r" % (rc, out[-200:], err[-600:])
        seen.setdefault(what, []).append(delay)
    assert [w for w in seen if w.startswith("BAD")] == [], seen
    assert len(seen.get("clean", [])) >= 11, seen
