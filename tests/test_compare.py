# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""check and diff on real kernels: one build against itself, and two plain
builds of the same source and config from different paths at different times
(what a non-reproducible sstate rebuild produces)."""

import json

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
