#!/usr/bin/env python3
# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""What does enabling the layer cost on real builds? Printed as ratios
against the same build without it, run alternately in one run (off, on,
off, on ...) so machine load hits both alike.

  clean    tier 3: ``bitbake -c cleansstate`` of the tier-3 kernel, then
           ``bitbake`` of it: a whole kernel build, its dependencies current,
           one ccache for both (each configuration is built once untimed
           first, so both find ccache in the same state).       target < 1.02x
  restore  tier 3: an empty TMPDIR, ``bitbake`` of the kernel, everything
           restored from the complete cache the clean builds left (with the
           layer: the group check, the fingerprint checks, the verify task).
                                                                 target < 1.05x
  parse    tier 2: ``bitbake -p`` of every OE-Core recipe with no parse
           cache, with vs without ``INHERIT += "kernel-repro"``. target < 1.01x

Needs an environment of ``scripts/oe-env setup SERIES`` (run as root, like
the tier-2/3 tests: BitBake runs as the build user):

    KERNEL_REPRO_OE_ENV=$(scripts/oe-env path master) \\
        python3 benchmarks/bench_layer_cost.py [--pairs 3] [--only clean,restore,parse]

Wall times of the whole ``bitbake`` command. On 2 cores a clean pair takes
~10-15 min, a restore pair ~3 min, a parse pair ~5 min.
"""

import argparse
import glob
import os
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "tier3"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tier2"))

TARGETS = {"clean": 1.02, "restore": 1.05, "parse": 1.01}
#: The same kernel, the layer off and on: KR_T3_NONREPRODUCIBLE in both, so
#: every compile differs (the case the layer exists for) and ccache misses
#: the same files in both.
CONF = {"off": 'KR_T3_NONREPRODUCIBLE = "1"\n',
        "on": 'INHERIT += "kernel-repro"\nKR_T3_NONREPRODUCIBLE = "1"\n'}


def fail(msg):
    print("bench_layer_cost: " + msg, file=sys.stderr)
    sys.exit(2)


def tier3_runs(t3env, pairs, kinds):
    """Clean and restore pairs -> {kind: {"off": [s], "on": [s]}}."""
    out = {k: {"off": [], "on": []} for k in kinds}
    for mode, text in CONF.items():
        t3env.CONFIGS["bench-" + mode] = text
    pn = t3env.PN

    def use(mode):
        t3env.point("sstate", "bench-" + mode)   # one cache per configuration

    def bitbake(args, mode, what):
        b = t3env.bitbake(args, "bench-" + mode, check=False, what="bench %s: %s" % (mode, what))
        if b.rc:
            fail("bitbake %s (%s) failed (exit %d):\n%s" % (args, mode, b.rc, b.out[-3000:]))
        return b

    def clean_build(mode):
        use(mode)
        bitbake("-c cleansstate %s" % pn, mode, "cleansstate")
        b = bitbake(pn, mode, "clean build")
        if b.compiles != 1:
            fail("the clean %s build did not compile the kernel once (%d)" % (mode, b.compiles))
        return b.seconds

    def restore(mode):
        use(mode)
        t3env.fresh_tmpdir()
        b = bitbake(pn, mode, "restore into an empty TMPDIR")
        if b.compiles or b.real & set(t3env.BINARY_TASKS):
            fail("the %s restore ran real tasks: %s" % (mode, sorted(b.real)))
        return b.seconds

    t3env.empty_dir("sstate-mirror", "none")
    for mode in CONF:      # untimed: both ccache states alike, both caches complete
        t0 = time.time()
        clean_build(mode)
        print("warm-up %-3s clean build %.0f s" % (mode, time.time() - t0), flush=True)
    for i in range(pairs):
        for mode in ("off", "on"):
            if "clean" in kinds:
                s = clean_build(mode)
                out["clean"][mode].append(s)
                print("pair %d %-3s clean   %7.1f s" % (i + 1, mode, s), flush=True)
        for mode in ("off", "on"):
            if "restore" in kinds:
                s = restore(mode)
                out["restore"][mode].append(s)
                print("pair %d %-3s restore %7.1f s" % (i + 1, mode, s), flush=True)
    return out


def _is_this_layer(path):
    try:
        with open(os.path.join(path, "conf", "layer.conf")) as f:
            return 'BBFILE_COLLECTIONS += "kernel-repro"' in f.read()
    except OSError:
        return False


def parse_runs(t2env, pairs):
    """``bitbake -p`` with no parse cache, off/on alternately -> {"off": [s], "on": [s]}."""
    rc, out, _ = t2env.run('echo "BUILDDIR=$BUILDDIR"')
    m = re.search(r"^BUILDDIR=(\S+)$", out, re.M)
    if rc or not m:
        fail("the environment's wrapper did not give a BUILDDIR:\n" + out[-2000:])
    builddir = m.group(1)
    with open(os.path.join(builddir, "conf", "bblayers.conf")) as f:
        paths = re.findall(r"(/[^\s\"]+)", f.read())
    if not any(_is_this_layer(p) for p in paths):
        fail("no kernel-repro layer in %s/conf/bblayers.conf (bitbake-layers add-layer)" % builddir)
    st = os.stat(os.path.join(builddir, "conf"))
    confs = {}
    for mode, text in (("off", ""), ("on", 'INHERIT += "kernel-repro"\n')):
        path = os.path.join(builddir, "conf", "kr-bench-parse-%s.conf" % mode)
        with open(path, "w") as f:
            f.write("# written by benchmarks/bench_layer_cost.py\n" + text)
        os.chown(path, st.st_uid, st.st_gid)
        confs[mode] = os.path.relpath(path, builddir)
    times = {"off": [], "on": []}
    for i in range(pairs):
        for mode in ("off", "on"):
            for cache in (glob.glob(os.path.join(builddir, "cache", "**", "bb_cache.dat*"), recursive=True)
                          + glob.glob(os.path.join(builddir, "tmp*", "cache", "**", "bb_cache.dat*"),
                                      recursive=True)):
                os.unlink(cache)    # a cold parse; the code parser cache stays warm for both
            rc, out, secs = t2env.run("bitbake -R %s -p" % confs[mode], timeout=3600)
            if rc:
                fail("bitbake -p (%s) failed:\n%s" % (mode, out[-3000:]))
            times[mode].append(secs)
            print("pair %d %-3s parse   %7.1f s" % (i + 1, mode, secs), flush=True)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--only", default="clean,restore,parse")
    args = ap.parse_args()
    kinds = [k for k in args.only.split(",") if k]
    if not kinds or set(kinds) - set(TARGETS) or args.pairs < 1:
        fail("--only takes clean, restore, parse; --pairs at least 1")
    if not os.environ.get("KERNEL_REPRO_OE_ENV"):
        fail("KERNEL_REPRO_OE_ENV is not set: scripts/oe-env setup SERIES first (as root), then "
             "KERNEL_REPRO_OE_ENV=$(scripts/oe-env path SERIES)")
    if os.geteuid() != 0:
        fail("run as root (the environment's wrapper switches to the build user)")
    import t2env
    results = {}
    t3 = [k for k in kinds if k != "parse"]
    if t3:
        import t3env
        if not os.path.exists(os.path.join(t3env.BUILDDIR, "conf", "local.conf")):
            fail("no tier-3 build directory at %s (tests/tier3/setup-tier3)" % t3env.BUILDDIR)
        results.update(tier3_runs(t3env, args.pairs, t3))
    if "parse" in kinds:
        results["parse"] = parse_runs(t2env, args.pairs)
    print()
    print("%-8s %6s %10s %10s %8s %8s  %s" % ("build", "pairs", "off s", "on s", "ratio",
                                              "spread", "target"))
    for kind in kinds:
        off, on = results[kind]["off"], results[kind]["on"]
        ratios = [b / a for a, b in zip(off, on)]
        ratio = statistics.median(on) / statistics.median(off)
        print("%-8s %6d %10.1f %10.1f %7.3fx %8s  < %.2fx %s"
              % (kind, len(off), statistics.median(off), statistics.median(on), ratio,
                 "%.2f-%.2f" % (min(ratios), max(ratios)), TARGETS[kind],
                 "met" if ratio < TARGETS[kind] else "NOT MET"))
    print("(medians of wall times; spread: the lowest and highest on/off ratio of one pair)")


if __name__ == "__main__":
    main()
