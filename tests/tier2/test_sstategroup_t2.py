# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 2: the kernel sstate group with a real BitBake + OE-Core, in dry runs.

`bitbake -DD -n virtual/kernel` logs the exact sstate object names it looks
for; an empty file at that name counts as found and the dry run schedules
the _setscene task instead of the real one. With fabricated objects:

* only the kernel's do_package_write_rpm object present:
  - without the class: rpm restored, kernel compiled again for do_deploy
    (the 2020 behaviour: a mixed pair);
  - with kernel-repro-sstate: nothing of the group restored, one compile;
* every object of the kernel present: all restored, no real kernel task;
* nothing present: a normal build.

Environment: see t2env.py (KERNEL_REPRO_OE_ENV, KERNEL_REPRO_OE_RUN,
KERNEL_REPRO_T2_KERNEL).

The class is enabled with `bitbake -R <postread conf>`, never by editing
local.conf. The fabricated objects live in a private SSTATE_DIR
(${TOPDIR}/kernel-repro-t2-sstate) set by the same postread confs. Each
configuration is parsed once (~2-5 min cold); each dry run takes ~1 min.
"""

import os
import re
import shutil
import time

import pytest

import t2env
from t2env import KERNEL, run

pytestmark = pytest.mark.tier2
GROUP = ["deploy", "package", "packagedata", "package_write_rpm", "package_write_ipk",
         "package_write_deb", "create_spdx", "create_package_spdx"]

t2env.skip_unless_available()


@pytest.fixture(scope="module")
def builddir():
    return t2env.layer_builddir()


SSTATE = "kernel-repro-t2-sstate"
BASE_CONF = 'SSTATE_DIR = "${TOPDIR}/%s"\nSSTATE_MIRRORS = ""\n' % SSTATE


@pytest.fixture(scope="module")
def confs(builddir):
    owner = os.stat(builddir).st_uid
    paths = {}
    for name, extra in (("without", ""), ("with", 'INHERIT += "kernel-repro-sstate"\n')):
        p = os.path.join(builddir, "conf", "kernel-repro-t2-%s.conf" % name)
        with open(p, "w") as f:
            f.write("# written by tests/tier2/test_sstategroup_t2.py\n" + BASE_CONF + extra)
        os.chown(p, owner, -1)
        paths[name] = p
    return paths


def sstate_dir(builddir):
    return os.path.join(builddir, SSTATE)


def reset_sstate(builddir):
    """Remove the private cache's objects (keep the hash equivalence database)."""
    d = sstate_dir(builddir)
    if not os.path.isdir(d):
        os.makedirs(d)
        os.chown(d, os.stat(builddir).st_uid, -1)
    for name in os.listdir(d):
        if name.startswith("hashserv.db"):
            continue
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


LOOKED = re.compile(r"Looked for but didn't find file (\S+)")
FOUND = re.compile(r"Found valid sstate file (\S+)")
RUNNING = re.compile(r"NOTE: Running (setscene |noexec )?task \d+ of \d+ \((\S+)\)")
SUMMARY = re.compile(r"^Sstate summary: .*$", re.M)


def kernel_objects(log):
    """{task: object path} of the kernel recipe, from a -DD dry run log."""
    objs = {}
    for path in LOOKED.findall(log) + FOUND.findall(log):
        base = os.path.basename(path)
        if not base.startswith("sstate:%s:" % KERNEL):
            continue
        m = re.search(r"_([a-z_]+)\.tar\.zst$", base)
        if m:
            objs[m.group(1)] = path
    return objs


def kernel_tasks(log):
    """(setscene tasks, real tasks) of the kernel recipe scheduled by the dry run."""
    setscene, real = set(), set()
    for kind, tid in RUNNING.findall(log):
        fn, _, task = tid.rpartition(":")
        if not os.path.basename(fn).startswith(KERNEL + "_"):
            continue
        if kind == "setscene ":
            setscene.add(task[3:].replace("_setscene", ""))
        elif kind == "":
            real.add(task[3:])
    return setscene, real


def dry_run(conf, report, label):
    rc, out, secs = run("bitbake -DD -n -R %s virtual/kernel" % conf)
    logdir = os.environ.get("KERNEL_REPRO_T2_LOGDIR")
    if logdir:
        os.makedirs(logdir, exist_ok=True)
        with open(os.path.join(logdir, re.sub(r"\W+", "-", label).strip("-") + ".log"), "w") as f:
            f.write(out)
    summary = SUMMARY.search(out)
    setscene, real = kernel_tasks(out)
    report.append("%-34s rc=%d %5.0fs %s\n    setscene: %s\n    real:     %s"
                  % (label, rc, secs, summary.group(0) if summary else "(no summary)",
                     " ".join(sorted(setscene)) or "-", " ".join(sorted(real)) or "-"))
    assert rc == 0, out[-3000:]
    return out, setscene, real


def fabricate(builddir, paths):
    owner = os.stat(builddir).st_uid
    top = sstate_dir(builddir)
    for p in paths:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").close()
        q = p
        while q.startswith(top + os.sep):  # the build user may write there too
            os.chown(q, owner, -1)
            q = os.path.dirname(q)


@pytest.fixture(scope="module")
def report():
    lines = []
    yield lines
    print("\n=== tier-2 sstate group dry runs ===\n" + "\n".join(lines))


def global_var(conf, name):
    rc, out, secs = run("bitbake -e -R %s" % conf)
    assert rc == 0, out[-3000:]
    m = re.search(r'^%s="(.*)"$' % re.escape(name), out, re.M)
    return (m.group(1) if m else None), secs


