# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Bad input: one clear line on stderr, exit 2, no traceback, nothing clobbered.

Every case is run through the real command line. Kernel-derived cases cut,
corrupt or strip a real image.
"""

import os
import resource
import subprocess
import sys

import pytest

from conftest import CLI, run_cli


def assert_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) >= 1 and all(l.startswith("kernel-repro: error: ") for l in lines), r.stderr
    for n in needles:
        assert n.lower() in r.stderr.lower(), (n, r.stderr)


# ---------------------------------------------------------------- no kernel needed

@pytest.mark.parametrize("cmd", [["buildid"], ["extract", "-o", "/tmp/never-written"],
                                 ["check", "/dev/null"], ["diff", "/dev/null"]])
def test_missing_file(tmp_path, cmd):
    missing = str(tmp_path / "nope")
    argv = cmd[:1] + [missing] + cmd[1:]
    assert_error(run_cli(*argv), "no such file")


def test_directory(tmp_path):
    assert_error(run_cli("buildid", tmp_path), "is a directory")


def test_empty_file(tmp_path):
    p = tmp_path / "empty"
    p.write_bytes(b"")
    assert_error(run_cli("buildid", p), "too short")


def test_text_file_is_not_a_kernel(tmp_path):
    p = tmp_path / "README"
    p.write_text("this is not a kernel image\n" * 20)
    assert_error(run_cli("buildid", p), "not a kernel image")


def test_random_bytes(tmp_path):
    p = tmp_path / "random.bin"
    p.write_bytes(os.urandom(1 << 16))
    assert_error(run_cli("buildid", p), "not a kernel image")


def test_several_files_report_each_and_exit_2(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"nope" * 10)
    r = run_cli("buildid", sys.executable, bad)
    assert r.returncode == 2
    assert r.stdout.count("\n") == 1  # the good one is still printed
    assert_error(r, str(bad))


# An arm64 Image header (magic "ARM\x64" at 0x38): a kernel-looking start,
# so the tool keeps reading (searching for the build-id note) into the zeros.
ARM64_HEAD = b"\0" * 0x38 + b"ARM\x64" + b"\0" * 8


def _bomb(tmp_path, size_mb, compressor="gzip -1", name="bomb.gz"):
    p = tmp_path / name
    head = tmp_path / "head"
    head.write_bytes(ARM64_HEAD)
    with open(p, "wb") as f:
        subprocess.run("(cat %s; head -c %dM /dev/zero) | %s" % (head, size_mb, compressor),
                       shell=True, stdout=f, check=True)
    return p


def test_decompression_bomb_is_capped(tmp_path):
    p = _bomb(tmp_path, 64)
    assert p.stat().st_size < 1 << 20
    assert_error(run_cli("buildid", "--max-size", "16M", p), "limit")
    assert_error(run_cli("extract", "--max-size", "16M", p, "-o", tmp_path / "out"), "limit")
    assert not (tmp_path / "out").exists()
    assert [x for x in os.listdir(tmp_path) if x.startswith(".kernel-repro-")] == []


def test_bomb_cap_from_environment(tmp_path):
    p = _bomb(tmp_path, 32)
    r = subprocess.run(CLI + ["buildid", str(p)], env=dict(os.environ, KERNEL_REPRO_MAX_SIZE="8M"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert_error(r, "limit")


def test_default_cap_memory_stays_bounded(tmp_path):
    """2.5 GiB of zeros behind a small zstd file: stopped at the 2 GiB default, in little memory."""
    p = _bomb(tmp_path, 2560, "zstd -q -1", "bomb.zst")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = run_cli("buildid", p)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert_error(r, "limit")
    # the whole output would be 2.5 GiB; the tool keeps a bounded window
    assert max(peak_kib, before) < 400 * 1024, peak_kib


def test_bad_max_size(tmp_path):
    assert_error(run_cli("buildid", "--max-size", "lots", sys.executable), "bad size")


def test_nested_layers_refused(tmp_path):
    data = b"\x7fELF" + b"\0" * 60
    p = tmp_path / "deep"
    for _ in range(8):
        import gzip
        data = gzip.compress(data)
    p.write_bytes(data)
    assert_error(run_cli("buildid", p), "nested")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_permission_denied(tmp_path):
    p = tmp_path / "secret"
    p.write_bytes(b"x" * 100)
    p.chmod(0)
    assert_error(run_cli("buildid", p), "permission denied")


def test_usage_error_is_one_line():
    r = run_cli("frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- real kernel images

@pytest.mark.kernel
def test_truncated_bzimage(plain_a, tmp_path):
    data = open(plain_a.path("bzImage"), "rb").read()
    p = tmp_path / "bzImage.cut"
    p.write_bytes(data[:len(data) // 2])
    assert_error(run_cli("buildid", p), "truncated bzimage")


@pytest.mark.kernel
def test_corrupt_bzimage_payload_extract_leaves_nothing(plain_a, tmp_path):
    data = bytearray(open(plain_a.path("bzImage"), "rb").read())
    mid = len(data) // 2
    data[mid:mid + 4096] = os.urandom(4096)
    p = tmp_path / "bzImage.bad"
    p.write_bytes(bytes(data))
    out = tmp_path / "vmlinux.out"
    assert_error(run_cli("extract", p, "-o", out), "corrupt xz")
    assert not out.exists()
    assert [x for x in os.listdir(tmp_path) if x.startswith(".kernel-repro-")] == []


@pytest.mark.kernel
def test_corrupt_payload_start(plain_a, tmp_path):
    data = bytearray(open(plain_a.path("bzImage"), "rb").read())
    setup = (data[0x1f1] + 1) * 512
    off = setup + int.from_bytes(data[0x248:0x24c], "little")
    data[off + 12:off + 4096] = b"\xff" * (4096 - 12)
    p = tmp_path / "bzImage.bad2"
    p.write_bytes(bytes(data))
    assert_error(run_cli("buildid", p), "corrupt xz")


@pytest.mark.kernel
def test_bzimage_with_lying_header(plain_a, tmp_path):
    """payload_length beyond the file: the header is read, and checked."""
    data = bytearray(open(plain_a.path("bzImage"), "rb").read())
    data[0x24c:0x250] = (0x7fffffff).to_bytes(4, "little")
    p = tmp_path / "bzImage.lie"
    p.write_bytes(bytes(data))
    assert_error(run_cli("buildid", p), "truncated bzimage")


@pytest.mark.kernel
def test_truncated_compressed_vmlinux(plain_a, tmp_path):
    comp = tmp_path / "vmlinux.xz"
    payload = tmp_path / "vmlinux.bin"
    run_cli("extract", plain_a.path("bzImage"), "-o", payload, check=0)
    with open(comp, "wb") as f:
        subprocess.run(["xz", "-c", "-0", str(payload)], stdout=f, check=True)
    cut = tmp_path / "vmlinux.cut.xz"
    cut.write_bytes(comp.read_bytes()[:comp.stat().st_size // 3])
    assert_error(run_cli("extract", cut, "-o", tmp_path / "o"), "truncated xz")
    assert not (tmp_path / "o").exists()


@pytest.mark.kernel
def test_image_without_build_id(plain_a, tmp_path):
    p = tmp_path / "vmlinux.noid"
    subprocess.run(["objcopy", "--strip-all", "--remove-section=.notes",
                    plain_a.path("vmlinux"), str(p)], check=True)
    assert_error(run_cli("buildid", p), "no gnu build-id")
    assert_error(run_cli("check", p, plain_a.path("vmlinux")), "no gnu build-id")


@pytest.mark.kernel
def test_corrupt_elf_header(plain_a, tmp_path):
    data = bytearray(open(plain_a.path("vmlinux"), "rb").read(1 << 20))
    data[4] = 7  # bogus ELF class
    p = tmp_path / "vmlinux.badclass"
    p.write_bytes(bytes(data))
    assert_error(run_cli("buildid", p), "corrupt elf")


@pytest.mark.kernel
def test_truncated_elf_diff(plain_a, tmp_path):
    data = open(plain_a.path("vmlinux"), "rb").read(3 << 20)
    p = tmp_path / "vmlinux.cut"
    p.write_bytes(data)
    r = run_cli("diff", plain_a.path("vmlinux"), p)
    assert_error(r)


@pytest.mark.kernel
def test_extract_never_overwrites(plain_a, tmp_path):
    out = tmp_path / "precious"
    out.write_bytes(b"keep me")
    assert_error(run_cli("extract", plain_a.path("bzImage"), "-o", out), "already exists")
    assert out.read_bytes() == b"keep me"
    run_cli("extract", plain_a.path("bzImage"), "-o", out, "--force", check=0)
    assert out.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.kernel
def test_extract_onto_input_refused(plain_a, tmp_path):
    import shutil
    p = tmp_path / "vmlinux"
    shutil.copy(plain_a.path("bzImage"), p)
    before = p.read_bytes()
    assert_error(run_cli("extract", p, "-o", p, "--force"), "output is the input")
    assert p.read_bytes() == before
