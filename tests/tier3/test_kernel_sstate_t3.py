# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3: the sstate claim on real builds of a real kernel recipe.

Each test is a real ``bitbake`` run of tests/tier3/layer's linux-kr-t3
(Debian's linux-source-6.1, the tier-1 fixture configuration, OE-Core's
kernel.bbclass: do_compile .. do_deploy, do_package*, real sstate objects),
asserted on the real artifacts through the kernelrepro library: the deployed
bzImage, the vmlinux inside the kernel-vmlinux and kernel-dbg rpms of the
feed, the fingerprint records, and the contents of the sstate objects.

The kernel is made non-reproducible on purpose (the recipe's
KR_T3_NONREPRODUCIBLE = "1": every compile gets another KBUILD_BUILD_HOST,
so another build-id), so a mix of two compiles is visible; each scenario
also shows that two compiles did differ.

The tests run in file order (a g c d f b e i j c2) and build on each
other's caches:
  a  one clean build with the layer: every copy of the kernel has one build-id
  g  a no-change rebuild compiles nothing (cost check; also from an empty
     TMPDIR, so the hash check runs on the complete cache)
  c  deploy object lost + clean: one compile, no group member restored
  d  every kernel object in SSTATE_DIR then carries that compile's build-id
  f  hash equivalence (BB_HASHSERVE = "auto", OEEquivHash): an input change
     that leaves do_package's output equal keeps the group one compile
  i  `bitbake -c deploy` after a lost deploy object rebuilds the group
     members in its graph and leaves the rpm feed object of the old compile;
     the next full build restores it and stops with both build-ids; the
     command in the message repairs the cache (one compile)
  j  a rebuild interrupted after do_package* and before do_deploy leaves
     the old deploy object marked stale: the next build restores no member
  b  the 2020 bug without the layer: deployed != packaged
  e  a mirror mixing two compiles: an error with both build-ids (with the
     layer), a silent mismatch (without)
  c2 every other non-empty subset of {deploy, package, packagedata,
     package_write_rpm} lost: one compile each (KERNEL_REPRO_T3_SUBSETS)

