#!/usr/bin/env python3
# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""``kernel-repro sstate-audit`` on a cache of 1,000+ real sstate objects.

The cache is made in a temporary directory from the tier-3 caches of
$KERNEL_REPRO_OE_ENV's build directory (default master's,
/var/tmp/kernel-repro-oe/master/build-kernel-repro-t3): ``sstate-group``
(the layer enabled: one clean kernel group, with build-id records) and
``sstate-img-plain`` (the layer not enabled: a do_deploy object from one
compile, do_package* from another, no records). Each is copied ``--copies``
times under other task hashes (every hash in the names and in the siginfo
JSON replaced consistently, so each copy is one more compile; the objects
themselves are hard links of one copy in /tmp, the real caches are only
read), half of the copies from each, so the audit must find exactly the
plain copies mixed.

Anchor, in the same run: ``zstd -dc OBJ | tar t`` over the objects the
audit reads (the kernel group objects of every compile): the listing every
reader of those objects pays at least, the archive decoded once and
nothing extracted. The audit decodes some objects twice (records first,
then the kernels where there are no records) and reads the kernel files
and rpms inside, so expect a ratio above 1.

    python3 benchmarks/bench_sstate_audit.py [--copies 26] [--repeat 1] [--keep DIR]

Prints the cache's size, both timings and the ratio audit/anchor.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "lib"))

from kernelrepro import artifacts, sstateaudit  # noqa: E402

HASH = re.compile(r"[0-9a-f]{64}")


def base_dir():
    env = os.environ.get("KERNEL_REPRO_OE_ENV") or "/var/tmp/kernel-repro-oe/master"
    return os.path.join(env, "build-kernel-repro-t3")


def zstd_json(path):
    out = subprocess.run(["zstd", "-dcq", path], stdout=subprocess.PIPE, check=True).stdout
    return out.decode()


def make_cache(dest, sources, copies):
    """``copies`` renamed copies of the caches ``sources`` (alternating) in
    ``dest`` -> the number of copies of each source."""
    pristine = os.path.join(dest, ".pristine")
    for i, src in enumerate(sources):
        shutil.copytree(src, os.path.join(pristine, str(i)),
                        ignore=shutil.ignore_patterns("hashserv.db*"))
    made = [0] * len(sources)
    cache = os.path.join(dest, "cache")
    for c in range(copies):
        i = c % len(sources)
        made[i] += 1
        root = os.path.join(pristine, str(i))

        def new(m, c=c):
            return hashlib.sha256(("copy%d" % c + m.group(0)).encode()).hexdigest()
        for dirpath, _dirs, files in os.walk(root):
            for fn in files:
                name = HASH.sub(new, fn)
                h = artifacts.sstate_name(name[:-len(".siginfo")] if name.endswith(".siginfo") else name)
                if h is None:
                    continue
                d = os.path.join(cache, h["hash"][:2], h["hash"][2:4])
                os.makedirs(d, exist_ok=True)
                src = os.path.join(dirpath, fn)
                if fn.endswith(".siginfo"):
                    text = HASH.sub(new, zstd_json(src))
                    subprocess.run(["zstd", "-q", "-f", "-o", os.path.join(d, name)],
                                   input=text.encode(), check=True)
                else:
                    os.link(src, os.path.join(d, name))
    return cache, made


def anchor(objects):
    t = time.monotonic()
    for o in objects:
        subprocess.run("zstd -dcq '%s' | tar t >/dev/null" % o.replace("'", "'\\''"), shell=True,
                       check=True)
    return time.monotonic() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=int, default=26)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--keep", help="make the cache in DIR and keep it")
    args = p.parse_args(argv)
    sources = [os.path.join(base_dir(), "sstate-group"), os.path.join(base_dir(), "sstate-img-plain")]
    for s in sources:
        if not os.path.isdir(s):
            sys.exit("no tier-3 cache %s (run tests/tier3 first, or set KERNEL_REPRO_OE_ENV)" % s)
    dest = args.keep or tempfile.mkdtemp(prefix="bench-sstate-audit-", dir="/tmp")
    try:
        t = time.monotonic()
        cache, made = make_cache(dest, sources, args.copies)
        files = sstateaudit._walk(cache)
        objects = [f for f in files if not f.endswith(".siginfo")]
        print("cache: %d files, %d objects (%d copies of sstate-group, %d of sstate-img-plain), "
              "made in %.1f s" % (len(files), len(objects), made[0], made[1], time.monotonic() - t))
        best, rep = None, None
        for _ in range(args.repeat):
            t = time.monotonic()
            r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kernel-repro"),
                                "sstate-audit", "--json", cache], stdout=subprocess.PIPE)
            el = time.monotonic() - t
            rep = json.loads(r.stdout)
            best = el if best is None else min(best, el)
        read = sorted({o["path"] for g in rep["groups"] for o in g["objects"] if o["read"]})
        groups = len(rep["groups"])
        print("audit: exit %d, %d kernel compile groups, %d mixed (expected %d), %d objects read"
              % (r.returncode, groups, rep["mixed"], made[1], len(read)))
        if rep["mixed"] != made[1] or groups != sum(made):
            print("WRONG: the audit's verdicts do not match the cache made")
        a = None
        for _ in range(args.repeat):
            el = anchor(read)
            a = el if a is None else min(a, el)
        size = sum(os.path.getsize(x) for x in read)
        print("%-44s %9s %9s %7s" % ("measurement", "anchor s", "audit s", "ratio"))
        print("%-44s %9.1f %9.1f %6.2fx" % ("%d objects, %d read (%.0f MiB compressed)"
                                           % (len(objects), len(read), size / 2**20),
                                           a, best, best / a))
        print("ratio: audit time / anchor time (zstd -dc | tar t over the objects the audit reads)")
    finally:
        if not args.keep:
            shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    main()
