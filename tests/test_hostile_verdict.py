# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""A verdict you can trust (issue 21): ``check`` never says "match" when it
compared nothing.

Each case is made here from the fixture kernel's real bzImage payload (the
ELF inside it, as ``kernel-repro extract`` gives it): one byte of .text is
changed -- a tampered image a user must not flash -- and then the section
table is damaged the way an adversarial run found hides the change. Before
the fix every one printed "0 allocated sections compared, 0 differ ...
match" (or skipped .text silently) and exited 0. Now each is an error (the
image cannot be compared: exit 2) or a MISMATCH (exit 1).
"""

import struct
import subprocess

import pytest

from conftest import need_tool, run_cli
from test_hostile import assert_error, run_bounded

pytestmark = pytest.mark.kernel

SHF_ALLOC, SHT_NOBITS = 2, 8


class Elf64:
    """Just enough of an ELF64 little-endian file to damage it on purpose."""

    def __init__(self, data):
        self.d = bytearray(data)
        assert self.d[:4] == b"\x7fELF" and self.d[4] == 2 and self.d[5] == 1
        self.shoff, = struct.unpack_from("<Q", self.d, 0x28)
        self.shentsize, self.shnum, self.shstrndx = struct.unpack_from("<HHH", self.d, 0x3a)

    def sh(self, i):
        return self.shoff + i * self.shentsize

    def name_of(self, i):
        stroff, = struct.unpack_from("<Q", self.d, self.sh(self.shstrndx) + 0x18)
        off = stroff + struct.unpack_from("<I", self.d, self.sh(i))[0]
        return bytes(self.d[off:self.d.index(b"\0", off)]).decode()

    def index(self, name):
        return next(i for i in range(self.shnum) if self.name_of(i) == name)

    def tamper_text(self):
        i = self.index(".text")
        off, size = struct.unpack_from("<QQ", self.d, self.sh(i) + 0x18)
        self.d[off + size // 2] ^= 0x01
        return self


@pytest.fixture(scope="module")
def payload(plain_a, tmp_path_factory):
    out = tmp_path_factory.mktemp("verdict") / "payload.elf"
    run_cli("extract", plain_a.path("bzImage"), "-o", out, check=0)
    return out


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(bytes(data))
    return p


def _check(image, debug):
    return run_bounded("check", image, debug, timeout=120, mem_mib=1500)


def test_control_an_untouched_payload_matches_and_a_tamper_is_found(payload, plain_a, tmp_path):
    """The control: the checks below are not refusing everything."""
    r = _check(payload, plain_a.path("vmlinux"))
    assert r.returncode == 0 and "match:" in r.stdout, r
    bad = _write(tmp_path, "tampered.elf", Elf64(payload.read_bytes()).tamper_text().d)
    r = _check(bad, plain_a.path("vmlinux"))
    assert r.returncode == 1 and "MISMATCH" in r.stdout and ".text" in r.stdout, r


def test_no_section_table_is_an_error_not_a_match(payload, plain_a, tmp_path):
    e = Elf64(payload.read_bytes()).tamper_text()
    struct.pack_into("<Q", e.d, 0x28, 0)                        # e_shoff = 0
    assert_error(_check(_write(tmp_path, "noshoff.elf", e.d), plain_a.path("vmlinux")),
                 "image cannot be compared", "no section table")


def test_no_section_name_table_is_an_error(payload, plain_a, tmp_path):
    e = Elf64(payload.read_bytes()).tamper_text()
    struct.pack_into("<H", e.d, 0x3e, 0)                        # e_shstrndx = 0
    assert_error(_check(_write(tmp_path, "nostr.elf", e.d), plain_a.path("vmlinux")),
                 "image cannot be compared", "section name table")


def test_a_name_table_past_the_end_is_an_error(payload, plain_a, tmp_path):
    e = Elf64(payload.read_bytes()).tamper_text()
    struct.pack_into("<Q", e.d, e.sh(e.shstrndx) + 0x18, len(e.d) + 4096)
    assert_error(_check(_write(tmp_path, "strpast.elf", e.d), plain_a.path("vmlinux")),
                 "image cannot be compared")


def test_a_renamed_text_is_a_mismatch(payload, plain_a, tmp_path):
    e = Elf64(payload.read_bytes()).tamper_text()
    i = e.index(".text")
    stroff, = struct.unpack_from("<Q", e.d, e.sh(e.shstrndx) + 0x18)
    off = stroff + struct.unpack_from("<I", e.d, e.sh(i))[0]
    e.d[off:off + 5] = b".txet"
    r = _check(_write(tmp_path, "renamed.elf", e.d), plain_a.path("vmlinux"))
    assert r.returncode == 1 and "MISMATCH" in r.stdout, r
    assert "image only:    .txet" in r.stdout and "debug only:    .text" in r.stdout, r


def test_text_marked_nobits_is_an_error(payload, plain_a, tmp_path):
    e = Elf64(payload.read_bytes()).tamper_text()
    struct.pack_into("<I", e.d, e.sh(e.index(".text")) + 4, SHT_NOBITS)
    assert_error(_check(_write(tmp_path, "nobits.elf", e.d), plain_a.path("vmlinux")),
                 "image cannot be compared", ".text has no bytes")


def test_text_without_shf_alloc_is_a_mismatch(payload, plain_a, tmp_path):
    e = Elf64(payload.read_bytes()).tamper_text()
    at = e.sh(e.index(".text")) + 8
    flags, = struct.unpack_from("<Q", e.d, at)
    struct.pack_into("<Q", e.d, at, flags & ~SHF_ALLOC)
    r = _check(_write(tmp_path, "noalloc.elf", e.d), plain_a.path("vmlinux"))
    assert r.returncode == 1 and "MISMATCH" in r.stdout and "debug only:    .text" in r.stdout, r


def test_a_payload_shorter_than_its_headers_with_a_garbage_table(payload, plain_a, tmp_path):
    """What the fuzzer found: an lz4 bzImage payload that decodes 44 bytes short of
    its last loadable segment, with a section table of zeros after it."""
    need_tool("lz4", "lz4")
    e = Elf64(payload.read_bytes())
    phoff, = struct.unpack_from("<Q", e.d, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", e.d, 0x36)
    end = max(struct.unpack_from("<Q", e.d, phoff + i * phentsize + 8)[0]
              + struct.unpack_from("<Q", e.d, phoff + i * phentsize + 32)[0]
              for i in range(phnum)
              if struct.unpack_from("<I", e.d, phoff + i * phentsize)[0] == 1)
    short = e.d[:end - 44]
    struct.pack_into("<Q", short, 0x28, len(short))             # the table: zeros, after it
    short += b"\0" * (e.shentsize * e.shnum)
    raw = _write(tmp_path, "short.elf", short)
    lz = tmp_path / "short.elf.lz4"
    subprocess.run(["lz4", "-q", "-l", str(raw), str(lz)], check=True)
    for img in (raw, lz):
        assert_error(_check(img, plain_a.path("vmlinux")), "image cannot be compared")


def test_a_debug_file_with_only_notes_is_an_error(payload, plain_a, tmp_path):
    """A few hundred bytes of ELF with just the image's build-id note is not a debug vmlinux."""
    from test_hostile_compare import make_elf
    need_tool("objcopy", "binutils")
    raw = tmp_path / "notes.bin"
    subprocess.run(["objcopy", "--dump-section", ".notes=%s" % raw, str(plain_a.path("vmlinux")),
                    str(tmp_path / "scratch")], check=True)
    notes = make_elf([(".notes", 7, SHF_ALLOC, raw.read_bytes(), 0, 0)],
                     tmp_path / "notes-only.debug")
    assert notes.stat().st_size < 1024
    assert_error(_check(payload, notes), "debug file cannot be compared", ".text", ".symtab")


