#!/usr/bin/env python3
# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""What do the reproducibility settings cost? Plain vs reproducible build of
the fixture kernel, in the same run, alternating (plain, repro, plain, repro
...) so that machine load hits both alike. Prints the compile-time ratio.

Target (issue 3): under 5% overhead. The expected cost is serial BTF
encoding with pahole < 1.27 (vmlinux and each module), everything else is
free (environment variables and a prefix map).

    python3 benchmarks/bench_repro_overhead.py [--rounds 1] [--jobs N]

Each round builds two kernels from scratch (~4-7 min each on 2 cores); the
builds go to a throwaway cache, never the shared fixture cache.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from kernelrepro import fixture  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--jobs", type=int)
    args = p.parse_args()
    cache = tempfile.mkdtemp(prefix="kr-bench-overhead-")
    times = {"plain": [], "repro": []}
    try:
        for r in range(args.rounds):
            for mode in ("plain", "repro"):
                fx = fixture.build("x86_64", mode, "a", cache_dir=cache, jobs=args.jobs, force=True,
                                   progress=lambda m: print("[bench] " + m, file=sys.stderr))
                times[mode].append(fx.meta["build_seconds"])
                print("round %d %-5s compile %.1f s" % (r + 1, mode, fx.meta["build_seconds"]))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    plain, repro = statistics.median(times["plain"]), statistics.median(times["repro"])
    print("%-24s %10s %10s %8s  %s" % ("measurement", "plain s", "repro s", "ratio", "target"))
    print("%-24s %10.1f %10.1f %7.3fx  %s" % ("fixture kernel compile", plain, repro,
                                             repro / plain, "< 1.05x"))


if __name__ == "__main__":
    main()
