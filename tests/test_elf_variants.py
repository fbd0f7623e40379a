# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""ELF classes and byte orders no kernel build here produces: 32-bit LSB (as
--32, ld -m elf_i386) and 64-bit MSB (aarch64 as/ld -EB), linked by the real
binutils with a build-id; readelf is the oracle."""

import gzip
import subprocess

import pytest

from conftest import need_tool, readelf_build_id, run_cli

SRC = ".globl _start\n_start:\n nop\n"


def _link(tmp_path, name, as_argv, ld_argv):
    s = tmp_path / (name + ".s")
    s.write_text(SRC)
    o = tmp_path / (name + ".o")
    out = tmp_path / name
    subprocess.run(as_argv + [str(s), "-o", str(o)], check=True)
    subprocess.run(ld_argv + ["--build-id=sha1", "-e", "_start", str(o), "-o", str(out)], check=True)
    return out


@pytest.fixture
def elf32(tmp_path):
    need_tool("as", "binutils")
    return _link(tmp_path, "elf32", ["as", "--32"], ["ld", "-m", "elf_i386"])


@pytest.fixture
def elf64be(tmp_path):
    need_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu")
    return _link(tmp_path, "elf64be", ["aarch64-linux-gnu-as", "-EB"], ["aarch64-linux-gnu-ld", "-EB"])


@pytest.mark.parametrize("which,desc", [("elf32", "ELF (32-bit LSB)"), ("elf64be", "ELF (64-bit MSB)")])
def test_elf_class_and_endianness(request, which, desc, tmp_path):
    path = request.getfixturevalue(which)
    expected = readelf_build_id(path)
    assert expected
    r = run_cli("buildid", "-v", path, check=0)
    assert r.stdout.split()[0] == expected and desc in r.stdout
    # compressed, the same answer (program headers first, streaming)
    gz = tmp_path / (which + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert run_cli("buildid", gz, check=0).stdout.split()[0] == expected


def test_big_endian_raw_note_scan(elf64be, tmp_path):
    """A raw image (no ELF header) of a big-endian kernel: the note is found by bytes."""
    raw = tmp_path / "Image"
    head = bytearray(0x40)
    head[0x38:0x3c] = b"ARM\x64"
    raw.write_bytes(bytes(head) + elf64be.read_bytes()[4:])
    assert run_cli("buildid", raw, check=0).stdout.split()[0] == readelf_build_id(elf64be)