def test_a_stripped_kernel_is_not_a_debug_file(plain_a):
    """The bzImage's ELF (stripped: no symbols) given as the debug file."""
    assert_error(_check(plain_a.path("bzImage"), plain_a.path("bzImage")),
                 "debug file cannot be compared", ".symtab")


def test_a_raw_image_is_not_a_debug_file(arm64):
    assert_error(_check(arm64.path("vmlinux"), arm64.path("Image")), "not a debug vmlinux")


def test_more_sections_than_a_kernel_has_are_refused_before_they_are_held(tmp_path):
    """3M sections from a small file held ~1.85 GB; now refused at the count."""
    from test_hostile_compare import NOTE_SEC, make_elf, with_symtab
    p = make_elf(with_symtab([NOTE_SEC, (".text", 1, 6, b"\x90" * 64, 0, 0)]),
                 tmp_path / "many.elf")
    d = bytearray(p.read_bytes())
    struct.pack_into("<H", d, 0x3c, 0)                          # e_shnum 0: count in section 0
    shoff, = struct.unpack_from("<Q", d, 0x28)
    struct.pack_into("<Q", d, shoff + 0x20, 3_000_000)          # section 0's sh_size
    d += b"\0" * (64 * 3_000_000 - (len(d) - shoff))            # a table that is really there
    p.write_bytes(bytes(d))
    q = tmp_path / "many-and-a-byte.elf"
    q.write_bytes(bytes(d) + b"\0")                           # not byte-identical: diff reads sections
    for cmd in ("check", "diff"):
        r = run_bounded(cmd, p, q, timeout=60, mem_mib=400)
        assert_error(r, "3000000 sections")


