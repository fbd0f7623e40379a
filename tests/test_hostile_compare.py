# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Hostile input for ``diff`` and ``check`` (issue 11): large raw payloads,
huge symbol tables, SHF_COMPRESSED sections.

Like test_hostile, every case runs the real command line in a bounded
subprocess (a timeout, and an address-space limit where memory is the
point); nothing here times the code itself.
"""

import os
import shutil
import struct
import subprocess
import zlib

import pytest

from test_hostile import ARM64_HEAD, BID, assert_error, note, run_bounded

MIB = 1 << 20


def _sparse_raw(path, size, marks):
    """An arm64-Image-like file of ``size`` bytes, mostly holes, with its note up front
    and ``marks`` ({offset: bytes}) written in."""
    with open(path, "wb") as f:
        f.write(ARM64_HEAD + note() + b"\0" * 64)
        for off, data in marks.items():
            f.seek(off)
            f.write(data)
        f.truncate(size)


def test_diff_of_two_large_sparse_raw_payloads_is_bounded(tmp_path):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    blob = os.urandom(3 * MIB)
    _sparse_raw(a, 200 * MIB, {100 * MIB + 12345: blob, 150 * MIB: b"x"})
    _sparse_raw(b, 200 * MIB + 7, {100 * MIB + 12345: blob[:-1] + b"?", 150 * MIB: b"y"})
    r = run_bounded("diff", "--json", a, b, timeout=240, mem_mib=300)
    assert r.returncode == 1, r
    import json
    raw = json.loads(r.stdout)["raw"]
    assert raw["first_difference"] == 100 * MIB + 12345 + 3 * MIB - 1, raw
    # the two marked bytes, when they differ, and the 7 bytes B has past A's end
    expect = 7 + 1 + (blob[-1:] != b"?")
    assert raw["bytes_differing"] == expect, raw
    assert (raw["size_a"], raw["size_b"]) == (200 * MIB, 200 * MIB + 7)


def test_diff_of_two_large_random_raw_payloads_is_bounded(tmp_path):
    paths = []
    for name in "ab":
        p = tmp_path / (name + ".img")
        with open(p, "wb") as f:
            f.write(ARM64_HEAD + note() + b"\0" * 64)
            for _ in range(200):
                f.write(os.urandom(MIB))
        paths.append(p)
    r = run_bounded("diff", *paths, timeout=300, mem_mib=300)
    assert r.returncode == 1, r
    assert "raw images:" in r.stdout and "first at offset 0x%x" % (len(ARM64_HEAD) + 36 + 64) \
        in r.stdout, r


# ---------------------------------------------------------------- crafted ELF

def make_elf(sections, path):
    """A little-endian ELF64 relocatable file; sections: (name, type, flags, data, link, entsize).

    The first one should be the build-id note so describe() finds it.
    """
    shstr = b"\0" + b"".join(s[0].encode() + b"\0" for s in sections) + b".shstrtab\0"
    body = bytearray(b"\0" * 64)
    heads = [b"\0" * 64]
    pos = 1
    for name, typ, flags, data, link, entsize in sections:
        while len(body) % 8:
            body += b"\0"
        off = len(body)
        body += data
        heads.append(struct.pack("<IIQQQQIIQQ", pos, typ, flags, 0, off, len(data), link, 0,
                                 4 if typ == 7 else 8, entsize))
        pos += len(name) + 1
    off = len(body)
    body += shstr
    heads.append(struct.pack("<IIQQQQIIQQ", pos, 3, 0, 0, off, len(shstr), 0, 0, 1, 0))
    while len(body) % 8:
        body += b"\0"
    shoff = len(body)
    body += b"".join(heads)
    hdr = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    hdr += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                       len(heads), len(heads) - 1)
    body[:64] = hdr
    with open(path, "wb") as f:
        f.write(body)
    return path


NOTE_SEC = (".note.gnu.build-id", 7, 2, note(), 0, 0)


def _symtab(n, prefix, value_shift=0):
    strs = bytearray(b"\0")
    syms = [b"\0" * 24]
    for i in range(n):
        off = len(strs)
        strs += b"%s%d\0" % (prefix, i)
        syms.append(struct.pack("<IBBHQQ", off, 0x12, 0, 1, 0x1000 + 16 * i + value_shift, 16))
    return b"".join(syms), bytes(strs)


def _elf_with_symbols(path, n, prefix=b"sym_", shift=0, bid=BID):
    symtab, strtab = _symtab(n, prefix, shift)
    return make_elf([(".note.gnu.build-id", 7, 2, note(bid), 0, 0),
                     (".symtab", 2, 0, symtab, 3, 24), (".strtab", 3, 0, strtab, 0, 0)], path)


def test_diff_of_elfs_with_huge_symbol_tables_is_bounded(tmp_path):
    # more symbols than MAX_SYMBOLS: counted, not compared one by one
    a = _elf_with_symbols(tmp_path / "a.elf", 2100000)
    b = _elf_with_symbols(tmp_path / "b.elf", 2100000, shift=8, bid=bytes(20))
    r = run_bounded("diff", "--json", a, b, timeout=120, mem_mib=600)
    assert r.returncode == 1, r
    import json
    sy = json.loads(r.stdout)["symbols"]
    assert sy["available"] is False and "2100001" in sy["reason"], sy


def test_diff_of_many_symbols_reports_counts_and_the_first_few(tmp_path):
    a = _elf_with_symbols(tmp_path / "a.elf", 300000)
    b = _elf_with_symbols(tmp_path / "b.elf", 300000, prefix=b"sym_", shift=8, bid=bytes(20))
    r = run_bounded("diff", "--json", a, b, timeout=120, mem_mib=600)
    assert r.returncode == 1, r
    import json
    sy = json.loads(r.stdout)["symbols"]
    assert sy["available"] and sy["moved_count"] == 300000, sy
    assert len(sy["moved"]) == 20 and sy["common_deltas"][0] == {"delta": 8, "count": 300000}
    assert "symbols: 0 added, 0 removed, 300000 moved (most common shift +8 bytes)" in r.stdout