Setup: scripts/oe-env setup master (once, as root), then
KERNEL_REPRO_OE_ENV=$(scripts/oe-env path master) .venv/bin/python -m pytest tests/tier3 -s
"""

import itertools
import os
import re

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import BINARY_TASKS, PN, one_compile

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

STATE = t3env.Carried()
EXPECTED_COPIES = {"deployed bzImage", "deploy record", "pkgdata record", "rpm feed record",
                   "kernel-buildid rpm /usr/share/kernel-repro/%s.buildid" % PN}


def assert_copies(ids, layer=True):
    names = set(ids)
    if layer:
        assert EXPECTED_COPIES <= names, names
    assert any(n.startswith("kernel-vmlinux rpm /boot/vmlinux-") for n in names), names
    assert any(n.startswith("kernel-dbg rpm /boot/.debug/vmlinux-") for n in names), names


def objects_carry(work, build_id, what):
    """Every binary-carrying kernel object in SSTATE_DIR holds ``build_id``
    (and there is one object per task): no stale object of another compile."""
    objs = t3env.object_ids(work)
    assert set(objs) == set(BINARY_TASKS), (what, sorted(objs))
    for task, members in objs.items():
        assert members, (what, task)
        bad = {m: b for m, b in members.items() if b != build_id}
        assert not bad, "%s: %s object holds another compile: %s (expected %s)" % (what, task, bad, build_id)
    counts = {t: len(v) for t, v in t3env.artifacts.sstate_objects(t3env.sstate_dir(), PN).items()
              if t in BINARY_TASKS}
    assert all(c == 1 for c in counts.values()), (what, counts)
    return objs


def test_a_one_build(work):
    """One clean build with the layer: deployed == kernel-vmlinux == kernel-dbg
    == fingerprints, and check() passes on the sections both sides carry."""
    from kernelrepro import check
    t3env.empty_dir("sstate", "group")
    t3env.empty_dir("sstate-mirror", "none")
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "group", what="a: clean build, layer enabled (empty TMPDIR+SSTATE_DIR)")
    assert b.compiles == 1
    assert set(BINARY_TASKS) <= b.real, b.real
    ids = t3env.output_ids(work)
    assert_copies(ids)
    STATE["x"] = one_compile(ids, "a")
    # The debug symbols are kernel-dbg's file; kernel-vmlinux's /boot/vmlinux
    # is stripped (no .symtab: not a debug file for check, an image to check)
    bz = ids["deployed bzImage"][1]
    dbg = [path for name, (_b, path) in ids.items() if "-dbg rpm " in name]
    assert len(dbg) == 1, ids
    images = [bz] + [path for name, (_b, path) in ids.items() if "-vmlinux rpm " in name]
    assert len(images) == 2, ids
    for img in images:
        rep = check.check(img, dbg[0])
        assert rep["match"], (img, rep)
        assert rep["sections"]["compared"] >= 1 and not rep["sections"]["differ"], (img, rep)
    objects_carry(work, STATE["x"], "a")
    # this compile's objects, every task, for the mixed mirror of (e)
    t3env.copy_objects(sorted(t3env.artifacts.sstate_objects(t3env.sstate_dir(), PN)), "sstate", "compile-x")


def test_g_nochange_rebuild_compiles_nothing(work):
    """A cost check (it cannot fail on a mix): no-change rebuilds compile
    nothing. With the stamps current BitBake never calls the hash check, so
    the second half starts from an empty TMPDIR: every member is looked up
    in the complete cache, the group check runs, and all of it is restored."""
    b = t3env.bitbake(PN, "group", what="g: no-change rebuild (stamps current)")
    assert b.compiles == 0, b.real
    assert not (b.real & set(BINARY_TASKS)), b.real
    assert one_compile(t3env.output_ids(work), "g") == STATE["x"]
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "group", what="g: no-change rebuild, empty TMPDIR, complete cache")
    assert b.compiles == 0, b.real
    # what the build needs is restored (do_package's object only when a
    # task needs it: BitBake skips that setscene when its users are covered)
    assert {"deploy", "packagedata", "package_write_rpm"} <= b.setscene, b.setscene
    assert not (b.real & set(BINARY_TASKS)), b.real
    assert "kernel-repro: of those found" not in b.out
    assert one_compile(t3env.output_ids(work), "g fresh TMPDIR") == STATE["x"]


def lose_and_rebuild(work, tasks, conf, what):
    gone = t3env.delete_objects(tasks)
    assert gone
    t3env.bitbake("-c clean %s" % PN, conf, what="%s: -c clean" % what)
    return t3env.bitbake(PN, conf, what="%s: rebuild" % what)


def test_c_deploy_object_lost(work):
    """The 2020 sequence with the layer: one compile everywhere."""
    b = lose_and_rebuild(work, ["deploy"], "group", "c {deploy}")
    assert b.compiles == 1
    assert not (b.setscene & set(BINARY_TASKS)), "group member restored from sstate: %s" % b.setscene
    assert set(BINARY_TASKS) <= b.real, b.real
    ids = t3env.output_ids(work)
    assert_copies(ids)
    STATE["y"] = one_compile(ids, "c")
    # the kernel really is non-reproducible: without the group this would mix
    assert STATE["y"] != STATE["x"], "two compiles gave one build-id: the scenario proves nothing"


def test_d_no_stale_objects(work):
    """After (c) every kernel object in SSTATE_DIR carries (c)'s build-id:
    the refused objects of (a) were replaced, not kept beside the new ones."""
    objects_carry(work, STATE["y"], "d")
    STATE["group_objects_y"] = True


def test_f_hash_equivalence_keeps_one_compile(work):
    """An equivalent change to do_package's inputs under OE-Core's default
    hash equivalence (a real hash server, BB_HASHSERVE = "auto"): the
    group's unihashes change in the middle of the build (rehash queries of
    subsets); no compile, and every copy and object from one compile.

    A cost check, not a safety check: TMPDIR and ${B} are kept, so no
    second compile can happen and no mix can appear here, with the layer or
    without. What it shows is that the group and the fingerprints cost no
    compile and raise no false alarm when hash equivalence rewrites the
    group's unihashes mid-build. Equivalence cannot make a mix by itself:
    it maps a task to an old unihash only when the task's output is
    bit-identical, which for a kernel that differs every compile means the
    same compile. Its mid-build rehash restoring an object that an earlier
    hash check refused is what the stale marks are for: a refused object is
    marked, and a marked object counts as missing in every later check
    (tier 1, test_sstategroup.py test_stale_mark_makes_a_complete_group_partial)."""
    assert STATE["group_objects_y"], "needs (c)/(d)"
    before = {p for paths in t3env.artifacts.sstate_objects(t3env.sstate_dir(), PN).values() for p in paths}
    b = t3env.bitbake(PN, "group-equiv", what="f: equivalent input change (hash equivalence)")
    assert b.compiles == 0, b.real
    assert "package" in b.real, "the input change did not reach do_package: %s" % sorted(b.real)
    now = one_compile(t3env.output_ids(work), "f")
    assert now == STATE["y"]
    objs = t3env.object_ids(work)
    ids = {bid for members in objs.values() for bid in members.values()}
    assert ids == {STATE["y"]}, objs
    # back to the unsalted configuration: nothing to compile, one compile
    b = t3env.bitbake(PN, "group", what="f: back to the plain configuration")
    assert b.compiles == 0
    assert one_compile(t3env.output_ids(work), "f back") == STATE["y"]
    # The salted configuration's own objects go: on scarthgap hash
    # equivalence does not map the salted do_package, so the group's tasks
    # ran again (no compile) under new hashes; the scenarios after this one
    # count one object per task.
    for paths in t3env.artifacts.sstate_objects(t3env.sstate_dir(), PN).values():
        for obj in set(paths) - before:
            t3env.remove_object(obj)


def test_b_2020_bug_without_the_group(work):
    """The same sequence with the layer only in BBLAYERS: the deployed
    kernel and the packaged debug vmlinux come from two compiles."""
    t3env.empty_dir("sstate", "plain")
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "plain", what="b: clean build, layer not enabled")
    assert b.compiles == 1
    ids = t3env.output_ids(work)
    assert_copies(ids, layer=False)
    assert not (EXPECTED_COPIES - {"deployed bzImage"}) & set(ids), "the layer acts while not enabled"
    first = one_compile(ids, "b first build")
    b = lose_and_rebuild(work, ["deploy"], "plain", "b {deploy}")
    assert b.compiles == 1
    assert "package_write_rpm" in b.setscene, b.setscene
    assert "deploy" in b.real
    ids = t3env.build_ids(t3env.output_ids(work))
    deployed = ids.pop("deployed bzImage")
    assert deployed != first, "the rebuild gave the same build-id: not a non-reproducible kernel"
    assert set(ids.values()) == {first}, ids
    STATE["b"] = (first, deployed)
    print("\nb: deployed bzImage %s, packaged vmlinux (kernel-vmlinux, kernel-dbg) %s: the 2020 mismatch"
          % (deployed, first))


def test_e_mixed_mirror(work):
    """A mirror holding the deploy object of one compile and the package
    objects of another, empty local cache: with the layer the build stops
    naming both build-ids; without it, the same setup ships a mismatch."""
    # with the layer: deploy of compile y, everything else of compile x
    assert STATE["group_objects_y"], "needs (c)/(d)"
    mirror = t3env.empty_dir("sstate-mirror", "mixed-group")
    t3env.point("sstate", "group")
    t3env.copy_objects(["deploy"], "sstate-mirror", "mixed-group")
    t3env.point("sstate", "compile-x")
    tasks = sorted(set(t3env.artifacts.sstate_objects(t3env.sstate_dir(), PN)) - {"deploy"})
    t3env.copy_objects(tasks, "sstate-mirror", "mixed-group")
    assert os.path.isdir(mirror)
    t3env.empty_dir("sstate", "e-local")
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "group", check=False, what="e: mixed mirror, layer enabled")
    errors = "\n".join(b.errors())
    assert b.rc != 0, "a mirror mixing two compiles was restored silently:\n" + b.out[-3000:]
    assert "kernel-repro" in errors and STATE["x"] in errors and STATE["y"] in errors, errors
    assert b.compiles == 0 or "different compiles" in errors, errors

    t3env.point("sstate-mirror", "none")


def test_e2_mixed_mirror_without_the_layer(work):
    """(b)'s cache is exactly such a mirror: deploy of one compile, package
    objects of another. Without the layer, an empty local cache and a fresh
    TMPDIR restore it whole and ship the mismatch silently (exit 0)."""
    plain = os.path.join(t3env.BUILDDIR, "sstate-plain")
    t3env.point("sstate", "plain")
    objs = t3env.object_ids(work)
    deploy_ids = set(objs["deploy"].values())
    feed_ids = set(objs["package_write_rpm"].values())
    assert len(deploy_ids) == 1 and len(feed_ids) == 1 and deploy_ids != feed_ids, \
        "(b) did not leave a mixed cache: %s" % objs
    t3env.point_at("sstate-mirror", plain)
    t3env.empty_dir("sstate", "e-local-plain")
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "plain", what="e2: the same mix in a mirror, layer not enabled")
    assert b.compiles == 0 and not (b.real & set(BINARY_TASKS)), b.real
    assert {"deploy", "package_write_rpm", "packagedata"} <= b.setscene, b.setscene
    ids = t3env.build_ids(t3env.output_ids(work))
    assert {ids.pop("deployed bzImage")} == deploy_ids
    assert set(ids.values()) == feed_ids, "without the layer the mirror's mix ships silently: %s" % ids
    print("\ne2: deployed %s, packaged %s, build exit 0" % (deploy_ids.pop(), feed_ids.pop()))
    t3env.point("sstate-mirror", "none")


def test_i_deploy_only_build_leaves_an_old_feed_object(work):
    """Review item 1: the group members outside the task graph of
    `bitbake -c deploy` keep objects of the previous compile. A later full
    build restores the rpm feed object; do_kernel_repro_verify compares the
    feed's fingerprint with deploy and pkgdata and stops, naming both."""
    # after (e): the group cache again, its outputs in TMPDIR (restored)
    t3env.point("sstate-mirror", "none")
    t3env.point("sstate", "group")
    b = t3env.bitbake(PN, "group", what="i: back to the group cache")
    assert b.compiles == 0, "the group cache did not restore: %s" % sorted(b.real)
    old = one_compile(t3env.output_ids(work), "i before")
    objects_carry(work, old, "i before")
    t3env.delete_objects(["deploy"])
    t3env.bitbake("-c clean %s" % PN, "group", what="i: -c clean")
    b = t3env.bitbake("-c deploy %s" % PN, "group", what="i: bitbake -c deploy (deploy object lost)")
    assert b.compiles == 1 and "deploy" in b.real
    assert "package_write_rpm" not in b.real | b.setscene
    objs = t3env.object_ids(work)
    new = set(objs["deploy"].values())
    assert len(new) == 1 and old not in new, objs["deploy"]
    new = new.pop()
    assert set(objs["package_write_rpm"].values()) == {old}, "the rpm object was not left behind"
    b = t3env.bitbake(PN, "group", check=False, what="i: full build restores the old rpm object")
    errors = "\n".join(b.errors())
    assert b.rc != 0, "a feed object of another compile was restored silently:\n" + b.out[-3000:]
    assert "kernel-repro" in errors and old in errors and new in errors and "rpm feed" in errors, errors
    fix = re.search(r"Fix: bitbake -c cleansstate (\S+) && bitbake (\S+)", errors)
    assert fix and fix.group(1) == PN, errors
    t3env.bitbake("-c cleansstate %s" % fix.group(1), "group", what="i: the fix: -c cleansstate")
    b = t3env.bitbake(fix.group(2), "group", what="i: the fix: rebuild")
    assert b.compiles == 1
    STATE["y"] = one_compile(t3env.output_ids(work), "i after the fix")
    objects_carry(work, STATE["y"], "i after the fix")


