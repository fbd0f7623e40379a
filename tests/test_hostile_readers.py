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


# ===================================================================== 1. concatenated streams, trailing bytes

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
