# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""scripts/oe-env and scripts/oe-proof without running BitBake: the pinned
revisions are well formed, every series LAYERSERIES_COMPAT names is pinned
(and the other way round), bad input is one line and exit 2."""

import os
import re
import subprocess

from conftest import ROOT

SERIES = os.path.join(ROOT, "scripts", "oe-series")
OE_ENV = os.path.join(ROOT, "scripts", "oe-env")
OE_PROOF = os.path.join(ROOT, "scripts", "oe-proof")


def pinned():
    rows = {}
    with open(SERIES) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            words = line.split()
            assert len(words) == 5, line
            name, oe_branch, oe_rev, bb_branch, bb_rev = words
            assert re.fullmatch(r"[0-9a-f]{40}", oe_rev) and re.fullmatch(r"[0-9a-f]{40}", bb_rev), line
            rows[name] = words
    return rows


def test_series_are_pinned_and_match_layerseries_compat():
    rows = pinned()
    assert {"master", "wrynose", "scarthgap"} <= set(rows)
    with open(os.path.join(ROOT, "conf", "layer.conf")) as f:
        compat = re.search(r'^LAYERSERIES_COMPAT_kernel-repro = "([^"]*)"', f.read(), re.M).group(1).split()
    # OE-Core master is "blacksail"; a release series is its own branch name
    names = {"master": "blacksail"}
    assert sorted(names.get(s, s) for s in rows) == sorted(compat)


def run(*args, **kw):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60, **kw)


def test_oe_env_path_and_errors(tmp_path):
    env = dict(os.environ, KERNEL_REPRO_OE_ROOT=str(tmp_path))
    r = run(OE_ENV, "path", "wrynose", env=env)
    assert r.returncode == 0 and r.stdout.strip() == str(tmp_path / "wrynose")
    r = run(OE_ENV, "setup", "nosuch", env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown series 'nosuch'" in r.stderr
    r = run(OE_PROOF, "master", env=env)
    assert r.returncode == 2 and "run scripts/oe-env setup master first" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(OE_PROOF, "master", "tier9", env=env)
    assert r.returncode == 2 and "unknown tier" in r.stderr
