# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Build-ids and extraction on real kernels, in every format a build produces.

The oracle is binutils' ``readelf -n`` on the real vmlinux. Formats no build
here produces are made with the real tools (gzip, xz, zstd, lz4 -l, lzop,
bzip2, objcopy, sbsign) from the real payload.
"""

import os
import struct
import subprocess

import pytest

from conftest import need_tool, readelf_build_id, run_cli
from kernelrepro import image

pytestmark = pytest.mark.kernel

# (suffix, argv compressing the named file to stdout)
COMPRESSORS = [
    (".gz", ["gzip", "-c", "-n", "-6"]),
    (".bz2", ["bzip2", "-c", "-1"]),
    (".xz", ["xz", "-c", "-2", "--check=crc32"]),
    (".lzma", ["xz", "-c", "-2", "--format=lzma"]),
    (".zst", ["zstd", "-q", "-c", "-3"]),
    (".lz4", ["lz4", "-q", "-c", "-z"]),
    (".lzo", ["lzop", "-c", "-1"]),
]


@pytest.fixture(scope="module")
def payload(plain_a, tmp_path_factory):
    """The stripped vmlinux inside the bzImage, extracted by the tool."""
    d = tmp_path_factory.mktemp("payload")
    out = d / "vmlinux.bin"
    run_cli("extract", plain_a.path("bzImage"), "-o", out, check=0)
    return out


def test_vmlinux_and_modules_match_readelf(plain_a):
    files = [plain_a.path("vmlinux")] + plain_a.modules
    assert len(plain_a.modules) >= 2
    r = run_cli("buildid", *files, check=0)
    lines = r.stdout.splitlines()
    assert len(lines) == len(files)
    for line, f in zip(lines, files):
        bid, name = line.split("  ", 1)
        assert name == f
        assert bid == readelf_build_id(f), f


def test_bzimage_reads_boot_header(plain_a):
    """bzImage (EFI/PE, xz payload): the header, not a magic scan, finds the payload."""
    r = run_cli("buildid", "--json", plain_a.path("bzImage"), check=0)
    import json
    d = json.loads(r.stdout)[0]
    assert d["build_id"] == readelf_build_id(plain_a.path("vmlinux"))
    assert d["layers"][0].startswith("bzImage EFI/PE (protocol 2.")
    assert "xz payload" in d["layers"][0]
    assert d["layers"][-1].startswith("ELF")


def test_extract_bzimage_gives_the_linked_kernel(plain_a, payload):
    assert payload.read_bytes()[:4] == b"\x7fELF"
    assert readelf_build_id(payload) == readelf_build_id(plain_a.path("vmlinux"))
    # the payload is vmlinux minus symbols/debug: every allocated section is equal
    r = run_cli("check", "--json", payload, plain_a.path("vmlinux"), check=0)
    import json
    sec = json.loads(r.stdout)["sections"]
    assert sec["compared"] > 10 and sec["differ"] == []


@pytest.mark.parametrize("suffix,argv", COMPRESSORS, ids=[c[0] for c in COMPRESSORS])
def test_compressed_vmlinux(payload, tmp_path, suffix, argv):
    need_tool(argv[0])
    comp = tmp_path / ("vmlinux" + suffix)
    with open(comp, "wb") as f:
        subprocess.run(argv + [str(payload)], stdout=f, check=True)
    assert comp.stat().st_size > 0
    expected = readelf_build_id(payload)
    r = run_cli("buildid", comp, check=0)
    assert r.stdout.split()[0] == expected
    out = tmp_path / "out.elf"
    run_cli("extract", comp, "-o", out, check=0)
    assert out.read_bytes() == payload.read_bytes()


def test_legacy_lz4_with_kernel_size_trailer(payload, tmp_path):
    """What the kernel's cmd_lz4_with_size makes: lz4 -l output + 4-byte size."""
    need_tool("lz4")
    comp = tmp_path / "vmlinux.lz4"
    subprocess.run(["lz4", "-q", "-l", "-9", str(payload), str(comp)], check=True)
    data = comp.read_bytes()
    assert data[:4] == b"\x02\x21\x4c\x18"
    comp.write_bytes(data + struct.pack("<I", payload.stat().st_size))
    assert run_cli("buildid", comp, check=0).stdout.split()[0] == readelf_build_id(payload)
    out = tmp_path / "out"
    run_cli("extract", comp, "-o", out, check=0)
    assert out.read_bytes() == payload.read_bytes()


