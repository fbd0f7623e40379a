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
    # the last byte is never the "?" B has there (a random one was, 1 run in 256)
    blob = os.urandom(3 * MIB - 1) + b"!"
    _sparse_raw(a, 200 * MIB, {100 * MIB + 12345: blob, 150 * MIB: b"x"})
    _sparse_raw(b, 200 * MIB + 7, {100 * MIB + 12345: blob[:-1] + b"?", 150 * MIB: b"y"})
    r = run_bounded("diff", "--json", a, b, timeout=240, mem_mib=300)
    assert r.returncode == 1, r
    import json
    raw = json.loads(r.stdout)["raw"]
    assert raw["first_difference"] == 100 * MIB + 12345 + 3 * MIB - 1, raw
    # the two marked bytes, when they differ, and the 7 bytes B has past A's end
    expect = 7 + 1 + 1
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


def with_symtab(sections, n=1):
    """``sections`` and a symbol table after them: what check needs of a debug file."""
    symtab, strtab = _symtab(n, b"sym_")
    return list(sections) + [(".symtab", 2, 0, symtab, len(sections) + 2, 24),
                             (".strtab", 3, 0, strtab, 0, 0)]


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


# ---------------------------------------------------------- SHF_COMPRESSED

SHF_ALLOC, SHF_COMPRESSED = 2, 0x800


def _compressed_section(claim, payload_mib=0, ch_type=1, data=b""):
    """A compression header claiming ``claim`` bytes, then zlib of ``data`` + ``payload_mib`` MiB of zeros."""
    c = zlib.compressobj(9)
    z = c.compress(data)
    zero = b"\0" * MIB
    for _ in range(payload_mib):
        z += c.compress(zero)
    z += c.flush()
    return struct.pack("<IIQQ", ch_type, 0, claim, 8) + z


TEXT_SEC = (".text", 1, 6, b"\x90" * 64, 0, 0)


def _elf_with_compressed(path, claim, payload_mib=0, ch_type=1, data=b""):
    return make_elf(with_symtab([NOTE_SEC, TEXT_SEC, (".data.z", 1, SHF_ALLOC | SHF_COMPRESSED,
                                _compressed_section(claim, payload_mib, ch_type, data), 0, 0)]),
                    path)


def test_check_refuses_a_compressed_section_claiming_more_than_max_size(tmp_path):
    # the claim is 2^40; the zlib data really inflates to 512 MiB
    p = _elf_with_compressed(tmp_path / "bomb.elf", 1 << 40, payload_mib=512)
    shutil.copy(p, tmp_path / "bomb2.elf")
    r = run_bounded("check", "--max-size", "64M", p, tmp_path / "bomb2.elf", timeout=120,
                    mem_mib=400)
    assert_error(r, "compressed section .data.z claims 1099511627776 bytes", "--max-size")


def test_check_refuses_a_claim_its_compressed_bytes_cannot_hold(tmp_path):
    p = _elf_with_compressed(tmp_path / "lie.elf", 1 << 40, data=b"x" * 100)
    r = run_bounded("check", "--max-size", "2T", p, p, timeout=60, mem_mib=400)
    assert_error(r, "compressed section .data.z claims 1099511627776 bytes", "impossible")


def test_check_stops_inflating_at_the_claimed_size(tmp_path):
    # claims 1 MiB, inflates to 256 MiB: an error as soon as the claim is passed
    p = _elf_with_compressed(tmp_path / "more.elf", MIB, payload_mib=256)
    r = run_bounded("check", p, p, timeout=60, mem_mib=400)
    assert_error(r, "compressed section .data.z", "more than its header claims", "1048576")


def test_check_names_a_section_compressed_otherwise_as_skipped(tmp_path):
    p = _elf_with_compressed(tmp_path / "zstd.elf", 100, ch_type=2, data=b"x" * 100)
    r = run_bounded("check", p, p, timeout=60, mem_mib=400)
    assert r.returncode == 0, r
    assert "skipped (compressed): .data.z (compressed)" in r.stdout, r


def test_check_inflates_a_good_compressed_section_in_bounded_steps(tmp_path):
    data = os.urandom(3 * MIB + 5) + b"\0" * (9 * MIB)
    a = _elf_with_compressed(tmp_path / "a.elf", len(data), data=data)
    b = make_elf(with_symtab([NOTE_SEC, TEXT_SEC, (".data.z", 1, SHF_ALLOC, data, 0, 0)]),
                 tmp_path / "b.elf")
    r = run_bounded("check", a, b, timeout=60, mem_mib=400)
    assert r.returncode == 0 and "3 allocated sections compared, 0 differ" in r.stdout, r
    c = make_elf(with_symtab([NOTE_SEC, TEXT_SEC, (".data.z", 1, SHF_ALLOC, data[:-1] + b"\1", 0, 0)]),
                 tmp_path / "c.elf")
    r = run_bounded("check", a, c, timeout=60, mem_mib=400)
    assert r.returncode == 1 and "1 differ" in r.stdout, r


@pytest.fixture
def debug_program(tmp_path):
    if not shutil.which("gcc") or not shutil.which("objcopy"):
        pytest.skip("gcc and objcopy needed")
    src = tmp_path / "p.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("/build/root/p.c"); return 0; }\n')
    prog = tmp_path / "p"
    subprocess.run(["gcc", "-g", "-O0", "-Wl,--build-id=sha1", "-o", str(prog), str(src)],
                   check=True)
    z = tmp_path / "p.z"
    subprocess.run(["objcopy", "--compress-debug-sections=zlib", str(prog), str(z)], check=True)
    out = subprocess.run(["readelf", "-SW", str(z)], stdout=subprocess.PIPE, text=True).stdout
    assert any(" C " in line or line.rstrip().endswith("C") or " C" in line.split("]")[-1]
               for line in out.splitlines() if ".debug_info" in line), out
    return prog, z


