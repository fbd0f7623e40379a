# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3 helpers: real BitBake builds of tests/tier3/layer's kernel recipe.

Environment (the tests skip, saying why, when it is absent):
  KERNEL_REPRO_OE_ENV       a workdir of scripts/oe-env setup SERIES (which
                            runs tests/tier3/setup-tier3 at its end).
  KERNEL_REPRO_T3_BUILDDIR  the build directory setup-tier3 made (default
                            $KERNEL_REPRO_OE_ENV/build-kernel-repro-t3).

Scenario configurations are postread files (``bitbake -R``) in the build
directory's conf/; ``sstate`` and ``sstate-mirror`` in the build directory
are links the tests point at one cache per scenario, so switching caches
never forces a re-parse. The parse cache lives outside TMPDIR
(conf/kr-t3-offline.inc), so starting from an empty TMPDIR does not either.
"""

import os
import re
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tier2"))
sys.path.insert(0, os.path.join(ROOT, "lib"))

import t2env  # noqa: E402
from kernelrepro import artifacts, fingerprint, image, sstategroup  # noqa: E402

PN = "linux-kr-t3"
MACHINE = "qemux86-64"
BUILDDIR = os.environ.get("KERNEL_REPRO_T3_BUILDDIR") or (
    os.path.join(t2env.ENV, "build-kernel-repro-t3") if t2env.ENV else "")
#: The kernel's sstate tasks that carry its binaries and that the scenarios
#: delete, restore and open (the SPDX members carry checksums, not kernels).
BINARY_TASKS = ("deploy", "package", "packagedata", "package_write_rpm")

# KR_T3_NONREPRODUCIBLE (the recipe): every compile another KBUILD_BUILD_HOST,
# so two compiles never share a build-id while one build stays one kernel.
CONFIGS = {
    # the layer in BBLAYERS but not enabled; a kernel that differs every build
    "plain": 'KR_T3_NONREPRODUCIBLE = "1"\n',
    # the layer enabled; the same non-reproducible kernel: only the group and
    # the fingerprint stand between the build and a mixed pair
    "group": 'INHERIT += "kernel-repro"\nKR_T3_NONREPRODUCIBLE = "1"\n',
    # "group" and a do_deploy that fails (an interrupted build), same hashes
    "group-fail-deploy": 'INHERIT += "kernel-repro"\nKR_T3_NONREPRODUCIBLE = "1"\nKR_T3_FAIL_DEPLOY = "1"\n',
    # OE-Core's own way to a non-reproducible kernel, with the layer
    "debug-timestamps": 'INHERIT += "kernel-repro"\nKERNEL_DEBUG_TIMESTAMPS = "1"\n'
                        'WARN_QA:append = " kernel-repro-timestamps"\n',
    # "group" plus an input change that cannot change do_package's output:
    # do_package's task hash changes, hash equivalence (OEEquivHash, the
    # BB_HASHSERVE = "auto" server) maps its outhash back to the old unihash
    "group-equiv": 'INHERIT += "kernel-repro"\nKR_T3_NONREPRODUCIBLE = "1"\n'
                   'KR_T3_EQUIV_SALT = "1"\ndo_package[vardeps] += "KR_T3_EQUIV_SALT"\n',
    # "group" with a second configuration (multiconfig "krmc") that has a
    # TMPDIR of its own and shares SSTATE_DIR (conf/multiconfig/krmc.conf)
    "group-mc": 'INHERIT += "kernel-repro"\nKR_T3_NONREPRODUCIBLE = "1"\nBBMULTICONFIG = "krmc"\n',
}
# A bundled initramfs (kernel.bbclass INITRAMFS_IMAGE_BUNDLE): the relinked
# kernel deployed as bzImage-initramfs-*.bin and, with vmlinux among the
# image types, the relinked vmlinux as vmlinux-initramfs-*.bin
_BUNDLE = ('INITRAMFS_IMAGE = "kr-t3-initramfs"\nINITRAMFS_IMAGE_BUNDLE = "1"\n'
           'KERNEL_IMAGETYPES:pn-linux-kr-t3 = "bzImage vmlinux"\n')
CONFIGS["bundle-plain"] = CONFIGS["plain"] + _BUNDLE
CONFIGS["bundle"] = CONFIGS["group"] + _BUNDLE
#: conf/multiconfig/<name>.conf of the multiconfig scenarios
MULTICONFIGS = {"krmc": 'TMPDIR = "${TOPDIR}/tmp-krmc"\n'}
MIRROR_CONF = 'SSTATE_MIRRORS = "file://.* file://${TOPDIR}/sstate-mirror/PATH"\n'

LOG = []          # (what, seconds, compiles) of every bitbake run, for the report


def skip_unless_available():
    t2env.skip_unless_available()
    for p in ("conf/local.conf", "kr-t3-hosttools/dwarfsrcfiles", "sstate"):
        if not os.path.lexists(os.path.join(BUILDDIR, p)):
            pytest.skip("%s has no %s: run scripts/oe-env setup SERIES (or tests/tier3/setup-tier3 %s)"
                        % (BUILDDIR, p, t2env.ENV), allow_module_level=True)


def owner():
    st = os.stat(BUILDDIR)
    return st.st_uid, st.st_gid


def _own(path):
    uid, gid = owner()
    os.chown(path, uid, gid)


def write_multiconfigs():
    """conf/multiconfig/<name>.conf for MULTICONFIGS (BBMULTICONFIG in a scenario conf)."""
    mcdir = os.path.join(BUILDDIR, "conf", "multiconfig")
    if not os.path.isdir(mcdir):
        os.makedirs(mcdir)
        _own(mcdir)
    for name, text in MULTICONFIGS.items():
        path = os.path.join(mcdir, name + ".conf")
        text = "# written by tests/tier3 (multiconfig %s)\n%s" % (name, text)
        if not os.path.exists(path) or open(path).read() != text:
            with open(path, "w") as f:
                f.write(text)
            _own(path)


def write_conf(name, builddir=None):
    builddir = builddir or BUILDDIR
    if "BBMULTICONFIG" in CONFIGS[name]:
        write_multiconfigs()
    path = os.path.join(builddir, "conf", "kr-t3-%s.conf" % name)
    # a scenario with a mirror of its own (an http test server) keeps it
    mirror = "" if "SSTATE_MIRRORS" in CONFIGS[name] else MIRROR_CONF
    text = "# written by tests/tier3 (scenario configuration %s)\n%s%s" % (
        name, CONFIGS[name], mirror)
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as f:
            f.write(text)
        _own(path)
    return "conf/kr-t3-%s.conf" % name


def point(link, name):
    """Point BUILDDIR/<link> at BUILDDIR/<link>-<name> (created empty if new)."""
    target = os.path.join(BUILDDIR, "%s-%s" % (link, name))
    if not os.path.isdir(target):
        os.makedirs(target)
        _own(target)
    path = os.path.join(BUILDDIR, link)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(os.path.basename(target), path)
    return target


def point_at(link, target):
    """Point BUILDDIR/<link> at an existing directory of BUILDDIR."""
    path = os.path.join(BUILDDIR, link)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(os.path.basename(target), path)


def empty_dir(link, name):
    target = os.path.join(BUILDDIR, "%s-%s" % (link, name))
    shutil.rmtree(target, ignore_errors=True)
    return point(link, name)


def sstate_dir():
    return os.path.realpath(os.path.join(BUILDDIR, "sstate"))


#: TMPDIR names: master's, and scarthgap's nodistro one (defaultsetup.conf
#: appends TCLIBCAPPEND, which master refuses to see set at all)
TMPDIRS = ("tmp", "tmp-glibc")


def tmpdir():
    for name in TMPDIRS:
        if os.path.isdir(os.path.join(BUILDDIR, name)):
            return os.path.join(BUILDDIR, name)
    return os.path.join(BUILDDIR, TMPDIRS[0])


def fresh_tmpdir():
    for name in TMPDIRS:
        shutil.rmtree(os.path.join(BUILDDIR, name), ignore_errors=True)


class Build:
    """One bitbake run: its output and which tasks of the kernel ran."""

    def __init__(self, what, rc, out, seconds):
        self.what, self.rc, self.out, self.seconds = what, rc, out, seconds
        self.real, self.setscene, counts = artifacts.task_runs(out, PN)
        self.compiles = counts.get("compile", 0)

    def errors(self):
        return [l for l in self.out.splitlines() if l.startswith("ERROR:")]


def bitbake(args, conf, check=True, what=None, builddir=None):
    """``bitbake -R <scenario conf> args`` in BUILDDIR (or ``builddir``, a
    second build directory) as the build user -> Build."""
    cmd = "bitbake -R %s %s" % (write_conf(conf, builddir), args)
    rc, out, secs = t2env.run(cmd, timeout=5400, builddir=builddir or BUILDDIR)
    b = Build(what or "%s [%s]" % (args, conf), rc, out, secs)
    LOG.append((b.what, round(secs), b.compiles, sorted(b.real & set(BINARY_TASKS)),
                sorted(b.setscene & set(BINARY_TASKS))))
    with open(os.path.join(BUILDDIR, "kr-t3-last.log"), "w") as f:
        f.write(out)
    # the table so far, so an interrupted session keeps its figures
    with open(os.path.join(BUILDDIR, "kr-t3-report.txt"), "w") as f:
        f.write(report() + "\n")
    if check and rc != 0:
        pytest.fail("%s failed (exit %d):\n%s" % (cmd, rc, out[-5000:]))
    return b


def paths(tmp=None):
    tmp = tmp or tmpdir()
    return {
        "deploy": os.path.join(tmp, "deploy", "images", MACHINE),
        "rpm": os.path.join(tmp, "deploy", "rpm", MACHINE.replace("-", "_")),
        "pkgdata": os.path.join(tmp, "pkgdata", MACHINE),
    }


def output_ids(workdir, tmp=None, pn=PN, kpn="kernel", subdir=""):
    """{where: (build-id, path)} of every copy of the kernel the build left in
    TMPDIR: the deployed bzImage, the deploy fingerprint (with the layer),
    the vmlinux in the kernel-vmlinux and kernel-dbg rpms of the feed (the
    rpm files unpacked, not PKGD), pkgdata's fingerprint (with the layer).
    ``pn``/``kpn``/``subdir``: another kernel recipe (its
    KERNEL_PACKAGE_NAME and KERNEL_DEPLOYSUBDIR); ``tmp``: another TMPDIR."""
    p = paths(tmp)
    deploy = os.path.join(p["deploy"], subdir)
    bz = os.path.realpath(os.path.join(deploy, "bzImage"))
    ids = {"deployed bzImage": (image.read_build_id(bz), bz)}
    for label, path in (("deploy record", os.path.join(deploy, "bzImage.buildid")),
                        ("pkgdata record", fingerprint.pkgdata_path(p["pkgdata"], pn))):
        rec = fingerprint.read_record(path)
        if rec:
            ids[label] = (rec["build_id"], path)
    feed = os.path.join(p["rpm"], "kernel-repro", pn + ".buildid")
    rec = fingerprint.read_record(feed)
    if rec:
        ids["rpm feed record"] = (rec["build_id"], feed)
    rpms = [r for r in os.listdir(p["rpm"]) if re.match(r"%s-buildid-\d.*\.rpm$" % kpn, r)]
    if rpms:
        dest = tempfile.mkdtemp(dir=workdir)
        files = artifacts.package_files(os.path.join(p["rpm"], rpms[0]), dest)
        assert len(files) == 1 and files[0].endswith("/usr/share/kernel-repro/%s.buildid" % pn), files
        ids["%s-buildid rpm /usr/share/kernel-repro/%s.buildid" % (kpn, pn)] = (
            fingerprint.read_record(files[0])["build_id"], files[0])
    for pkg in (kpn + "-vmlinux", kpn + "-dbg"):
        rpms = [r for r in os.listdir(p["rpm"]) if re.match(r"%s-\d.*\.rpm$" % pkg, r)]
        assert len(rpms) == 1, (pkg, rpms)
        dest = tempfile.mkdtemp(dir=workdir)
        files = [f for f in artifacts.package_files(os.path.join(p["rpm"], rpms[0]), dest)
                 if "/vmlinux-" in f]
        assert len(files) == 1, (pkg, files)
        ids["%s rpm /%s" % (pkg, os.path.relpath(files[0], dest))] = (image.read_build_id(files[0]), files[0])
    return ids


def build_ids(ids):
    return {k: v[0] for k, v in ids.items()}


def one_compile(ids, what):
    """All copies (``output_ids``) carry one build-id -> that id."""
    flat = build_ids(ids)
    assert len(set(flat.values())) == 1, "%s: kernel copies from different compiles: %s" % (what, flat)
    return next(iter(flat.values()))


def object_ids(workdir, tasks=BINARY_TASKS):
    """{task: {member: build-id}} of the kernel's objects in the current SSTATE_DIR."""
    objs = artifacts.sstate_objects(sstate_dir(), PN)
    out = {}
    for task in tasks:
        for obj in objs.get(task, []):
            out.setdefault(task, {}).update(
                {"%s:%s" % (os.path.basename(obj)[-50:], k): v
                 for k, v in artifacts.sstate_kernel_ids(obj, tempfile.mkdtemp(dir=workdir)).items()})
    return out


