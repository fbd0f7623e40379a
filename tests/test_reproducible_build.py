# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Issue 3, tier 1: the fixture kernel built twice from different paths at
different times with `kernel-repro env` is byte-identical -- vmlinux, bzImage,
kheaders, modules -- with BTF on and Debian's pahole (the serial path). The
same pair built without the settings differs, so the test can fail."""

import os

import pytest

from conftest import run_cli
from kernelrepro import diff, fixture, reproenv

pytestmark = pytest.mark.kernel

ARTIFACTS = fixture.COMPARED_ARTIFACTS


def modules(fx):
    return {os.path.basename(m): m for m in fx.modules}


@pytest.fixture(scope="module")
def repro_same(repro_a, repro_b):
    """{artifact: byte-identical?} of the reproducible pair (the demo's comparison)."""
    return fixture.compare_builds(repro_a, repro_b)


@pytest.fixture(scope="module")
def plain_same(plain_a, plain_b):
    return fixture.compare_builds(plain_a, plain_b)


def test_builds_really_differ_in_path_and_time(repro_a, repro_b):
    assert repro_a.meta["tree"] != repro_b.meta["tree"]
    assert len(repro_b.meta["tree"]) > len(repro_a.meta["tree"])
    assert repro_b.meta["built_at"] > repro_a.meta["built_at"]


def test_settings_came_from_kernel_repro_env(repro_a):
    s = repro_a.meta["settings"]
    assert s["KBUILD_BUILD_TIMESTAMP"] == reproenv.kbuild_timestamp(1700000000)
    assert "-ffile-prefix-map=%s=" % repro_a.meta["tree"] in s["KCFLAGS"]
    assert "-ffile-prefix-map=%s=" % repro_a.meta["tree"] in s["KAFLAGS"]
    # Debian 12's pahole is 1.24: parallel BTF encoding must be switched off
    assert s.get("KERNEL_REPRO_PAHOLE_MODE") == reproenv.PAHOLE_SERIAL


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_reproducible_pair_identical(repro_same, artifact):
    assert repro_same[artifact], artifact


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_plain_pair_differs(plain_same, artifact):
    assert not plain_same[artifact], artifact


def test_reproducible_modules_identical(repro_a, repro_b, repro_same):
    ma, mb = modules(repro_a), modules(repro_b)
    assert len(ma) >= 2 and set(ma) == set(mb)
    for name in ma:
        assert repro_same["modules/" + name], name


def test_plain_modules_differ(plain_a, plain_same):
    ma = modules(plain_a)
    assert any(not plain_same["modules/" + n] for n in ma)


def test_reproducible_pair_diff_says_identical(repro_a, repro_b):
    run_cli("diff", repro_a.path("vmlinux"), repro_b.path("vmlinux"), check=0)
    run_cli("check", repro_a.path("bzImage"), repro_b.path("vmlinux"), check=0)


def test_serial_btf_keeps_its_content(repro_a, plain_a):
    """Serial pahole must not lose BTF: same kinds, about the same type count as -j."""
    from elftools.elf.elffile import ELFFile
    with open(repro_a.path("vmlinux"), "rb") as fa, open(plain_a.path("vmlinux"), "rb") as fb:
        ra = diff.parse_btf(ELFFile(fa).get_section_by_name(".BTF").data())
        pb = diff.parse_btf(ELFFile(fb).get_section_by_name(".BTF").data())
    assert ra["types"] > 10000
    assert set(ra["kinds"]) == set(pb["kinds"])
    assert abs(ra["types"] - pb["types"]) < 0.01 * pb["types"]
