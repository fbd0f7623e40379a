# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The README's main command, end to end (fixture kernels come from the cache)."""

import pytest

from conftest import run_cli


@pytest.mark.kernel
@pytest.mark.qemu
def test_demo_passes_and_writes_report(plain_a, plain_b, repro_a, repro_b, tmp_path):
    report = tmp_path / "report.md"
    r = run_cli("demo", "--report", report)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "overall: PASS" in r.stdout
    assert "[7/7]" in r.stdout
    text = report.read_text()
    assert "Overall: **PASS**" in text
    assert "| plain builds differ | different | different | yes |" in text
    assert "| reproducible builds identical | identical | identical | yes |" in text
    assert "running kernel vs plain build A's debug vmlinux | mismatch | mismatch | yes" in text


def test_report_never_overwrites(tmp_path):
    from kernelrepro.demo import _free_path
    p = tmp_path / "r.md"
    assert _free_path(str(p)) == str(p)
    p.write_text("mine")
    assert _free_path(str(p)) == str(tmp_path / "r-1.md")
    (tmp_path / "r-1.md").write_text("also mine")
    assert _free_path(str(p)) == str(tmp_path / "r-2.md")