def test_j_interrupted_rebuild_leaves_no_mixed_group(work):
    """Review item 2: the rpm object lost, the rebuild replaces package,
    packagedata and package_write_rpm and is interrupted before do_deploy.
    On disk every member exists again -- the old deploy object beside three
    of the new compile: a complete-looking mixed group. The hash check had
    marked it stale, so the next build restores no member of the group."""
    # runs after (c)/(d), or alone on any consistent group cache and TMPDIR
    t3env.point("sstate-mirror", "none")
    t3env.point("sstate", "group")
    old = one_compile(t3env.output_ids(work), "j before")
    objects_carry(work, old, "j before")
    t3env.delete_objects(["package_write_rpm"])
    t3env.bitbake("-c clean %s" % PN, "group", what="j: -c clean")
    b = t3env.bitbake(PN, "group-fail-deploy", check=False, what="j: rebuild, do_deploy fails")
    assert b.rc != 0 and any("fails on purpose" in e for e in b.errors()), b.errors()
    assert b.compiles == 1
    objs = t3env.object_ids(work)
    assert set(objs) == set(BINARY_TASKS), sorted(objs)
    assert set(objs["deploy"].values()) == {old}
    new = set(objs["package_write_rpm"].values())
    assert len(new) == 1 and old not in new, objs["package_write_rpm"]
    for task in ("package", "packagedata"):
        assert set(objs[task].values()) == new, (task, objs[task])
    marked = [p for p in t3env.artifacts.sstate_objects(t3env.sstate_dir(), PN)["deploy"]
              if os.path.exists(p + ".kernel-repro-stale")]
    assert marked, "the refused deploy object of the old compile is not marked stale"
    b = t3env.bitbake(PN, "group", what="j: the next build")
    assert not (b.setscene & set(BINARY_TASKS)), "restored from a mixed group: %s" % sorted(b.setscene)
    STATE["y"] = one_compile(t3env.output_ids(work), "j after")
    assert {STATE["y"]} == new
    objects_carry(work, STATE["y"], "j after")
    marks = [os.path.join(r, f) for r, _d, fs in os.walk(t3env.sstate_dir())
             for f in fs if f.endswith(".kernel-repro-stale")]
    assert not marks, "stale marks left: %s" % marks


