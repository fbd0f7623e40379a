# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3, the image level (issue 17): what the device runs.

tests/tier3/layer's kr-t3-image is made by OE-Core's real do_rootfs,
do_image_cpio and do_image_complete (rpm backend on the host's dnf and
createrepo_c): the tier-3 kernel's kernel-image and modules, its build-id
record, the busybox-only boot check and Debian's static busybox, as a
cpio.gz initramfs. Every copy of the kernel is read back from the real
files: the image's /boot kernel and record (the cpio.gz unpacked in
memory), the deployed bzImage, the kernel-vmlinux and kernel-dbg rpms.

The kernel is non-reproducible on purpose (KR_T3_NONREPRODUCIBLE), so two
compiles always differ and a mix is visible. The tests run in file order:

  h0  without the layer (the control): the hole -- the image is built, the
      kernel is cleansstate'd and the image built again: the kernel is
      compiled again, the image keeps the old kernel, kernel-dbg has the new
      one, and the build says nothing
  h1  with the layer, the same commands: one compile, the image's do_rootfs
      runs again (the kernel's clean invalidated the image, the hash check
      refused its old object), every copy is the new compile
  h2  with the layer, the kernel's stamps and objects lost without a clean
      (nothing invalidated the image): do_kernel_repro_image_verify stops
      the build naming both build-ids; the same command again repairs it
  h3  a fresh TMPDIR on a cache whose kernel group lost its deploy object:
      without the layer the image holds the restored packages' compile and
      the deploy directory a new one; with it, one new compile everywhere
  boot  the image booted with qemu: the busybox-only boot check logs the
      match line for its own kernel and the warning line for another
  runqemu  OE-Core's runqemu boots it (the host's qemu standing in for
      qemu-system-native), the match line on the console
