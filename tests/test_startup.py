# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""`kernel-repro buildid` pays only for what it uses at start-up.

On a compressed image the interpreter's start is a large part of a buildid
call (benchmarks/bench_toolkit.py), so the CLI defers every import a plain
buildid does not need. This guards that: the modules a buildid run loads,
beyond what the bare interpreter had, must not include pyelftools, the
third-party decompressors, subprocess, json or hashlib.
"""

import ast
import os
import json
import subprocess
import sys

from conftest import LIB, readelf_build_id

NOT_FOR_BUILDID = ("elftools", "zstandard", "lz4", "lzo", "subprocess", "json", "hashlib",
                   "kernelrepro.check", "kernelrepro.diff", "kernelrepro.sections",
                   "kernelrepro.fixture", "kernelrepro.demo")

PROBE = """
import io, sys
before = set(sys.modules)
sys.path.insert(0, %r)
from kernelrepro import cli
out = io.StringIO()
rc = cli.main(sys.argv[1:], out=out)
new = sorted(set(sys.modules) - before)
sys.stdout.write(repr((rc, out.getvalue(), new)))
"""


def _loaded(*argv):
    r = subprocess.run([sys.executable, "-c", PROBE % LIB] + list(argv),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
    return ast.literal_eval(r.stdout)


def test_buildid_of_a_compressed_image_loads_nothing_heavy(plain_a):
    rc, out, new = _loaded("buildid", plain_a.path("bzImage"))
    assert rc == 0 and out.split()[0] == readelf_build_id(plain_a.path("vmlinux"))
    assert "lzma" in new  # the xz payload really was decoded in this run
    heavy = [m for m in new if m.split(".")[0] in NOT_FOR_BUILDID or m in NOT_FOR_BUILDID]
    assert not heavy, heavy


def test_json_output_loads_json_only_then(plain_a):
    rc, out, new = _loaded("buildid", "--json", plain_a.path("bzImage"))
    assert rc == 0 and json.loads(out)[0]["build_id"]
    assert "json" in new
    assert "elftools" not in new and "subprocess" not in new


def test_commands_of_the_build_host_say_so_on_a_device(tmp_path):
    """The OE recipe leaves build-only modules out on the target
    (KERNEL_REPRO_BUILD_ONLY): their commands say where they run, in one
    line, exit 2. The package copied without them stands for the device's."""
    import re
    import shutil
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    recipe = open(os.path.join(root, "recipes-kernel", "kernel-repro", "kernel-repro_0.1.0.bb")).read()
    build_only = re.search(r'^KERNEL_REPRO_BUILD_ONLY = "([^"]*)"', recipe, re.M).group(1).split()
    pkg = tmp_path / "kernelrepro"
    shutil.copytree(os.path.join(root, "lib", "kernelrepro"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", *[m + ".py" for m in build_only]))
    for args in (["demo"], ["sstate-audit", str(tmp_path)]):
        r = subprocess.run([sys.executable, "-m", "kernelrepro"] + args, cwd=str(tmp_path),
                           env=dict(os.environ, PYTHONPATH=str(tmp_path)), capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "runs on a build host" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "kernelrepro", "--version"], cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=str(tmp_path)), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_check_needs_no_pyelftools():
    """check reads ELF with elfread only, so it works in an SDK, where
    OE-Core has no nativesdk-python3-pyelftools; diff names what is missing."""
    code = ("import sys; sys.modules['elftools'] = None\n"
            "import kernelrepro.check\n"
            "try:\n    import kernelrepro.diff\nexcept ImportError as e:\n    print('diff:', e.name)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=LIB))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "diff: elftools", r.stdout