def test_check_and_diff_of_objcopy_compressed_debug_sections(debug_program):
    prog, z = debug_program
    for a, b in ((prog, z), (z, prog), (z, z)):
        r = run_bounded("check", a, b, timeout=60, mem_mib=400)
        assert r.returncode == 0 and "match" in r.stdout, r
    r = run_bounded("diff", "--json", prog, z, timeout=60, mem_mib=400)
    import json
    rep = json.loads(r.stdout)
    assert r.returncode == 1 and not rep["payloads_identical"], r
    # compressed or not, the debug sections hold the same bytes
    assert rep["sections"]["differ"] == [] and rep["sections"]["same"] > 5, rep["sections"]


def _overlapping_sections_elf(path, n, size, bid=BID):
    """n section headers that all name the same ``size`` bytes (plus a build-id note)."""
    data = os.urandom(size)
    elf = bytearray(make_elf([(".note.gnu.build-id", 7, 2, note(bid), 0, 0),
                              (".blob", 1, 0, data, 0, 0)], path).read_bytes())
    shoff, shnum = struct.unpack_from("<QxxxxxxxxxxxxH", elf, 0x28)[0], \
        struct.unpack_from("<H", elf, 0x3c)[0]
    heads = [bytes(elf[shoff + 64 * i:shoff + 64 * (i + 1)]) for i in range(shnum)]
    # keep null, note, .blob, .shstrtab; then n more copies of .blob's header
    table = heads + [heads[2]] * n
    elf = elf[:shoff] + b"".join(table)
    struct.pack_into("<HH", elf, 0x3c, len(table), 3)
    path.write_bytes(bytes(elf))
    return path


def test_sections_overlapping_again_and_again_are_refused(tmp_path):
    # 60000 headers that each name the same 16 MiB: ~1 TB to hash if taken at their word
    a = _overlapping_sections_elf(tmp_path / "a.elf", 60000, 16 * MIB)
    b = _overlapping_sections_elf(tmp_path / "b.elf", 60000, 16 * MIB, bid=bytes(20))
    r = run_bounded("diff", a, b, timeout=90, mem_mib=600)
    assert_error(r, "section table claims far more bytes than the file holds")


def test_chunked_string_scan_finds_what_one_pass_finds_across_chunk_edges():
    import random
    from kernelrepro import diff
    rnd = random.Random(11)
    planted = [b"Linux version 6.1.0 (me@host.example) #1 SMP Mon Jan  2 03:04:05 UTC 2023\n\0",
               b"Tue Feb 14 12:34:56 2023", b" /home/user/build/linux/kernel/fork.c\0",
               b" /example-builder/tmp/deep/er/path/x.h\0"]
    data = bytearray(os.urandom(MIB))
    for _ in range(400):
        s = rnd.choice(planted)
        at = rnd.randrange(0, len(data) - len(s))
        data[at:at + len(s)] = s
    data = bytes(data)
    # chunks of random sizes: the chunk and look-ahead edges fall everywhere
    cuts = sorted(rnd.sample(range(1, len(data)), 300))
    pieces = [data[i:j] for i, j in zip([0] + cuts, cuts + [len(data)])]
    scan = diff._StringScan()
    scan.feed(iter(pieces))
    got = scan.result()
    assert got == diff._strings_of([data])
    want = {"banner": set(), "dates": set(), "user_host": set(), "paths": set()}
    for m in diff.BANNER_RE.finditer(data):
        b = m.group(0).split(b"\0")[0].rstrip(b"\n")
        want["banner"].add(b)
        want["user_host"].update(u.group(1) for u in diff.USERHOST_RE.finditer(b))
    want["dates"] = {m.group(0) for m in diff.DATE_RE.finditer(data)}
    want["paths"] = {m.group(0) for m in diff.PATH_RE.finditer(data)}
    assert got["paths"] == want["paths"]
    for key in ("banner", "dates", "user_host"):
        assert got[key] == sorted(x.decode("utf-8", "replace") for x in want[key]), key
    assert "/home/user/build/linux/kernel/fork.c" in {p.decode() for p in got["paths"]}


ASM32 = """
.text
.globl f
f: ret
.section .debug_str,"MS",@progbits,1
.string "a debug string long enough to be worth compressing, a debug string long enough"
.section .note.gnu.build-id,"a",@note
.long 4, 20, 3
.string "GNU"
.byte 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
"""


def test_diff_of_32_bit_elfs_with_zlib_compressed_debug_sections(tmp_path):
    """Elf32_Chdr is 12 bytes (ch_type, ch_size, ch_addralign), not 16: read as 16,
    the zlib data started 4 bytes late and diff failed with 'incorrect header check'."""
    if not shutil.which("as") or not shutil.which("objcopy"):
        pytest.skip("binutils needed")
    (tmp_path / "a.s").write_text(ASM32)
    a, z = tmp_path / "a.o", tmp_path / "z.o"
    subprocess.run(["as", "--32", "-o", str(a), str(tmp_path / "a.s")], check=True)
    subprocess.run(["objcopy", "--compress-debug-sections=zlib-gabi", str(a), str(z)], check=True)
    r = run_bounded("diff", "--json", a, z, timeout=60, mem_mib=400)
    import json
    assert r.returncode == 1, r
    rep = json.loads(r.stdout)
    assert rep["sections"]["differ"] == [] and ".debug_str" not in rep["sections"]["only_a"], rep
    r = run_bounded("diff", a, z, timeout=60, mem_mib=400)
    assert "every section has the same contents" in r.stdout, r
