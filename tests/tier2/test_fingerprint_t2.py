# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 2: the fingerprint functions of kernel-repro-sstate.bbclass, executed
by the real BitBake worker in the real linux-yocto and core-image-minimal
datastores, on the real fixture kernels.

A full kernel build needs network access (sources, toolchain), so the tasks
that carry our functions (do_compile, do_package, do_deploy, do_rootfs)
cannot run here. tests/tier2/bbpath/classes/kr-t2-exercise.bbclass adds a
python task that calls each of our functions with bb.build.exec_func on a
copy of the recipe's datastore whose B, PKGD, PKGDATA_DIR, DEPLOYDIR ...
point at scratch directories filled from the fixtures; `bitbake -b
<recipe> -c kr_t2_exercise` runs it without dependencies (~1 min each).

Scenarios (kernel recipe): one compile -> every check passes and the files
land where the docs say; the packaged vmlinux from another compile ->
do_package fails naming recipe, both build-ids and the fix; pkgdata from
another compile (the 2020 mix) -> do_deploy's prefunc and
do_kernel_repro_verify fail; no vmlinux -> no fingerprint and verify says
what is missing. (The stale-object replacement needs a real sstate task:
tests/tier3.) Image recipe: the rootfs kernel from the same / another compile.

Environment: see t2env.py. Needs the x86_64 fixture kernels (conftest.py).
"""

import json
import os
import shutil

import pytest

import t2env
from t2env import KERNEL, REPO, run

pytestmark = pytest.mark.tier2
t2env.skip_unless_available()

SUB = "kernel-repro-t2-fingerprint"
BOOT_VMLINUX = "package/boot/vmlinux-6.18.0-yocto-standard"
ROOTFS_KERNEL = "rootfs/boot/bzImage-6.18.0-yocto-standard"
# where kernel_repro_feed_fingerprint leaves the rpm feed's record (DEPLOY_DIR_RPM = feed/)
FEED_RECORD = "feed/${PACKAGE_ARCH}/kernel-repro/%s.buildid" % KERNEL


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@pytest.fixture(scope="module")
def env(plain_a, plain_b, repro_a, repro_b):
    """Build dir, scratch area with the fixture kernels, and the recipe files."""
    builddir = t2env.layer_builddir()
    top = os.path.join(builddir, SUB)
    if os.path.exists(top):
        shutil.rmtree(top)
    os.makedirs(os.path.join(top, "fixtures"))
    kernels = {}
    for name, fx in (("plain-a", plain_a), ("plain-b", plain_b),
                     ("repro-a", repro_a), ("repro-b", repro_b)):
        kernels[name] = {}
        for art in ("vmlinux", "bzImage"):
            dst = os.path.join(top, "fixtures", "%s-%s" % (name, art))
            _link_or_copy(fx.path(art), dst)
            kernels[name][art] = dst
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            t2env.chown_like(os.path.join(root, n), builddir)
    t2env.chown_like(top, builddir)
    conf = os.path.join(top, "exercise.conf")
    with open(conf, "w") as f:
        f.write('# written by tests/tier2/test_fingerprint_t2.py\n'
                'BBPATH .= ":%s/tests/tier2/bbpath"\n'
                'INHERIT += "kernel-repro kr-t2-exercise"\n'
                'KR_T2_PLAN = "%s/plan-${PN}.json"\n'
                'KR_T2_RESULT = "%s/result-${PN}.json"\n' % (REPO, top, top))
    rc, out, _ = run("cd $BUILDDIR; "
                     "bitbake-getvar --value -r %s FILE 2>/dev/null | tail -1; "
                     "bitbake-getvar --value -r core-image-minimal FILE 2>/dev/null | tail -1" % KERNEL)
    files = [l for l in out.splitlines() if l.endswith(".bb")]
    assert rc == 0 and len(files) == 2, out[-2000:]
    return {"builddir": builddir, "top": top, "conf": conf, "kernels": kernels,
            "kernel_bb": files[0], "image_bb": files[1]}


def _bid(path):
    from kernelrepro import image
    return image.read_build_id(path)


def exercise(env, recipe_bb, pn, scenarios):
    plan = os.path.join(env["top"], "plan-%s.json" % pn)
    with open(plan, "w") as f:
        json.dump({"work": os.path.join(env["top"], "work-" + pn), "scenarios": scenarios}, f,
                  indent=1)
    t2env.chown_like(plan, env["builddir"])
    result = os.path.join(env["top"], "result-%s.json" % pn)
    if os.path.exists(result):
        os.unlink(result)
    rc, out, secs = run("bitbake -R %s -b %s -c kr_t2_exercise" % (env["conf"], recipe_bb))
    assert rc == 0, out[-4000:]
    with open(result) as f:
        res = {r["name"]: r for r in json.load(f)}
    print("\n[%s] bitbake -b ... -c kr_t2_exercise: %.0f s" % (pn, secs))
    for name, r in res.items():
        print("  %s: %s" % (name, ", ".join("%s=%s" % (s["func"], "ok" if s["ok"] else "FAILED")
                                             for s in r["steps"])))
    return res


def _step(res, func):
    return [s for s in res["steps"] if s["func"] == func][0]


def _record(text):
    return dict(l.split("=", 1) for l in text.splitlines()[1:] if "=" in l)


@pytest.fixture(scope="module")
def kernel_results(env):
    k = env["kernels"]
    all_steps = ["kernel_repro_record_buildid", "kernel_repro_pkgdata_fingerprint",
                 "kernel_repro_check_deploy", "kernel_repro_deploy_fingerprint",
                 "do_kernel_repro_verify"]
    work = os.path.join(env["top"], "work-" + KERNEL)
    scenarios = [
        # the rpm feed's record (kernel_repro_feed_fingerprint, run by
        # do_package_write_rpm, which this exercise does not run)
        {"name": "one-compile", "steps": all_steps,
         "files": {"build/vmlinux": k["repro-a"]["vmlinux"], BOOT_VMLINUX: k["repro-b"]["vmlinux"]},
         "records": {FEED_RECORD: [k["repro-a"]["vmlinux"], ""]}},
        {"name": "feed-from-other-compile", "steps": all_steps,
         "files": {"build/vmlinux": k["plain-a"]["vmlinux"], BOOT_VMLINUX: k["plain-a"]["vmlinux"]},
         "records": {FEED_RECORD: [k["plain-b"]["vmlinux"], ""]}},
        {"name": "packaged-from-other-compile", "steps": all_steps[:2],
         "files": {"build/vmlinux": k["plain-a"]["vmlinux"], BOOT_VMLINUX: k["plain-b"]["vmlinux"]}},
        {"name": "pkgdata-from-other-compile",
         "steps": ["kernel_repro_record_buildid", "kernel_repro_check_deploy",
                   "kernel_repro_deploy_fingerprint", "do_kernel_repro_verify"],
         "files": {"build/vmlinux": k["plain-a"]["vmlinux"]},
         "records": {"pkgdata/kernel-repro/%s.buildid" % KERNEL: [k["plain-b"]["vmlinux"], "compile:old"],
                     FEED_RECORD: [k["plain-a"]["vmlinux"], ""]}},
        {"name": "no-vmlinux", "steps": all_steps},
    ]
    return exercise(env, env["kernel_bb"], KERNEL, scenarios)


def test_one_compile_passes_and_files_land(env, kernel_results):
    r = kernel_results["one-compile"]
    bid = _bid(env["kernels"]["repro-a"]["vmlinux"])
    assert bid == _bid(env["kernels"]["repro-b"]["vmlinux"])  # the reproducible pair
    for s in r["steps"]:
        assert s["ok"], s
    rec = _record(r["files"]["build"]["kernel-repro.buildid"])
    assert rec["build_id"] == bid and rec["recipe"] == KERNEL
    assert rec["source"].startswith("compile:")
    assert _record(r["files"]["pkgdata"]["kernel-repro/%s.buildid" % KERNEL])["build_id"] == bid
    dep = r["files"]["deploy"]
    itype, name, link = r["KERNEL_IMAGETYPE"], r["KERNEL_IMAGE_NAME"], r["KERNEL_IMAGE_LINK_NAME"]
    main = "%s-%s.buildid" % (itype, name)
    assert _record(dep[main])["build_id"] == bid
    assert dep["%s.buildid" % itype] == "-> " + main
    if link:
        assert dep["%s-%s.buildid" % (itype, link)] == "-> " + main


def _assert_mismatch(step, a, b, target=KERNEL):
    """Failed, naming the recipe, both build-ids and a command to paste."""
    assert not step["ok"], step
    text = "\n".join(step["messages"])
    assert KERNEL in text and a in text and b in text, text
    assert "bitbake -c cleansstate %s && bitbake %s ;" % (KERNEL, target) in text, text


def test_packaged_vmlinux_of_another_compile_fails(env, kernel_results):
    r = kernel_results["packaged-from-other-compile"]
    a, b = _bid(env["kernels"]["plain-a"]["vmlinux"]), _bid(env["kernels"]["plain-b"]["vmlinux"])
    assert a != b  # the two plain builds really differ
    assert _step(r, "kernel_repro_record_buildid")["ok"]
    _assert_mismatch(_step(r, "kernel_repro_pkgdata_fingerprint"), a, b)
    assert "kernel-repro/%s.buildid" % KERNEL not in r["files"]["pkgdata"]


def test_pkgdata_of_another_compile_stops_deploy_and_verify(env, kernel_results):
    r = kernel_results["pkgdata-from-other-compile"]
    a, b = _bid(env["kernels"]["plain-a"]["vmlinux"]), _bid(env["kernels"]["plain-b"]["vmlinux"])
    _assert_mismatch(_step(r, "kernel_repro_check_deploy"), a, b)
    _assert_mismatch(_step(r, "do_kernel_repro_verify"), a, b)


def test_feed_of_another_compile_stops_verify(env, kernel_results):
    """Deploy and pkgdata of one compile, the rpm feed's record of another
    (tier 3's scenario i on a real build): only do_kernel_repro_verify sees it."""
    r = kernel_results["feed-from-other-compile"]
    a, b = _bid(env["kernels"]["plain-a"]["vmlinux"]), _bid(env["kernels"]["plain-b"]["vmlinux"])
    for func in ("kernel_repro_record_buildid", "kernel_repro_pkgdata_fingerprint",
                 "kernel_repro_check_deploy", "kernel_repro_deploy_fingerprint"):
        assert _step(r, func)["ok"], _step(r, func)
    v = _step(r, "do_kernel_repro_verify")
    _assert_mismatch(v, a, b)
    assert "rpm feed" in "\n".join(v["messages"]), v


def test_no_vmlinux_no_fingerprint(kernel_results):
    r = kernel_results["no-vmlinux"]
    for func in ("kernel_repro_record_buildid", "kernel_repro_pkgdata_fingerprint",
                 "kernel_repro_check_deploy", "kernel_repro_deploy_fingerprint"):
        assert _step(r, func)["ok"], _step(r, func)
    assert not r["files"]["deploy"] and not r["files"]["pkgdata"]
    v = _step(r, "do_kernel_repro_verify")
    assert not v["ok"] and "fingerprint missing" in "\n".join(v["messages"]), v


@pytest.fixture(scope="module")
def image_results(env):
    k = env["kernels"]
    pkgdata = "pkgdata/kernel-repro/%s.buildid" % KERNEL
    scenarios = [
        {"name": "rootfs-one-compile", "steps": ["kernel_repro_rootfs_check"],
         "files": {ROOTFS_KERNEL: k["repro-b"]["bzImage"]},
         "records": {pkgdata: [k["repro-a"]["vmlinux"], "compile:x"],
                     "deploy/bzImage.buildid": [k["repro-a"]["vmlinux"], "compile:x"]}},
        {"name": "rootfs-other-compile", "steps": ["kernel_repro_rootfs_check"],
         "files": {ROOTFS_KERNEL: k["plain-b"]["bzImage"]},
         "records": {pkgdata: [k["plain-a"]["vmlinux"], "compile:x"]}},
    ]
    return exercise(env, env["image_bb"], "core-image-minimal", scenarios)


def test_rootfs_kernel_of_same_compile_passes(image_results):
    s = _step(image_results["rootfs-one-compile"], "kernel_repro_rootfs_check")
    assert s["ok"] and not s["messages"], s


def test_rootfs_kernel_of_another_compile_fails(env, image_results):
    a, b = _bid(env["kernels"]["plain-a"]["vmlinux"]), _bid(env["kernels"]["plain-b"]["bzImage"])
    # (deploy vs pkgdata is do_kernel_repro_verify's, which images depend on)
    s = _step(image_results["rootfs-other-compile"], "kernel_repro_rootfs_check")
    _assert_mismatch(s, a, b, target="core-image-minimal")