def _subsets():
    want = os.environ.get("KERNEL_REPRO_T3_SUBSETS", "all")
    subsets = [s for n in range(1, len(BINARY_TASKS) + 1) for s in itertools.combinations(BINARY_TASKS, n)]
    subsets.remove(("deploy",))  # done in (c)
    if want == "all":
        return subsets
    chosen = [tuple(x.split("+")) for x in re.split(r"[ ,]+", want.strip()) if x]
    return [s for s in subsets if s in chosen or tuple(sorted(s)) in [tuple(sorted(c)) for c in chosen]]


@pytest.mark.parametrize("lost", _subsets(), ids=lambda s: "+".join(s))
def test_c2_any_subset_lost(work, lost):
    """Any non-empty subset of the group's objects lost: one compile, every
    copy and every object from it (KERNEL_REPRO_T3_SUBSETS=all, or e.g.
    "package_write_rpm,deploy+package": each costs one kernel compile)."""
    # after the scenarios above, or alone (-k test_c2) on the group cache
    t3env.point("sstate-mirror", "none")
    t3env.point("sstate", "group")
    before = {b for members in t3env.object_ids(work).values() for b in members.values()}
    assert len(before) == 1, before
    b = lose_and_rebuild(work, list(lost), "group", "c2 {%s}" % "+".join(lost))
    assert b.compiles == 1
    assert not (b.setscene & set(BINARY_TASKS)), b.setscene
    ids = t3env.output_ids(work)
    now = one_compile(ids, "c2 %s" % (lost,))
    assert now not in before, "the rebuild gave the cached build-id: not a non-reproducible kernel"
    objects_carry(work, now, "c2 %s" % (lost,))