@pytest.mark.parametrize("name", ["Image", "Image.gz", "vmlinuz.efi"])
def test_a_raw_image_is_compared_where_its_sections_load(arm64, tmp_path, name):
    """arm64's Image is `objcopy -O binary vmlinux`: each allocated section with bytes
    lies at (load address - the lowest). Before, a raw image was compared by its
    build-id alone: a tampered .text with the note intact said "match". Compressed
    (Image.gz, the EFI zboot vmlinuz.efi), the bytes the build-id scan decoded
    must stay readable for the comparison (they were consumed around the blob)."""
    r = _check(arm64.path(name), arm64.path("vmlinux"))
    assert r.returncode == 0 and "allocated sections compared at their load addresses, 0 differ" \
        in r.stdout, r
    data = bytearray(open(arm64.path("Image"), "rb").read())
    data[len(data) // 3] ^= 0x01
    bad = _write(tmp_path, "Image.tampered", data)
    if name == "Image.gz":
        subprocess.run(["gzip", "-1", "-f", str(bad)], check=True)
        bad = tmp_path / "Image.tampered.gz"
    r = _check(bad, arm64.path("vmlinux"))
    assert r.returncode == 1 and "MISMATCH" in r.stdout and "(.text)" in r.stdout, r


def test_a_raw_image_against_a_debug_only_file(arm64, tmp_path):
    """kernel-dbg's file (objcopy --only-keep-debug) has bytes for the notes only."""
    need_tool("aarch64-linux-gnu-objcopy", "binutils-aarch64-linux-gnu")
    dbg = tmp_path / "vmlinux.debug"
    subprocess.run(["aarch64-linux-gnu-objcopy", "--only-keep-debug", str(arm64.path("vmlinux")),
                    str(dbg)], check=True)
    r = _check(arm64.path("Image"), dbg)
    assert r.returncode == 0 and "1 allocated sections compared at their load addresses" \
        in r.stdout, r


def test_extended_program_header_numbering_is_followed(payload, plain_a, tmp_path):
    """e_phnum PN_XNUM: the count is section 0's sh_info (as readelf reads it). Before,
    check read 65535 program headers and stopped on a table past the end."""
    e = Elf64(payload.read_bytes())
    phnum, = struct.unpack_from("<H", e.d, 0x38)
    struct.pack_into("<H", e.d, 0x38, 0xffff)
    struct.pack_into("<I", e.d, e.sh(0) + 0x2c, phnum)          # section 0's sh_info
    r = _check(_write(tmp_path, "xnum.elf", e.d), plain_a.path("vmlinux"))
    assert r.returncode == 0 and "match:" in r.stdout, r
