# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""``kernel-repro demo``: see the problem and the fix on real kernels, without Yocto.

1. Build a small x86_64 kernel twice the plain way (different paths, different
   times) and twice with ``kernel-repro env`` (cached after the first run).
2. Compare: the plain pair differs (with ``diff``'s explanation), the
   reproducible pair is identical: vmlinux, bzImage, kheaders, modules.
3. Boot the reproducible kernel in qemu, read its build-id from
   /sys/kernel/notes over the serial console, and check it against the debug
   vmlinux of *both* reproducible builds -- and against a plain build's
   symbols, which must not match.
4. Print a report, and write the same as Markdown.

Exit 0 only when every expected verdict held.
"""

import os
import shutil
import sys
import time

from . import diff, fixture, image, qemu
from .errors import KernelReproError

NEEDS = [("gcc", "build-essential"), ("make", "build-essential"), ("bison", "bison"),
         ("flex", "flex"), ("bc", "bc"), ("pahole", "dwarves"),
         ("qemu-system-x86_64", "qemu-system-x86"), ("xz", "xz-utils"), ("cpio", "cpio")]


def missing_prerequisites():
    miss = sorted({pkg for tool, pkg in NEEDS if not shutil.which(tool)})
    try:
        fixture.find_linux_source()
    except KernelReproError:
        miss.append("linux-source-6.1")
    try:
        qemu.find_busybox()
    except KernelReproError:
        miss.append("busybox-static")
    if not os.path.exists("/usr/include/libelf.h"):
        miss.append("libelf-dev")
    if not os.path.exists("/usr/include/openssl/ssl.h"):
        miss.append("libssl-dev")
    return miss


class Stages:
    """Numbered stages with elapsed times, printed as they happen."""

    def __init__(self, out, total, tty=None):
        self.out, self.total, self.n = out, total, 0
        self.t0 = time.time()
        self.rows = []
        if tty is None:
            tty = bool(getattr(out, "isatty", lambda: False)())
        # fixture.build reports a compile's progress through live() on a terminal
        # (one line rewritten in place), else through __call__ about once a minute
        self.live = self._live if tty else None
        self._live_on = False

    def __call__(self, msg):
        self.note(msg)

    def _live(self, text):
        """Rewrite the current progress line; None ends it."""
        if text is None:
            if self._live_on:
                self.out.write("\n")
                self._live_on = False
        else:
            self.out.write("\r      %s\033[K" % text)
            self._live_on = True
        self.out.flush()

    def _end_live(self):
        if self._live_on:
            self._live(None)

    def start(self, title):
        self.n += 1
        self.title, self.ts = title, time.time()
        self.out.write("[%d/%d] %s ...\n" % (self.n, self.total, title))
        self.out.flush()

    def note(self, msg):
        self._end_live()
        self.out.write("      %s (%.0f s)\n" % (msg, time.time() - self.ts))
        self.out.flush()

    def done(self, result):
        self._end_live()
        dt = time.time() - self.ts
        self.rows.append((self.n, self.title, result, dt))
        self.out.write("      -> %s  [%.0f s, total %.0f s]\n" % (result, dt, time.time() - self.t0))
        self.out.flush()


def run(out=sys.stdout, report_path=None, jobs=None, boot_timeout=400):
    miss = missing_prerequisites()
    if miss:
        raise KernelReproError("the demo needs: %s -- run ./scripts/setup-debian, or: "
                               "sudo apt-get install %s" % (", ".join(miss), " ".join(miss)))
    st = Stages(out, 7)
    checks = []   # (what, expected, got, ok)
    builds = {}
    for n, (mode, variant, label) in enumerate([
            ("plain", "a", "plain build A"), ("plain", "b", "plain build B (other path, later)"),
            ("repro", "a", "reproducible build A (kernel-repro env)"),
            ("repro", "b", "reproducible build B (other path, later)")]):
        st.start(label)
        fx = fixture.build("x86_64", mode, variant, jobs=jobs, progress=st)
        builds[mode + variant] = fx
        st.done("build-id %s (%s)" % (image.read_build_id(fx.path("vmlinux")),
                                      "from cache" if time.time() - st.ts < 5 else
                                      "built in %.0f s" % fx.meta["total_seconds"]))

    st.start("compare the plain builds")
    plain = diff.diff(builds["plaina"].path("vmlinux"), builds["plainb"].path("vmlinux"))
    plain_cmp = fixture.compare_builds(builds["plaina"], builds["plainb"])
    ok = not plain["identical"]
    checks.append(("plain builds differ", "different", "different" if ok else "identical", ok))
    st.done("DIFFERENT (expected)" if ok else "IDENTICAL (unexpected!)")
    for line in plain["explanation"]:
        out.write("        - %s\n" % line)

    st.start("compare the reproducible builds")
    repro_cmp = fixture.compare_builds(builds["reproa"], builds["reprob"])
    same = all(repro_cmp.values())
    checks.append(("reproducible builds identical", "identical",
                   "identical" if same else "differ: " + ", ".join(k for k, v in repro_cmp.items() if not v),
                   same))
    if not same:
        rd = diff.diff(builds["reproa"].path("vmlinux"), builds["reprob"].path("vmlinux"))
        for line in rd["explanation"]:
            out.write("        - %s\n" % line)
    st.done("IDENTICAL: %s" % ", ".join(repro_cmp) if same else "DIFFERENT (unexpected!)")

    st.start("boot reproducible build A in qemu and read /sys/kernel/notes")
    notes, console = qemu.running_notes(builds["reproa"].path("bzImage"), timeout=boot_timeout)
    running = image.notes_data_build_id(notes, "the booted kernel's /sys/kernel/notes")
    uname = next((l for l in console.splitlines() if l.startswith("running: ")), "").strip()
    verdicts = []
    for label, fx, expect in (("its own debug vmlinux", builds["reproa"], True),
                              ("reproducible build B's debug vmlinux", builds["reprob"], True),
                              ("plain build A's debug vmlinux", builds["plaina"], False)):
        bid = image.read_build_id(fx.path("vmlinux"))
        match = bid == running
        checks.append(("running kernel vs %s" % label, "match" if expect else "mismatch",
                       "match" if match else "mismatch", match == expect))
        verdicts.append("%s: %s" % (label, "match" if match else "MISMATCH"))
    st.done("running build-id %s; %s" % (running, "; ".join(verdicts)))
    out.write("        %s\n" % uname)

    ok_all = all(c[3] for c in checks)
    lines = ["# kernel-repro demo report", "",
             "Kernel: Debian %s, x86_64 tinyconfig + DWARF5, BTF, kallsyms, kheaders, modules."
             % os.path.basename(builds["plaina"].meta["source"]), "",
             "| # | stage | result | seconds |", "|---|---|---|---|"]
    lines += ["| %d | %s | %s | %.0f |" % (n, t, r.replace("|", "/"), dt) for n, t, r, dt in st.rows]
    lines += ["", "## Verdicts", "", "| check | expected | got | ok |", "|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s |" % (w, e, g, "yes" if ok else "**NO**") for w, e, g, ok in checks]
    lines += ["", "## Why the plain builds differ (kernel-repro diff)", ""]
    lines += ["- " + x for x in plain["explanation"]]
    lines += ["", "## Plain vs reproducible, artifact by artifact", "",
              "| artifact | plain A = B | reproducible A = B |", "|---|---|---|"]
    lines += ["| %s | %s | %s |" % (k, "same" if plain_cmp.get(k) else "differs",
                                      "same" if repro_cmp.get(k) else "differs") for k in repro_cmp]
    lines += ["", "Settings used for the reproducible builds (`kernel-repro env`):", "", "```"]
    lines += ["%s=%s" % kv for kv in sorted(builds["reproa"].meta["settings"].items())]
    lines += ["```", "", "Overall: **%s** (total %.0f s)" % ("PASS" if ok_all else "FAIL",
                                                        time.time() - st.t0), ""]
    text = "\n".join(lines)
    out.write("\n" + "=" * 72 + "\n")
    for w, e, g, ok in checks:
        out.write("%-4s %-52s expected %-9s got %s\n" % ("ok" if ok else "FAIL", w, e, g))
    out.write("overall: %s in %.0f s\n" % ("PASS" if ok_all else "FAIL", time.time() - st.t0))
    report_path = _free_path(report_path or os.path.join(os.getcwd(), "kernel-repro-demo-report.md"))
    with open(report_path, "w") as f:
        f.write(text)
    out.write("report: %s\n" % report_path)
    return 0 if ok_all else 1


def _free_path(path):
    """Never overwrite a file the user had: add -1, -2, ... when taken."""
    if not os.path.exists(path):
        return path
    base, ext = os.path.splitext(path)
    n = 1
    while os.path.exists("%s-%d%s" % (base, n, ext)):
        n += 1
    return "%s-%d%s" % (base, n, ext)
