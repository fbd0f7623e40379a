# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Fixtures shared by the tier-3 modules, imported by each of them (not a
conftest.py: a second module named "conftest" on sys.path shadows
tests/conftest.py, whose helpers the tier-1 modules import by name)."""

import pytest

import t3env


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Scratch directory for unpacked rpms and sstate objects."""
    return str(tmp_path_factory.mktemp("t3"))


@pytest.fixture(scope="module", autouse=True)
def t3_report():
    """Print the table of bitbake runs at the end (t3env.bitbake keeps it in
    BUILDDIR/kr-t3-report.txt after every run)."""
    yield
    if t3env.LOG:
        print("\n" + t3env.report())
