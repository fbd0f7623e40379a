# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Cost of the kernel sstate group check on top of an OE-Core-like hash check.

A synthetic core-image-minimal-sized set of setscene task ids (real recipe
file names from an OE-Core checkout when KERNEL_REPRO_OE_CORE, or the src/
of $KERNEL_REPRO_OE_ENV (scripts/oe-env), exists; synthetic ones otherwise; target, native and
multiconfig variants; two kernels) is checked against a temporary SSTATE_DIR
holding ~half of the objects. "baseline" stats every object like OE-Core's
sstate_checkhashes does for a local cache (no mirror); "grouped" runs the
same function through kernelrepro.sstategroup.checkhashes_with_groups.

    python3 benchmarks/bench_sstategroup.py [--tasks N] [--repeat R]

Prints both timings and the added cost in percent (target: < 5 %).
"""

import argparse
import glob
import hashlib
import os
import shutil
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

from kernelrepro import sstategroup  # noqa: E402

SETSCENE = ["do_populate_sysroot", "do_populate_lic", "do_package", "do_packagedata",
            "do_package_write_rpm", "do_package_qa", "do_deploy_source_date_epoch",
            "do_create_spdx", "do_recipe_qa", "do_create_recipe_spdx"]
NATIVE = ["do_populate_sysroot", "do_populate_lic", "do_deploy_source_date_epoch",
          "do_recipe_qa", "do_create_recipe_spdx"]
KERNEL_EXTRA = ["do_deploy", "do_shared_workdir"]


def recipe_files(n):
    env = os.environ.get("KERNEL_REPRO_OE_ENV")
    root = os.environ.get("KERNEL_REPRO_OE_CORE") or (os.path.join(env, "src") if env else "")
    files = sorted(glob.glob(os.path.join(root, "meta/recipes-*/*/*.bb")))
    if len(files) < n:
        files += ["/src/meta/recipes-synth/r%d/r%d_1.0.bb" % (i, i) for i in range(n - len(files))]
    return files[:n]


def make_tids(n_tasks):
    kernels = ["/src/meta/recipes-kernel/linux/linux-yocto_6.18.bb",
               "/src/meta/recipes-kernel/linux/linux-yocto-rt_6.18.bb"]
    tids, kernel_fns = [], set()
    for fn in kernels + ["mc:other:" + kernels[0]]:
        kernel_fns.add(fn)
        tids += [fn + ":" + t for t in SETSCENE + KERNEL_EXTRA]
    i = 0
    files = recipe_files(max(1, n_tasks // 10))
    while len(tids) < n_tasks:
        fn = files[i % len(files)]
        if (i // len(files)) % 2:
            fn = "virtual:native:" + fn
            tids += [fn + ":" + t for t in NATIVE]
        else:
            tids += [fn + ":" + t for t in SETSCENE]
        i += 1
    return tids[:n_tasks], kernel_fns


def sstate_name(tid, unihash):
    mcfn, _, task = tid.rpartition(":")
    pn = os.path.basename(mcfn).split("_")[0].replace(".bb", "")
    return "%s/%s/sstate:%s:core2-64-poky-linux:1.0:r0:core2-64:14:%s_%s.tar.zst" % (
        unihash[:2], unihash[2:4], pn, unihash, task[3:])


def baseline_checkhashes(sqdir):
    """Stats one path per tid, like the local part of OE-Core's function."""
    def check(sq_data, d, siginfo=False, currentcount=0, summary=True, **kwargs):
        found = set()
        for tid in sq_data["hash"]:
            path = os.path.join(sqdir, sstate_name(tid, sq_data["unihash"][tid]))
            if siginfo:
                path += ".siginfo"
            if os.path.exists(path):
                found.add(tid)
        return found
    return check


class D(object):
    def getVar(self, name):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    tids, kernel_fns = make_tids(args.tasks)
    unihash = {t: hashlib.sha256(t.encode()).hexdigest() for t in tids}
    sq_data = {"hash": dict(unihash), "unihash": unihash,
               "hashfn": {t: "False pkgspec " for t in tids}}
    inherits = {}
    for t in tids:
        mcfn = t.rpartition(":")[0]
        inh = ["/src/meta/classes-global/base.bbclass", "/src/meta/classes-global/sstate.bbclass"]
        if mcfn in kernel_fns:
            inh.append("/src/meta/classes-recipe/kernel.bbclass")
        inherits[mcfn] = inh
    caches = {"": types.SimpleNamespace(inherits=inherits),
              "other": types.SimpleNamespace(inherits=inherits)}
    siggen = types.SimpleNamespace(datacaches=caches, taskhash=dict(unihash),
                                   unihash=dict(unihash), tidtopn={})

    sqdir = tempfile.mkdtemp(prefix="bench-sstate-")
    try:
        for i, t in enumerate(tids):
            # half of the objects exist; the first kernel misses its deploy
            is_k = t.rpartition(":")[0] in kernel_fns
            if (is_k and not (t.endswith(":do_deploy") and t.startswith("/src"))) or \
                    (not is_k and i % 2 == 0):
                p = os.path.join(sqdir, sstate_name(t, unihash[t]))
                os.makedirs(os.path.dirname(p), exist_ok=True)
                open(p, "w").close()
        orig = baseline_checkhashes(sqdir)
        d = D()

        def run_base():
            return orig(sq_data, d, summary=False)

        def run_grouped():
            return sstategroup.checkhashes_with_groups(orig, sq_data, d, siggen, summary=False)

        cached = run_base()

        def instant(sq, d, **kw):
            return cached if sq is sq_data else set()

        def run_group_only():
            # the added work alone: the wrapper around an instant hash check
            return sstategroup.checkhashes_with_groups(instant, sq_data, d, siggen, summary=False)

        for f in (run_base, run_grouped, run_group_only):  # warm caches
            f()
        base, grouped, only = [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter(); run_base(); base.append(time.perf_counter() - t0)
            t0 = time.perf_counter(); run_grouped(); grouped.append(time.perf_counter() - t0)
            t0 = time.perf_counter(); run_group_only(); only.append(time.perf_counter() - t0)
        b, g, o = min(base), min(grouped), min(only)
        kept = run_grouped()
        print("tasks=%d kernels=%d found(base)=%d found(grouped)=%d"
              % (len(tids), len(kernel_fns), len(cached), len(kept)))
        print("baseline (stat only, best of %d) %.2f ms; with group check %.2f ms"
              % (args.repeat, b * 1e3, g * 1e3))
        print("group check alone %.2f ms = %.1f %% of the baseline (target < 5 %%)"
              % (o * 1e3, o / b * 100))
        return 0
    finally:
        shutil.rmtree(sqdir)


if __name__ == "__main__":
    sys.exit(main())
