# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Helper of test_bbclass_tier2.py, run *inside* a BitBake build environment
(as the build user): parse recipes with tinfoil and print what the class did
to them as one ``PROBE-JSON {...}`` line. Executes no task.

    python3 probe_datastore.py virtual/kernel busybox
"""

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib"))
_bitbake = shutil.which("bitbake")
if not _bitbake:
    sys.exit("bitbake not on PATH: source oe-init-build-env first")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(_bitbake))), "lib"))

import bb.tinfoil  # noqa: E402

TASKS = ("do_compile", "do_compile_kernelmodules", "do_bundle_initramfs", "do_install",
         "do_fetch")


def probe(tinfoil, target):
    from kernelrepro import bbadapter
    d = tinfoil.parse_recipe(target)
    out = {
        "pn": d.getVar("PN"),
        "wired": bool(bbadapter.is_kernel_recipe(d)),
        "prefuncs": {t: d.getVarFlag(t, "prefuncs") for t in TASKS},
        "ERROR_QA": d.getVar("ERROR_QA"),
        "KBUILD_BUILD_USER": d.getVar("KBUILD_BUILD_USER"),
    }
    if out["wired"]:
        out["pahole"] = list(bbadapter.find_pahole(d))
        out["variables"] = bbadapter.task_variables(d)
    return out


def main(targets):
    result = {}
    with bb.tinfoil.Tinfoil() as tinfoil:
        tinfoil.prepare(config_only=False, quiet=2)
        for t in targets:
            result[t] = probe(tinfoil, t)
    print("PROBE-JSON " + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
