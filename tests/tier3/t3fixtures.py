# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Fixtures shared by the tier-3 modules, imported by each of them (not a
conftest.py: a second module named "conftest" on sys.path shadows
tests/conftest.py, whose helpers the tier-1 modules import by name)."""

import os

import pytest

import t3env


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Scratch directory for unpacked rpms and sstate objects."""
    return str(tmp_path_factory.mktemp("t3"))


@pytest.fixture(scope="module", autouse=True)
def t3_report():
    """Print the table of bitbake runs and keep it in BUILDDIR/kr-t3-report.txt."""
    yield
    if not t3env.LOG:
        return
    text = t3env.report()
    print("\n" + text)
    with open(os.path.join(t3env.BUILDDIR, "kr-t3-report.txt"), "w") as f:
        f.write(text + "\n")