"""

import glob
import os
import re
import shutil
import subprocess

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import PN, one_compile
from kernelrepro import artifacts, fingerprint

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

IMAGE = "kr-t3-image"
IMAGE_TASKS = ("rootfs", "image_cpio", "image_complete")
STATE = t3env.Carried()


def image_file(tmp=None):
    deploy = t3env.paths(tmp)["deploy"]
    found = sorted(glob.glob(os.path.join(deploy, "%s-%s*.cpio.gz" % (IMAGE, t3env.MACHINE))),
                   key=lambda p: (os.path.islink(p), p))
    links = [p for p in found if os.path.islink(p)]
    assert links or found, "no %s cpio.gz in %s" % (IMAGE, deploy)
    return os.path.realpath((links or found)[0])


def all_ids(work, tmp=None, layer=True):
    """{copy: build-id}: the kernel recipe's outputs and the image's kernel."""
    ids = t3env.build_ids(t3env.output_ids(work, tmp))
    img = image_file(tmp)
    inside = artifacts.image_kernel_ids(img, os.path.join(work, "img-%d" % len(os.listdir(work))))
    inside = {"/" + m.lstrip("./"): bid for m, bid in inside.items()}
    assert any(m.startswith("/boot/bzImage") for m in inside), inside
    for member, bid in inside.items():
        ids["image %s" % member] = bid
    if layer:
        deploy = t3env.paths(tmp)["deploy"]
        rec = sorted(glob.glob(os.path.join(deploy, "%s-%s*.kernel-repro.buildid" % (IMAGE, t3env.MACHINE))))
        assert rec, "no image record in %s" % deploy
        ids["image record"] = fingerprint.read_record(rec[0])["build_id"]
    return ids


def image_runs(b):
    """(real, setscene) task names (without do_) of the image in a run."""
    real, setscene, _ = artifacts.task_runs(b.out, IMAGE)
    return real, setscene


def split(ids):
    """(build-id of the image's copies, build-id of kernel-dbg)."""
    img = {v for k, v in ids.items() if k.startswith("image /boot/")}
    dbg = {v for k, v in ids.items() if k.startswith("kernel-dbg rpm")}
    assert len(img) == 1 and len(dbg) == 1, ids
    return img.pop(), dbg.pop()


def fresh(conf, sstate):
    t3env.empty_dir("sstate", sstate)
    t3env.empty_dir("sstate-mirror", "none")
    t3env.fresh_tmpdir()


# ------------------------------------------------------------------ h0

def test_h0_control_the_hole_without_the_layer(work):
    fresh("plain", "img-plain")
    b = t3env.bitbake(IMAGE, "plain", what="h0: image, layer not enabled (empty TMPDIR+SSTATE_DIR)")
    assert b.compiles == 1
    first = all_ids(work, layer=False)
    one_compile({k: (v, None) for k, v in first.items()}, "h0 first build")
    t3env.bitbake("-c cleansstate %s" % PN, "plain", what="h0: cleansstate of the kernel")
    b = t3env.bitbake(IMAGE, "plain", what="h0: image again")
    assert b.compiles == 1, "the kernel is compiled again"
    real, _ = image_runs(b)
    assert not (real & set(IMAGE_TASKS)), real
    assert not b.errors()
    ids = all_ids(work, layer=False)
    img, dbg = split(ids)
    assert img == split(first)[0], "the image kept its first kernel"
    assert img != dbg, "control: without the layer the image's kernel and kernel-dbg differ: %s" % ids
    STATE["h0"] = (img, dbg)


# ------------------------------------------------------------------ h1

def test_h1_the_same_commands_with_the_layer(work):
    fresh("group", "img-group")
    b = t3env.bitbake(IMAGE, "group", what="h1: image, layer enabled (empty TMPDIR+SSTATE_DIR)")
    assert b.compiles == 1
    real, _ = image_runs(b)
    assert "kernel_repro_image_verify" in real and "rootfs" in real, real
    first = all_ids(work)
    x = one_compile({k: (v, None) for k, v in first.items()}, "h1 first build")
    t3env.bitbake("-c cleansstate %s" % PN, "group", what="h1: cleansstate of the kernel")
    b = t3env.bitbake(IMAGE, "group", what="h1: image again")
    assert b.compiles == 1
    real, setscene = image_runs(b)
    assert {"rootfs", "image_cpio", "image_complete"} <= real, (real, setscene)
    assert "image_complete" not in setscene
    assert "kr-t3-image.bb: not restoring" in b.out and "rebuilt in this build" in b.out
    y = one_compile({k: (v, None) for k, v in all_ids(work).items()}, "h1 after cleansstate")
    assert y != x, "two compiles of the non-reproducible kernel differ"
    # no-change rebuild: nothing compiled, the image not rebuilt, the check ran
    b = t3env.bitbake(IMAGE, "group", what="h1: no-change rebuild")
    real, _ = image_runs(b)
    assert b.compiles == 0 and "rootfs" not in real and "kernel_repro_image_verify" in real, real
    # OE-Core keeps no do_image_complete object (image.bbclass:
    # SSTATE_SKIP_CREATION:task-image-complete); the image's objects that
    # were refused (its SPDX rootfs/image documents) have been replaced:
    # no stale mark is left
    index = os.path.join(t3env.sstate_dir(), t3env.sstategroup.STALE_INDEX)
    assert not os.path.isdir(index) or not os.listdir(index), os.listdir(index)
    STATE["h1"] = y


# ------------------------------------------------------------------ h2

def kernel_stamps():
    return glob.glob(os.path.join(t3env.tmpdir(), "stamps", "*", PN, "*"))


def test_h2_lost_without_a_clean_is_stopped_then_repaired(work):
    """The kernel's stamps and sstate objects vanish without `bitbake -c
    clean` (a wiped stamps dir, an rm of work and cache): nothing tells the
    image; its stamps stay current. The image's own check stops the build."""
    t3env.point("sstate", "img-group")
    y = one_compile({k: (v, None) for k, v in all_ids(work).items()}, "h2 before (h1's build)")
    for p in kernel_stamps():
        os.unlink(p)
    shutil.rmtree(os.path.join(t3env.tmpdir(), "work", "qemux86_64-oe-linux", PN), ignore_errors=True)
    t3env.delete_objects(t3env.BINARY_TASKS)
    b = t3env.bitbake(IMAGE, "group", check=False, what="h2: image after the kernel was lost")
    assert b.rc != 0 and b.compiles == 1
    real, _ = image_runs(b)
    assert "rootfs" not in real
    err = [l for l in b.errors() if "kernel-repro: image %s holds a kernel from another compile" % IMAGE in l]
    assert err, b.errors()
    z = one_compile(t3env.output_ids(work), "h2 kernel outputs")
    assert y in err[0] and z in err[0] and "run `bitbake %s` again" % IMAGE in err[0], err[0]
    # the command the message gives repairs it
    b = t3env.bitbake(IMAGE, "group", what="h2: the same command again")
    real, _ = image_runs(b)
    assert b.compiles == 0 and "rootfs" in real, real
    assert one_compile({k: (v, None) for k, v in all_ids(work).items()}, "h2 repaired") == z
    STATE["h2"] = z


# ------------------------------------------------------------------ h3

def test_h3_fresh_tmpdir_partial_kernel_group(work):
    """Control first: the plain cache of h0, its deploy object lost, a fresh
    TMPDIR: the image is made from the restored packages of the old compile,
    beside a new deployed kernel (OE-Core keeps no image object in sstate,
    so the image itself is rebuilt either way)."""
    t3env.point("sstate", "img-plain")
    t3env.delete_objects(["deploy"])
    t3env.fresh_tmpdir()
    b = t3env.bitbake(IMAGE, "plain", what="h3: fresh TMPDIR, deploy lost, layer not enabled")
    assert b.compiles == 1
    ids = all_ids(work, layer=False)
    # the packages (and so the image and kernel-dbg) of the old compile,
    # the deployed kernel of the new one
    assert ids["deployed bzImage"] != split(ids)[0], "control: image and deploy differ: %s" % ids

    t3env.point("sstate", "img-group")
    t3env.delete_objects(["deploy"])
    t3env.fresh_tmpdir()
    b = t3env.bitbake(IMAGE, "group", what="h3: fresh TMPDIR, deploy lost, layer enabled")
    assert b.compiles == 1
    real, setscene = image_runs(b)
    assert "rootfs" in real and "image_complete" not in setscene, (real, setscene)
    w = one_compile({k: (v, None) for k, v in all_ids(work).items()}, "h3 with the layer")
    assert w != STATE.get("h2")
    STATE["h3"] = w


# ------------------------------------------------------------------ boot

def boot(bzimage, initrd, timeout=120):
    qemu = shutil.which("qemu-system-x86_64") or pytest.skip("no qemu-system-x86_64")
    cmd = [qemu, "-machine", "q35", "-m", "256", "-nographic", "-no-reboot", "-kernel", bzimage,
           "-initrd", initrd, "-append", "console=ttyS0 panic=-1"]
    # TCG, not KVM: under nested virtualisation KVM stalled in the firmware
    # here; the tiny kernel boots in seconds without it
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=timeout).stdout
    except subprocess.TimeoutExpired as e:
        out = e.output or b""
    return out.decode("utf-8", "replace")


