# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3: more than one kernel in one build -- real BitBake runs.

  k  a second kernel recipe (linux-kr-t3-alt: KERNEL_PACKAGE_NAME
     "altkernel", so KERNEL_DEPLOYSUBDIR "altkernel") beside the preferred
     one: each deploys its fingerprint in its own directory, each verifies
     against its own pkgdata, and the rootfs check (the class's function,
     kernelrepro.fingerprint) on a rootfs made of both kernels' real rpms
     compares the preferred kernel's files only (issue 13 item 7)
  m  multiconfig with a TMPDIR of its own sharing SSTATE_DIR: a group with
     a lost deploy object, built in the multiconfig only, is rebuilt from
     one compile; the refused objects are replaced, no stale mark is left,
     and another builder (default configuration, fresh TMPDIR) restores that
     one compile (issue 13 item 5)

Runs after test_kernel_sstate_t3.py on its "group" cache, or alone (it
builds the group first when the cache holds no complete one).
"""

import os
import re
import shutil
import tempfile

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import BINARY_TASKS, PN
from kernelrepro import artifacts, fingerprint

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

ALT, ALT_KPN = "linux-kr-t3-alt", "altkernel"
MC = "krmc"


def group_cache(work):
    """Point at the "group" cache; build the group when it is not complete -> its build-id."""
    t3env.point("sstate-mirror", "none")
    t3env.point("sstate", "group")
    objs = t3env.object_ids(work)
    ids = {b for members in objs.values() for b in members.values()}
    if set(objs) != set(BINARY_TASKS) or len(ids) != 1:
        # stamps in TMPDIR may say "done": clean so the tasks run and make objects
        t3env.bitbake("-c clean %s" % PN, "group", what="k/m: -c clean")
        t3env.bitbake(PN, "group", what="k/m: populate the group cache")
        objs = t3env.object_ids(work)
        ids = {b for members in objs.values() for b in members.values()}
    assert set(objs) == set(BINARY_TASKS) and len(ids) == 1, objs
    return ids.pop()


def unpack(rpmdir, patterns, dest):
    """Unpack the rpms of ``rpmdir`` whose names match ``patterns`` into ``dest``."""
    done = []
    for name in sorted(os.listdir(rpmdir)):
        if any(re.match(p, name) for p in patterns):
            artifacts.package_files(os.path.join(rpmdir, name), dest)
            done.append(name)
    return done


def test_k_second_kernel(work):
    """Two kernel recipes in one build: fingerprints side by side, each
    checked against its own compile; the rootfs check picks the preferred."""
    group_cache(work)
    b = t3env.bitbake("%s %s" % (PN, ALT), "group", what="k: the kernel and a second kernel recipe")
    alt_real, _alt_ss, alt_counts = artifacts.task_runs(b.out, ALT)
    assert alt_counts.get("compile") == 1, sorted(alt_real)
    assert "kernel_repro_verify" in alt_real, sorted(alt_real)
    p = t3env.paths()
    main = t3env.one_compile(t3env.output_ids(work), "k: " + PN)
    alt = t3env.one_compile(t3env.output_ids(work, pn=ALT, kpn=ALT_KPN, subdir=ALT_KPN), "k: " + ALT)
    assert main != alt
    # the preferred kernel's fingerprint at the top, the second one's in its
    # subdirectory, beside its own image: no collision
    assert fingerprint.read_record(os.path.join(p["deploy"], "bzImage.buildid"))["build_id"] == main
    assert fingerprint.read_record(os.path.join(p["deploy"], ALT_KPN, "bzImage.buildid"))["build_id"] == alt
    assert not [f for f in os.listdir(p["deploy"]) if f.endswith(".buildid")
                and fingerprint.read_record(os.path.join(p["deploy"], f))["build_id"] == alt]

    # a rootfs with both kernels' packages, from the real feed
    rootfs = tempfile.mkdtemp(dir=work)
    got = unpack(p["rpm"], [r"(kernel|%s)-(image-bzimage|vmlinux|buildid)-\d.*\.rpm$" % ALT_KPN], rootfs)
    assert len(got) == 6, got
    releases = {pn: fingerprint.kernel_release(p["pkgdata"], pn) for pn in (PN, ALT)}
    assert releases[PN] and releases[ALT] and releases[PN] != releases[ALT], releases
    for pn, bid in ((PN, main), (ALT, alt)):
        files = fingerprint.rootfs_kernel_files(rootfs, "bzImage", releases[pn])
        assert sorted(w for w, _ in files) == sorted(["/boot/bzImage-" + releases[pn],
                                                      "/boot/vmlinux-" + releases[pn]]), files
        ids = [("pkgdata", fingerprint.read_record(fingerprint.pkgdata_path(p["pkgdata"], pn))["build_id"])]
        ids += [("rootfs " + w, fingerprint.read_build_id(f)) for w, f in files]
        ids.append(("rootfs record", fingerprint.read_record(
            os.path.join(rootfs, "usr/share/kernel-repro/%s.buildid" % pn))["build_id"]))
        assert fingerprint.check_pair(pn, ids) == bid
    # every /boot kernel (what a check without the release does): a false error
    every = [("pkgdata", main)] + [("rootfs " + w, fingerprint.read_build_id(f))
                                   for w, f in fingerprint.rootfs_kernel_files(rootfs, "bzImage", None)]
    with pytest.raises(fingerprint.FingerprintMismatch):
        fingerprint.check_pair(PN, every)


def test_m_multiconfig_with_its_own_tmpdir(work):
    """A lost deploy object, rebuilt in a multiconfig with its own TMPDIR:
    one compile, refused objects replaced in the shared SSTATE_DIR, no stale
    mark left; the default configuration then restores that one compile."""
    old = group_cache(work)
    mctmp = os.path.join(t3env.BUILDDIR, "tmp-" + MC)
    shutil.rmtree(mctmp, ignore_errors=True)
    t3env.delete_objects(["deploy"])
    b = t3env.bitbake("mc:%s:%s" % (MC, PN), "group-mc", what="m: deploy object lost, built in mc:%s" % MC)
    real, setscene, counts = artifacts.task_runs(b.out, PN, mc=MC)
    assert counts.get("compile") == 1, sorted(real)
    assert not (setscene & set(BINARY_TASKS)), "restored from a partial group: %s" % sorted(setscene)
    assert set(BINARY_TASKS) <= real, sorted(real)
    assert not artifacts.task_runs(b.out, PN, mc="")[0], "the default configuration built something"
    assert "kernel-repro: of those found" in b.out, "no Sstate summary correction line"
    new = t3env.one_compile(t3env.output_ids(work, tmp=mctmp), "m: mc:%s" % MC)
    assert new != old
    objs = t3env.object_ids(work)
    assert set(objs) == set(BINARY_TASKS), sorted(objs)
    for task, members in objs.items():
        assert set(members.values()) == {new}, (task, members)
    marks = [os.path.join(r, f) for r, _d, fs in os.walk(t3env.sstate_dir())
             for f in fs if f.endswith(".kernel-repro-stale")]
    assert not marks, "stale marks left: %s" % marks
    # another builder, the default configuration, from an empty TMPDIR
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "group-mc", what="m: default configuration, fresh TMPDIR")
    real, setscene, counts = artifacts.task_runs(b.out, PN, mc="")
    assert "compile" not in counts, sorted(real)
    assert set(BINARY_TASKS) - {"package"} <= setscene, sorted(setscene)
    assert t3env.one_compile(t3env.output_ids(work), "m: default after mc") == new
