# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""check and diff on real kernels: one build against itself, and two plain
builds of the same source and config from different paths at different times
(what a non-reproducible sstate rebuild produces)."""

import json
import os

import pytest

from conftest import readelf_build_id, run_cli

pytestmark = pytest.mark.kernel


def test_check_match_bzimage_vs_debug_vmlinux(plain_a):
    r = run_cli("check", plain_a.path("bzImage"), plain_a.path("vmlinux"), check=0)
    assert r.stdout.strip().splitlines()[-1].startswith("match:")


def test_check_mismatch_names_both_build_ids(plain_a, plain_b):
    r = run_cli("check", plain_a.path("bzImage"), plain_b.path("vmlinux"), check=1)
    ida, idb = readelf_build_id(plain_a.path("vmlinux")), readelf_build_id(plain_b.path("vmlinux"))
    assert ida != idb
    assert "MISMATCH" in r.stdout and ida in r.stdout and idb in r.stdout
    j = json.loads(run_cli("check", "--json", plain_a.path("bzImage"), plain_b.path("vmlinux"),
                           check=1).stdout)
    assert j["match"] is False and j["build_id_match"] is False
    assert j["sections"]["differ"]


def test_diff_identical(plain_a):
    r = run_cli("diff", plain_a.path("vmlinux"), plain_a.path("vmlinux"), check=0)
    assert "IDENTICAL" in r.stdout


def test_diff_container_vs_payload_is_identical(plain_a, tmp_path):
    out = tmp_path / "vmlinux.bin"
    run_cli("extract", plain_a.path("bzImage"), "-o", out, check=0)
    r = run_cli("diff", "--json", plain_a.path("bzImage"), out, check=0)
    j = json.loads(r.stdout)
    assert j["payloads_identical"] and not j["files_identical"]


def test_diff_two_plain_builds_explains_why(plain_a, plain_b):
    r = run_cli("diff", plain_a.path("vmlinux"), plain_b.path("vmlinux"), check=1)
    text = r.stdout
    assert "DIFFERENT" in text
    assert "build timestamp differs" in text
    assert "absolute build paths differ" in text
    # the path roots named are the two real build trees
    assert "/kr-a" in text and "/kr-b-another-builder" in text
    j = json.loads(run_cli("diff", "--json", plain_a.path("vmlinux"), plain_b.path("vmlinux"),
                           check=1).stdout)
    assert j["build_id_same"] is False
    dates_a, dates_b = j["strings"]["dates"]["a"], j["strings"]["dates"]["b"]
    assert dates_a and dates_b and set(dates_a) != set(dates_b)
    names = {d["name"] for d in j["sections"]["differ"]}
    assert {".text", ".rodata", ".BTF"} <= names
    assert j["symbols"]["available"] and j["symbols"]["moved_count"] > 0
    assert j["kallsyms"]["available"]
    assert j["btf"]["present"] and j["btf"]["identical"] is False


def test_diff_two_plain_bzimages(plain_a, plain_b):
    """Stripped payloads: no debug info, but the banner still tells the time."""
    r = run_cli("diff", plain_a.path("bzImage"), plain_b.path("bzImage"), check=1)
    assert "version banner differs" in r.stdout and "build timestamp differs" in r.stdout


def test_diff_modules(plain_a, plain_b):
    import os
    for ma in plain_a.modules:
        mb = os.path.join(os.path.dirname(plain_b.modules[0]), os.path.basename(ma))
        r = run_cli("diff", ma, mb)
        assert r.returncode in (0, 1), r.stderr
    # crc7.ko carries the build path in its debug info
    ma = [m for m in plain_a.modules if m.endswith("/crc7.ko")][0]
    mb = [m for m in plain_b.modules if m.endswith("/crc7.ko")][0]
    r = run_cli("diff", ma, mb, check=1)
    assert "absolute build paths differ" in r.stdout


# ----------------------------------------------------------- check: one pass (issue 11)

def _payload(kernel, tmp_path):
    out = tmp_path / "vmlinux.bin"
    if not out.exists():
        run_cli("extract", kernel.path("bzImage"), "-o", out, check=0)
    return out


def _section(path, name):
    """(offset, size) of section ``name``, from readelf (an independent oracle)."""
    import subprocess
    out = subprocess.run(["readelf", "-S", "-W", str(path)], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == name:
            return int(f[4], 16), int(f[5], 16)
    raise AssertionError("no %s in %s" % (name, path))


def _xz(src, dst):
    import subprocess
    with open(dst, "wb") as f:
        subprocess.run(["xz", "-c", "-1", "--check=crc32", str(src)], stdout=f, check=True)
    return dst


def test_check_decodes_the_image_once_and_compares_every_section(plain_a, tmp_path,
                                                                   monkeypatch):
    from kernelrepro import check, decompress
    from test_check_debugfile import expected_split
    calls = []
    real = decompress.stream

    def counted(f, method, *a, **kw):
        calls.append(method)
        return real(f, method, *a, **kw)
    monkeypatch.setattr(decompress, "stream", counted)
    r = check.check(plain_a.path("bzImage"), plain_a.path("vmlinux"))
    assert calls == ["xz"], calls           # once, for the build-id and the sections
    assert r["match"] and r["sections"]["differ"] == [], r
    compared, skipped = expected_split(_payload(plain_a, tmp_path), plain_a.path("vmlinux"))
    assert r["sections"]["compared"] == compared and r["sections"]["skipped"] == skipped


@pytest.mark.parametrize("spill", [False, True], ids=["in-memory", "spilled-to-disk"])
def test_check_finds_one_changed_byte_in_a_compressed_payload(plain_a, tmp_path, monkeypatch,
                                                              spill):
    """Same build-id, one byte of .rodata changed, xz-compressed again: check names
    .rodata alone -- whether the decoded payload stays in memory or (past the
    in-memory share) goes to a temporary file that is removed afterwards."""
    from kernelrepro import check, stream
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    if spill:
        monkeypatch.setattr(stream, "SPOOL_MEM", 3 << 20)
    payload = _payload(plain_a, tmp_path)
    off, size = _section(payload, ".rodata")
    data = bytearray(payload.read_bytes())
    data[off + size // 2] ^= 0x40
    changed = tmp_path / "changed.bin"
    changed.write_bytes(bytes(data))
    vmlinux = plain_a.path("vmlinux")
    r = check.check(str(_xz(changed, tmp_path / "changed.xz")), vmlinux)
    assert r["build_id_match"] and not r["match"], r
    assert r["sections"]["differ"] == [".rodata"], r["sections"]
    r = check.check(str(_xz(payload, tmp_path / "same.xz")), vmlinux)
    assert r["match"], r
    assert os.listdir(tmp) == []
    cli = run_cli("check", tmp_path / "changed.xz", vmlinux, check=1)
    assert "1 allocated section(s) differ (.rodata)" in cli.stdout, cli.stdout


def test_check_against_a_compressed_debug_vmlinux(plain_a, tmp_path):
    import subprocess
    gz = tmp_path / "vmlinux.gz"
    with open(gz, "wb") as f:
        subprocess.run(["gzip", "-1", "-c", plain_a.path("vmlinux")], stdout=f, check=True)
    a = json.loads(run_cli("check", "--json", plain_a.path("bzImage"), plain_a.path("vmlinux"),
                           check=0).stdout)
    b = json.loads(run_cli("check", "--json", plain_a.path("bzImage"), gz, check=0).stdout)
    assert a["sections"] == b["sections"] and b["sections"]["compared"] > 20


@pytest.mark.parametrize("moved", [False, True], ids=["same-layout", "moved"])
def test_check_of_a_compressed_image_whose_sections_moved(tmp_path, moved):
    """The image's section table comes last in its stream, after every section:
    sections are compared by name, where each side has them, whether the debug
    file lays them out at the same offsets or elsewhere."""
    import gzip
    from test_hostile_compare import NOTE_SEC, make_elf, with_symtab
    text, data = os.urandom(3 << 20) + b"\0" * 12345, os.urandom((1 << 20) + 7)
    secs = [NOTE_SEC, (".text", 1, 6, text, 0, 0), (".data", 1, 3, data, 0, 0),
            (".comment", 1, 0, b"image\0", 0, 0)]
    img = make_elf(secs, tmp_path / "image.elf")
    gz = tmp_path / "image.gz"
    gz.write_bytes(gzip.compress(img.read_bytes(), 1))
    pad = [(".pad", 1, 0, b"p" * 4099, 0, 0)] if moved else []
    dbg = make_elf(with_symtab(secs[:1] + pad + secs[1:3]), tmp_path / "debug.elf")
    r = json.loads(run_cli("check", "--json", gz, dbg, check=0).stdout)
    assert r["sections"]["compared"] == 3 and r["sections"]["differ"] == [], r
    other = make_elf(with_symtab(secs[:1] + pad + [secs[1], (".data", 1, 3, data[:-1] + bytes([data[-1] ^ 1]), 0, 0)]),
                     tmp_path / "other.elf")
    r = json.loads(run_cli("check", "--json", gz, other, check=1).stdout)
    assert r["sections"]["differ"] == [".data"], r