def test_boot_the_image_busybox_only(work):
    """What the device runs: qemu boots the deployed bzImage with the
    image; the boot check (sh + busybox, no Python in the image) logs the
    match line. Booted with a kernel of another compile (h0's, kept in the
    plain cache's outputs), it logs the warning line."""
    w = one_compile({k: (v, None) for k, v in all_ids(work).items()}, "the image to boot")
    deploy = t3env.paths()["deploy"]
    bz = os.path.realpath(os.path.join(deploy, "bzImage"))
    log = boot(bz, image_file())
    assert "kr-t3: done" in log, log[-3000:]
    assert "kernel-repro: match: the running kernel %s is the build recorded for %s" % (w, PN) in log, log[-3000:]
    # a kernel of another compile, without building one: the deployed
    # bzImage inside the plain (h0/h3 control) cache's deploy object
    objs = t3env.artifacts.sstate_objects(os.path.join(t3env.BUILDDIR, "sstate-img-plain"), PN)
    dest = os.path.join(work, "other")
    members = t3env.artifacts.sstate_members(objs["deploy"][0], dest, lambda n: os.path.basename(n).startswith("bzImage-"))
    bzs = [p for p in members.values() if os.path.isfile(p) and not os.path.islink(p)
           and not p.endswith(".buildid")]
    assert bzs, members
    log = boot(bzs[0], image_file())
    oid = fingerprint.read_build_id(bzs[0])
    assert oid != w
    assert re.search(r"kernel-repro: MISMATCH: the running kernel %s is not the kernel this image's "
                     r"build-id records describe \(%s=%s\)" % (oid, PN, w), log), log[-3000:]


def test_runqemu_boots_the_image(work):
    """OE-Core's runqemu boots the tier-3 image (ramfs, slirp, serial) with
    the host's qemu-system-x86_64 standing in for qemu-system-native: a link
    where the image's qemuboot.conf (staging_bindir_native) looks for it.
    The boot check's match line is on the console."""
    w = one_compile({k: (v, None) for k, v in all_ids(work).items()}, "the image runqemu boots")
    deploy = t3env.paths()["deploy"]
    conf = glob.glob(os.path.join(deploy, "%s-%s*.qemuboot.conf" % (IMAGE, t3env.MACHINE)))
    assert conf, "no qemuboot.conf in %s" % deploy
    with open(sorted(conf)[0]) as f:
        rel = re.search(r"^staging_bindir_native = (\S+)", f.read(), re.M).group(1)
    bindir = os.path.normpath(os.path.join(deploy, rel))
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, "qemu-system-x86_64")
    if not os.path.lexists(link):
        os.symlink(shutil.which("qemu-system-x86_64") or pytest.skip("no qemu-system-x86_64"), link)
    uid, gid = t3env.owner()
    for p in (bindir, link):
        os.lchown(p, uid, gid)
    rc, out, secs = t3env.t2env.run('runqemu qemux86-64 %s ramfs nographic slirp qemuparams="-no-reboot"'
                                    % IMAGE, timeout=300, builddir=t3env.BUILDDIR)
    assert "kr-t3: done" in out, out[-3000:]
    assert "kernel-repro: match: the running kernel %s is the build recorded for %s" % (w, PN) in out, out[-3000:]
