#!/usr/bin/env python3
# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""kernel-repro buildid / check / extract against their anchors, in one run.

Anchors, on the same images:
  * buildid and check: the kernel's own scripts/extract-vmlinux followed by
    ``readelf -n`` (what people do today);
  * extract: the raw decompressor alone (``xz -dc`` on the payload bytes cut
    out of the bzImage with dd offsets from the header);
  * memory: peak RSS of ``kernel-repro extract`` vs the payload size.

Targets (issue 2): buildid on a compressed image >= 2x faster than the anchor;
extraction within 1.2x of the raw decompressor; memory bounded by the payload
size, not a multiple of it. Prints one line per measurement with the ratio.

    python3 benchmarks/bench_toolkit.py [--repeat 5] [IMAGE VMLINUX]

Without arguments it uses the x86_64 fixture kernel (built/cached on first use).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from kernelrepro import fixture  # noqa: E402

CLI = [sys.executable, os.path.join(ROOT, "scripts", "kernel-repro")]


def extract_vmlinux_script():
    """scripts/extract-vmlinux from the same Debian linux-source tarball."""
    dest = os.path.join(fixture.default_cache_dir(), "tools", "extract-vmlinux")
    if not os.path.exists(dest):
        src = fixture.find_linux_source()
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with tarfile.open(src) as tf:
            for m in tf:
                if m.name.endswith("/scripts/extract-vmlinux"):
                    with open(dest + ".tmp", "wb") as f:
                        f.write(tf.extractfile(m).read())
                    break
        os.chmod(dest + ".tmp", 0o755)
        os.rename(dest + ".tmp", dest)
    return dest


def timeit(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sh(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, **kw)


def child_peak_kib(argv):
    """Peak RSS of one child run, measured in a fresh wrapper process."""
    code = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:],check=True,"
            "stdout=subprocess.DEVNULL);print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(sh([sys.executable, "-c", code] + argv).stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("image", nargs="?")
    p.add_argument("vmlinux", nargs="?")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    if not args.image:
        fx = fixture.build("x86_64", "plain", "a",
                           progress=lambda m: print("[fixture] " + m, file=sys.stderr))
        args.image, args.vmlinux = fx.path("bzImage"), fx.path("vmlinux")
    xv = extract_vmlinux_script()
    tmp = tempfile.mkdtemp(prefix="kr-bench-")
    anchor_out = os.path.join(tmp, "anchor.elf")

    def anchor_buildid(img=None):
        with open(anchor_out, "wb") as f:
            subprocess.run([xv, img or args.image], stdout=f, stderr=subprocess.DEVNULL, check=True)
        out = sh(["readelf", "-n", anchor_out]).stdout.decode()
        return [l.split(":")[1].strip() for l in out.splitlines() if "Build ID" in l][0]

    def ours_buildid(img=None):
        return sh(CLI + ["buildid", img or args.image]).stdout.split()[0].decode()

    def anchor_check():
        a = anchor_buildid()
        out = sh(["readelf", "-n", args.vmlinux]).stdout.decode()
        b = [l.split(":")[1].strip() for l in out.splitlines() if "Build ID" in l][0]
        return a == b

    def ours_check():
        return subprocess.run(CLI + ["check", args.image, args.vmlinux],
                              stdout=subprocess.DEVNULL).returncode == 0

    assert anchor_buildid() == ours_buildid(), "anchor and tool disagree on the build-id"
    assert anchor_check() and ours_check()

    # raw decompressor on the exact payload bytes (header-derived offsets)
    with open(args.image, "rb") as f:
        head = f.read(0x250)
    setup = ((head[0x1f1] or 4) + 1) * 512
    off = setup + int.from_bytes(head[0x248:0x24c], "little")
    length = int.from_bytes(head[0x24c:0x250], "little")
    payload = os.path.join(tmp, "payload.xz")
    with open(args.image, "rb") as f, open(payload, "wb") as o:
        f.seek(off)
        o.write(f.read(length))
    ours_out = os.path.join(tmp, "ours.elf")

    def raw_decompress():
        with open(os.path.join(tmp, "raw.elf"), "wb") as o:
            subprocess.run(["xz", "-dc", "--single-stream", payload], stdout=o,
                           stderr=subprocess.DEVNULL)

    def ours_extract():
        subprocess.run(CLI + ["extract", "--force", args.image, "-o", ours_out],
                       stdout=subprocess.DEVNULL, check=True)

    def python_startup():
        subprocess.run([sys.executable, "-c", "import kernelrepro.cli"], check=True,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "lib")))

    # a compressed debug vmlinux (what a vmlinux.gz / kernel-dbg archive is)
    vgz = os.path.join(tmp, "vmlinux.gz")
    with open(vgz, "wb") as o:
        subprocess.run(["gzip", "-1", "-c", args.vmlinux], stdout=o, check=True)
    assert anchor_buildid(vgz) == ours_buildid(vgz)

    rows = []
    ta, to = timeit(anchor_buildid, args.repeat), timeit(ours_buildid, args.repeat)
    rows.append(("buildid (bzImage, xz)", "extract-vmlinux | readelf -n", ta, to, ta / to, ">= 2.0x faster"))
    ta = timeit(lambda: anchor_buildid(vgz), args.repeat)
    to = timeit(lambda: ours_buildid(vgz), args.repeat)
    rows.append(("buildid (debug vmlinux.gz)", "extract-vmlinux | readelf -n", ta, to, ta / to, ">= 2.0x faster"))
    ta, to = timeit(anchor_check, args.repeat), timeit(ours_check, args.repeat)
    rows.append(("check (bzImage vs vmlinux)", "extract-vmlinux + readelf -n x2", ta, to, ta / to, "(info)"))
    tr, te = timeit(raw_decompress, args.repeat), timeit(ours_extract, args.repeat)
    ts = timeit(python_startup, args.repeat)
    rows.append(("extract", "xz -dc on the payload", tr, te, te / tr, "<= 1.2x (time ratio)"))
    rows.append(("extract minus interpreter start", "xz -dc on the payload", tr, te - ts,
                 (te - ts) / tr, "(info)"))
    peak = child_peak_kib(CLI + ["extract", "--force", args.image, "-o", ours_out]) * 1024
    base = child_peak_kib([sys.executable, "-c", "import sys; sys.path.insert(0, %r); "
                           "import kernelrepro.cli" % os.path.join(ROOT, "lib")]) * 1024
    psize = os.path.getsize(ours_out)
    raw_peak = child_peak_kib(["xz", "-dc", "--single-stream", payload]) * 1024
    print("%-34s %-34s %10s %10s %8s  %s" % ("measurement", "anchor", "anchor s", "ours s", "ratio", "target"))
    for name, anchor, a, o, ratio, target in rows:
        print("%-34s %-34s %10.3f %10.3f %7.2fx  %s" % (name, anchor, a, o, ratio, target))
    print("%-34s %-34s %10.1f %10.1f %7.2fx  %s" % (
        "extract peak RSS above interpreter", "payload size (MiB)", psize / 2**20,
        (peak - base) / 2**20, (peak - base) / psize, "bounded by the payload (info)"))
    print("%-34s %-34s %10.1f %10.1f %7.2fx  %s" % (
        "extract peak RSS above interpreter", "xz -dc peak RSS (MiB)", raw_peak / 2**20,
        (peak - base) / 2**20, (peak - base) / raw_peak, "~1x: the decoder's dictionary"))


if __name__ == "__main__":
    main()