def test_gzip_with_size_trailer_and_padding(payload, tmp_path):
    comp = tmp_path / "vmlinux.gz"
    with open(comp, "wb") as f:
        subprocess.run(["gzip", "-c", "-1", str(payload)], stdout=f, check=True)
    with open(comp, "ab") as f:
        f.write(struct.pack("<I", payload.stat().st_size) + b"\0" * 100)
    out = tmp_path / "out"
    run_cli("extract", comp, "-o", out, check=0)
    assert out.read_bytes() == payload.read_bytes()


def test_sys_kernel_notes(plain_a, tmp_path):
    """/sys/kernel/notes is the raw .notes section; objcopy makes the same bytes."""
    notes = tmp_path / "notes"
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.notes",
                    plain_a.path("vmlinux"), str(notes)], check=True)
    r = run_cli("buildid", "-v", notes, check=0)
    assert r.stdout.split()[0] == readelf_build_id(plain_a.path("vmlinux"))
    assert "ELF notes" in r.stdout


def test_signed_efi_image(plain_a, tmp_path):
    """sbsign appends an Authenticode signature; the build-id must still be read."""
    need_tool("sbsign", "sbsigntool")
    need_tool("openssl")
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=kernel-repro test"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signed = tmp_path / "bzImage.signed"
    subprocess.run(["sbsign", "--key", str(key), "--cert", str(crt), "--output", str(signed),
                    plain_a.path("bzImage")], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    assert signed.stat().st_size > os.path.getsize(plain_a.path("bzImage"))
    assert run_cli("buildid", signed, check=0).stdout.split()[0] == \
        readelf_build_id(plain_a.path("vmlinux"))
    assert run_cli("check", signed, plain_a.path("vmlinux")).returncode == 0


def test_arm64_image_formats(arm64):
    expected = readelf_build_id(arm64.path("vmlinux"))
    assert expected
    files = [arm64.path(n) for n in ("Image", "Image.gz", "vmlinuz.efi")]
    r = run_cli("buildid", "-v", *files, check=0)
    ids = [line.split()[0] for line in r.stdout.splitlines() if not line.startswith(" ")]
    assert ids == [expected] * 3
    assert "arm64 Image" in r.stdout and "EFI zboot" in r.stdout


def test_arm64_image_check_and_extract(arm64, tmp_path):
    assert run_cli("check", arm64.path("Image.gz"), arm64.path("vmlinux")).returncode == 0
    out = tmp_path / "Image"
    run_cli("extract", arm64.path("vmlinuz.efi"), "-o", out, check=0)
    with open(arm64.path("Image"), "rb") as f:
        assert out.read_bytes() == f.read()


def test_library_stops_decompressing_once_found(plain_a):
    """buildid on a compressed image reads only up to the note, not the whole payload."""
    with image.open_image(plain_a.path("bzImage")) as (kind, blob, _layers):
        assert kind == "elf"
        image.build_id_of(kind, blob)
        read = blob.have
        total = blob.size()
    assert read < total, (read, total)


def test_unified_kernel_image(plain_a, tmp_path):
    """A UKI made the classic way: systemd's EFI stub + objcopy --add-section .linux."""
    stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
    if not os.path.exists(stub):
        need_tool("/nonexistent-linuxx64.efi.stub", "systemd-boot-efi")
    uki = tmp_path / "uki.efi"
    subprocess.run(["objcopy", "--add-section", ".linux=%s" % plain_a.path("bzImage"),
                    "--change-section-vma", ".linux=0x2000000", stub, str(uki)], check=True)
    r = run_cli("buildid", "-v", uki, check=0)
    assert r.stdout.split()[0] == readelf_build_id(plain_a.path("vmlinux"))
    assert "PE unified kernel image (.linux" in r.stdout