def test_hashcheck_function_is_wrapped_only_when_enabled(confs, report):
    with_value, secs = global_var(confs["with"], "BB_HASHCHECK_FUNCTION")
    without_value, secs2 = global_var(confs["without"], "BB_HASHCHECK_FUNCTION")
    report.append("BB_HASHCHECK_FUNCTION with class: %s (%.0fs), without: %s (%.0fs)"
                  % (with_value, secs, without_value, secs2))
    assert with_value == "kernel_repro_sstate_checkhashes"
    assert without_value == "sstate_checkhashes"


def test_without_class_rpm_hit_deploy_miss_mixes(builddir, confs, report):
    reset_sstate(builddir)
    out, setscene, real = dry_run(confs["without"], report, "without class, empty sstate")
    objs = kernel_objects(out)
    assert "package_write_rpm" in objs and "deploy" in objs, sorted(objs)
    assert "compile" in real
    fabricate(builddir, [objs["package_write_rpm"]])
    out, setscene, real = dry_run(confs["without"], report, "without class, only rpm object")
    # the 2020 behaviour: rpm restored, kernel compiled again for deploy
    assert "package_write_rpm" in setscene
    assert {"compile", "deploy"} <= real


def test_with_class_partial_group_rebuilds_whole_group(builddir, confs, report):
    reset_sstate(builddir)
    out, setscene, real = dry_run(confs["with"], report, "with class, empty sstate")
    objs = kernel_objects(out)
    assert "package_write_rpm" in objs and "deploy" in objs, sorted(objs)
    assert {"compile", "deploy", "package_write_rpm"} <= real  # nothing present: normal build
    fabricate(builddir, [objs["package_write_rpm"]])
    out, setscene, real = dry_run(confs["with"], report, "with class, only rpm object")
    assert not (setscene & set(GROUP)), setscene
    assert {"compile", "deploy", "package", "packagedata", "package_write_rpm"} <= real
    assert "kernel-repro: " in out and "not restoring do_package_write_rpm" in out


def test_with_class_complete_group_restores_without_kernel_tasks(builddir, confs, report):
    reset_sstate(builddir)
    out, _, _ = dry_run(confs["with"], report, "with class, empty sstate (names)")
    objs = kernel_objects(out)
    # a complete cache: every object the build looks for. With only the
    # kernel's objects, an unavailable hard setscene dependency (pseudo-native
    # for do_package_setscene) can make BitBake run do_package for real,
    # depending on scheduling order -- BitBake's behaviour, not the group's.
    fabricate(builddir, set(LOOKED.findall(out)))
    out, setscene, real = dry_run(confs["with"], report, "with class, complete cache")
    group_here = {t for t in GROUP if t in objs}
    # do_package's own setscene is skipped when everything after it
    # (packagedata, package_write_*) is restored: BitBake marks it covered.
    assert group_here - {"package"} <= setscene, (group_here, setscene)
    # only the cheap verification task (not a setscene task) may run for the kernel
    assert real <= {"kernel_repro_verify"}, real
    reset_sstate(builddir)


def _sigs_since(stamps, since):
    """{(recipe stamp dir, task): hash} of sigdata files written since ``since``."""
    out = {}
    for root, _dirs, files in os.walk(stamps):
        for name in files:
            if ".sigdata." not in name:
                continue
            path = os.path.join(root, name)
            if os.path.getmtime(path) < since:
                continue
            stem, sighash = name.split(".sigdata.", 1)
            task = "do_" + stem.split(".do_", 1)[1] if ".do_" in stem else stem
            out[(os.path.relpath(root, stamps), task)] = sighash
    return out


def test_enabling_changes_only_kernel_signatures(builddir, confs, report):
    """`bitbake -S none core-image-minimal` with and without the class: only
    kernel tasks get new signatures (images keep theirs: the rootfs check is
    excluded with vardepvalueexclude)."""
    tmpdir, _ = global_var(confs["without"], "TMPDIR")
    stamps = os.path.join(tmpdir, "stamps")
    sigs, secs = {}, {}
    for name in ("without", "with"):
        start = time.time() - 1
        rc, out, secs[name] = run("bitbake -S none -R %s core-image-minimal" % confs[name])
        assert rc == 0, out[-3000:]
        sigs[name] = _sigs_since(stamps, start)
    common = set(sigs["without"]) & set(sigs["with"])
    changed = sorted(k for k in common if sigs["without"][k] != sigs["with"][k])
    added = sorted(set(sigs["with"]) - set(sigs["without"]))
    report.append("-S none core-image-minimal: without %.0fs (%d sigs), with %.0fs (%d sigs);"
                  " changed: %s; new: %s"
                  % (secs["without"], len(sigs["without"]), secs["with"], len(sigs["with"]),
                     " ".join("%s:%s" % (os.path.basename(a), b) for a, b in changed) or "none",
                     " ".join("%s:%s" % (os.path.basename(a), b) for a, b in added) or "none"))
    assert sigs["without"] and changed, "no signatures compared"
    # Dependents of the kernel (the image) change through dependency hashes
    # only; their own inputs (basehash) must not change.
    own = []
    for key in changed:
        if os.path.basename(key[0]) == KERNEL:
            continue
        stem = [p for p in os.listdir(os.path.join(stamps, key[0]))
                if ".%s.sigdata." % key[1] in p or ".%s." % key[1] in p and ".sigdata." in p]
        a = [p for p in stem if p.endswith(sigs["without"][key])]
        b = [p for p in stem if p.endswith(sigs["with"][key])]
        rc, diff, _ = run("bitbake-diffsigs %s %s" % (os.path.join(stamps, key[0], a[0]),
                                                      os.path.join(stamps, key[0], b[0])))
        if re.search(r"^basehash changed", diff, re.M):
            own.append("%s:%s" % key)
    report.append("    non-kernel tasks whose own basehash changed: %s" % (" ".join(own) or "none"))
    assert not own, own