def delete_objects(tasks):
    """Remove the kernel's sstate objects (and .siginfo/.sig) of ``tasks``."""
    objs = artifacts.sstate_objects(sstate_dir(), PN)
    gone = []
    for task in tasks:
        assert objs.get(task), "no %s object to delete in %s" % (task, sstate_dir())
        for obj in objs[task]:
            remove_object(obj)
            gone.append(obj)
    return gone


def remove_object(obj):
    """Remove one sstate object with its .siginfo and .sig."""
    for p in (obj, obj + ".siginfo", obj + ".sig"):
        if os.path.lexists(p):
            os.unlink(p)


def copy_objects(tasks, dest_link, dest_name):
    """Copy the kernel's objects of ``tasks`` (with .siginfo) into another cache."""
    dest = os.path.join(BUILDDIR, "%s-%s" % (dest_link, dest_name))
    objs = artifacts.sstate_objects(sstate_dir(), PN)
    for task in tasks:
        for obj in objs[task]:
            rel = os.path.relpath(obj, sstate_dir())
            for p in (obj, obj + ".siginfo"):
                if os.path.exists(p):
                    t = os.path.join(dest, os.path.relpath(p, sstate_dir()))
                    os.makedirs(os.path.dirname(t), exist_ok=True)
                    shutil.copy2(p, t)
            assert rel
    uid, gid = owner()
    for dirpath, dirs, files in os.walk(dest):
        for n in dirs + files:
            os.chown(os.path.join(dirpath, n), uid, gid)
    os.chown(dest, uid, gid)
    return dest


def report():
    lines = ["%-70s %6s %8s  %-40s %s" % ("bitbake run", "s", "compiles", "real group tasks", "setscene")]
    for what, secs, compiles, real, ss in LOG:
        lines.append("%-70s %6d %8d  %-40s %s" % (what[:70], secs, compiles, ",".join(real), ",".join(ss)))
    return "\n".join(lines)


def timed(fn, *a, **kw):
    t0 = time.time()
    r = fn(*a, **kw)
    return r, time.time() - t0


class Carried(dict):
    """What one scenario leaves for the next (a build-id, a mark) within a module.

    Scenarios continue each other's builds; run on its own (``-k test_d``) one
    that needs an earlier one's result is skipped, naming the key, instead of
    failing with a KeyError."""

    def __missing__(self, key):
        pytest.skip("needs %r from an earlier scenario of this module (it continues that "
                    "build): run the module, or include that scenario in -k" % key)
