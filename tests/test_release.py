# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The version is written in several places (Python packaging, the library,
the recipes' names): they must say the same, and CHANGELOG.md must have the
entry for it."""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*p):
    with open(os.path.join(ROOT, *p)) as f:
        return f.read()


def test_one_version_everywhere():
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        py = tomllib.load(f)["project"]["version"]
    lib = re.search(r'^__version__ = "([^"]+)"', _read("lib", "kernelrepro", "__init__.py"), re.M)
    recipes = glob.glob(os.path.join(ROOT, "recipes-kernel", "kernel-repro", "*.bb"))
    pvs = {os.path.basename(r).rsplit("_", 1)[1][:-3] for r in recipes}
    assert recipes and lib
    assert {py, lib.group(1)} | pvs == {py}, (py, lib.group(1), pvs)
    assert re.search(r"^## %s - \d{4}-\d\d-\d\d$" % re.escape(py), _read("CHANGELOG.md"), re.M), py
