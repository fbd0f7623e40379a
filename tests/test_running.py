# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""`kernel-repro running`: boot the real fixture kernel in qemu, read its
/sys/kernel/notes from the serial console, and check it against symbols."""

import os
import struct

import pytest

from conftest import need_tool, run_cli
from kernelrepro import qemu


@pytest.fixture(scope="module")
def booted(plain_a, tmp_path_factory):
    need_tool("qemu-system-x86_64", "qemu-system-x86")
    notes, console = qemu.running_notes(plain_a.path("bzImage"), timeout=400)
    d = tmp_path_factory.mktemp("running")
    p = d / "notes"
    p.write_bytes(notes)
    (d / "console.log").write_text(console)
    return p, console


@pytest.mark.kernel
@pytest.mark.qemu
def test_running_kernel_matches_its_debug_vmlinux(plain_a, booted):
    notes, console = booted
    assert "Linux" in console and "running: Linux" in console
    r = run_cli("running", "--notes", notes, plain_a.path("vmlinux"), check=0)
    assert r.stdout.strip().splitlines()[-1].startswith("match:")
    # a deployed image is as good as the debug vmlinux for the question
    run_cli("running", "--notes", notes, plain_a.path("bzImage"), check=0)


@pytest.mark.kernel
@pytest.mark.qemu
def test_running_kernel_vs_symbols_of_another_build(plain_b, booted):
    notes, _ = booted
    r = run_cli("running", "--notes", notes, plain_b.path("vmlinux"), check=1)
    assert "MISMATCH" in r.stdout


def _err(r, needle):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr.lower(), r.stderr


def test_running_bad_notes_inputs(tmp_path):
    vml = tmp_path / "fake"
    vml.write_bytes(b"\x7fELF")
    _err(run_cli("running", "--notes", tmp_path / "missing", vml), "no such file")
    _err(run_cli("running", "--notes", tmp_path, vml), "is a directory")
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(300))
    _err(run_cli("running", "--notes", junk, vml), "not elf notes")
    # well-formed notes, but only a "Linux" one: no build-id
    only_linux = struct.pack("<III", 6, 4, 0x101) + b"Linux\0\0\0" + b"\0" * 4
    p = tmp_path / "nobid"
    p.write_bytes(only_linux)
    _err(run_cli("running", "--notes", p, vml), "no gnu build-id")


@pytest.mark.kernel
def test_running_wrong_file_as_notes(plain_a):
    _err(run_cli("running", "--notes", plain_a.path("bzImage"), plain_a.path("vmlinux")),
         "kernel notes")


def test_console_parser_rejects_missing_dump():
    from kernelrepro.errors import KernelReproError
    with pytest.raises(KernelReproError):
        qemu.notes_from_console("Kernel panic - not syncing\n")
