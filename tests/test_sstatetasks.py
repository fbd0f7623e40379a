# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""kernelrepro.sstatetasks, the hooks of kernel-repro-sstate.bbclass, on a
real BitBake datastore (bitbake-setup's bb package) and real kernels (the
fixture builds): the QA reporting and the bundled-initramfs records.
Tier 3 (tests/tier3/test_bundle_t3.py) runs the same hooks in real builds."""

import os
import sys
import types

import pytest

bb = pytest.importorskip("bb.data_smart", reason="needs bitbake-setup's bb package")
import bb.data_smart  # noqa: E402

from kernelrepro import fingerprint as fp  # noqa: E402
from kernelrepro import sstatetasks  # noqa: E402


class QAFailed(Exception):
    pass


@pytest.fixture
def qa(monkeypatch):
    """oe.qa as OE-Core's meta/lib/oe/qa.py behaves (handle_error,
    exit_if_errors), recording the QA lines."""
    lines = []

    def handle_error(check, msg, d):
        if check in (d.getVar("ERROR_QA") or "").split():
            lines.append(("error", check, msg))
            d.setVar("QA_ERRORS_FOUND", "True")
            return False
        if check in (d.getVar("WARN_QA") or "").split():
            lines.append(("warn", check, msg))
        else:
            lines.append(("note", check, msg))
        return True

    def exit_if_errors(d):
        if d.getVar("QA_ERRORS_FOUND"):
            raise QAFailed("Fatal QA errors were found, failing task.")

    oe = types.ModuleType("oe")
    oe.qa = types.SimpleNamespace(handle_error=handle_error, exit_if_errors=exit_if_errors)
    monkeypatch.setitem(sys.modules, "oe", oe)
    monkeypatch.setitem(sys.modules, "oe.qa", oe.qa)
    return lines


@pytest.fixture
def logged(monkeypatch):
    import bb as bbmod
    out = []
    for level in ("note", "warn"):
        monkeypatch.setattr(bbmod, level, lambda msg, level=level: out.append((level, msg)))
    return out


def datastore(tmp_path, **variables):
    d = bb.data_smart.DataSmart()
    base = {
        "PN": "linux-test", "B": str(tmp_path / "build"), "KERNEL_OUTPUT_DIR": "arch/x86/boot",
        "KERNEL_IMAGETYPE": "bzImage", "KERNEL_IMAGETYPES": "bzImage",
        "KERNEL_IMAGETYPE_FOR_MAKE": "bzImage", "KERNEL_IMAGE_BIN_EXT": ".bin",
        "KERNEL_REPRO_BUILDID_FILE": "${B}/kernel-repro.buildid",
        "KERNEL_REPRO_BUNDLE_FILE": "${B}/kernel-repro-initramfs.buildid",
        "INITRAMFS_IMAGE": "initramfs-image", "INITRAMFS_IMAGE_BUNDLE": "1",
        "INITRAMFS_NAME": "initramfs-6.1-r0-qemux86-64-20261203",
        "INITRAMFS_LINK_NAME": "initramfs-qemux86-64",
        "DEPLOY_DIR_IMAGE": str(tmp_path / "deploy"), "PKGDATA_DIR": str(tmp_path / "pkgdata"),
        "KERNEL_DEPLOYSUBDIR": "", "ERROR_QA": "", "WARN_QA": "",
        "__BBTASKS": ["do_compile", "do_bundle_initramfs", "do_deploy", "do_packagedata"],
    }
    base.update(variables)
    for k, v in base.items():
        d.setVar(k, v)
    os.makedirs(d.expand("${B}/${KERNEL_OUTPUT_DIR}"), exist_ok=True)
    return d


def bundle_build(d, compiled, bundled_vmlinux, bundled_bzimage):
    """${B} as kernel.bbclass leaves it after do_bundle_initramfs (vmlinux
    not among the image types: ${B}/vmlinux is the relinked one)."""
    fp.write_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"), compiled, "linux-test", source="compile:x")
    os.symlink(bundled_vmlinux, d.expand("${B}/vmlinux"))
    os.symlink(bundled_bzimage, d.expand("${B}/${KERNEL_OUTPUT_DIR}/bzImage.initramfs"))


@pytest.mark.kernel
def test_record_bundle_names_the_relink_and_its_compile(tmp_path, plain_a, plain_b, qa, logged):
    """The fixture's two builds stand in for a compile (a) and its relink (b)."""
    a, b = fp.read_build_id(plain_a.path("vmlinux")), fp.read_build_id(plain_b.path("vmlinux"))
    d = datastore(tmp_path)
    bundle_build(d, a, plain_b.path("vmlinux"), plain_b.path("bzImage"))
    sstatetasks.record_bundle(d)
    rec = fp.read_record(d.getVar("KERNEL_REPRO_BUNDLE_FILE"))
    assert rec["build_id"] == b and rec["source"] == "bundle-of:" + a
    assert not qa
    warned = [m for level, m in logged if level == "warn"]
    assert len(warned) == 1 and "no debug vmlinux" in warned[0] and b in warned[0] and a in warned[0], logged


@pytest.mark.kernel
def test_record_bundle_refuses_a_bundled_image_of_another_relink(tmp_path, plain_a, plain_b, qa, logged):
    a = fp.read_build_id(plain_a.path("vmlinux"))
    d = datastore(tmp_path)
    # control: the same hook on a consistent ${B} passes (previous test);
    # here bzImage.initramfs is not the relinked vmlinux
    bundle_build(d, a, plain_b.path("vmlinux"), plain_a.path("bzImage"))
    with pytest.raises(QAFailed):
        sstatetasks.record_bundle(d)
    assert [x[:2] for x in qa] == [("error", "kernel-repro-buildid")], qa
    assert not os.path.exists(d.getVar("KERNEL_REPRO_BUNDLE_FILE"))


def _deployed(d, compiled, bundle_id, relinked_from, bundled_bzimage):
    deploy = d.getVar("DEPLOY_DIR_IMAGE")
    os.makedirs(deploy, exist_ok=True)
    fp.write_record(os.path.join(deploy, "bzImage.buildid"), compiled, "linux-test")
    fp.write_record(fp.pkgdata_path(d.getVar("PKGDATA_DIR"), "linux-test"), compiled, "linux-test")
    name, link = sstatetasks.bundle_record_names(d)
    fp.write_record(os.path.join(deploy, name), bundle_id, "linux-test", source="bundle-of:" + relinked_from)
    os.symlink(name, os.path.join(deploy, link))
    os.symlink(bundled_bzimage, os.path.join(deploy, "bzImage-%s.bin" % d.getVar("INITRAMFS_LINK_NAME")))


@pytest.mark.kernel
def test_verify_checks_the_bundle(tmp_path, plain_a, plain_b, qa, logged):
    a, b = fp.read_build_id(plain_a.path("vmlinux")), fp.read_build_id(plain_b.path("vmlinux"))
    d = datastore(tmp_path)
    _deployed(d, a, b, a, plain_b.path("bzImage"))
    sstatetasks.verify(d)                       # one compile, its relink deployed
    assert not qa
    # the deployed bundle is not the recorded relink
    d2 = datastore(tmp_path / "2")
    _deployed(d2, a, b, a, plain_a.path("bzImage"))
    with pytest.raises(QAFailed):
        sstatetasks.verify(d2)
    assert qa[-1][:2] == ("error", "kernel-repro-buildid") and a in qa[-1][2] and b in qa[-1][2], qa


@pytest.mark.kernel
def test_verify_stops_a_bundle_relinked_from_another_compile(tmp_path, plain_a, plain_b, qa, logged):
    a, b = fp.read_build_id(plain_a.path("vmlinux")), fp.read_build_id(plain_b.path("vmlinux"))
    other = "0" * 40
    d = datastore(tmp_path)
    _deployed(d, a, b, other, plain_b.path("bzImage"))
    with pytest.raises(QAFailed):
        sstatetasks.verify(d)
    msg = qa[-1][2]
    assert "bundle relinked from" in msg and other in msg and a in msg, msg


def test_report_honours_insane_skip_and_warn_qa(tmp_path, qa, logged):
    with pytest.raises(QAFailed):           # listed nowhere (an image): an error
        sstatetasks.report(datastore(tmp_path), "two compiles")
    assert qa[-1][0] == "error"
    d = datastore(tmp_path / "w", WARN_QA="kernel-repro-buildid")
    sstatetasks.report(d, "two compiles")
    assert qa[-1][0] == "warn"
    d = datastore(tmp_path / "s", **{"INSANE_SKIP:linux-test": "kernel-repro-buildid"})
    n = len(qa)
    sstatetasks.report(d, "two compiles")
    assert len(qa) == n and any("INSANE_SKIP" in m for _, m in logged), logged


def test_fetch_failure_is_not_called_a_mixed_cache(tmp_path, qa, logged):
    """This build compiled (its compile record is newer than the build's
    start) while pkgdata was restored from sstate (older): the message
    names the failed fetch and the re-run, not cleansstate first.
    Control: both records restored (a mixed cache, scenario e) keeps the
    cleansstate message."""
    import time
    a, b = "a" * 40, "b" * 40
    start = int(time.time()) - 100
    d = datastore(tmp_path, BUILDNAME=time.strftime("%Y%m%d%H%M%S", time.gmtime(start)))
    rec = d.getVar("KERNEL_REPRO_BUILDID_FILE")
    fp.write_record(rec, a, "linux-test", source="compile:x")
    pkg = fp.pkgdata_path(d.getVar("PKGDATA_DIR"), "linux-test")
    fp.write_record(pkg, b, "linux-test")
    os.utime(pkg, (start - 3600, start - 3600))          # restored: the archive's time
    with pytest.raises(QAFailed):
        sstatetasks.check_deploy(d)
    assert "fetch failed" in qa[-1][2] and "Run the same command again" in qa[-1][2], qa[-1]
    os.utime(rec, (start - 3600, start - 3600))          # control: the compile is old too
    with pytest.raises(QAFailed):
        sstatetasks.check_deploy(datastore(tmp_path, BUILDNAME=d.getVar("BUILDNAME")))
    assert "The sstate cache holds a mixed kernel group" in qa[-1][2], qa[-1]


def test_bundle_hook_is_wired_before_kernel_bbclass_adds_the_task(tmp_path):
    """kernel.bbclass adds do_bundle_initramfs in its anonymous python, which
    may run after the layer's: the hook must not depend on the task being
    there yet (the first tier-3 bundle build deployed no record: verify
    stopped with "the bundled kernel has no build-id fingerprint")."""
    import bb.build
    d = datastore(tmp_path, **{"__BBTASKS": ["do_compile", "do_install", "do_deploy", "do_packagedata"],
                               "KERNEL_PACKAGE_NAME": "kernel", "datadir": "/usr/share"})
    for task in ("do_compile", "do_install", "do_deploy", "do_clean"):
        d.setVar(task, "")
    orig = bb.build.addtask
    try:
        bb.build.addtask = lambda *a, **k: None
        sstatetasks.setup_kernel_recipe(d)
    finally:
        bb.build.addtask = orig
    assert "kernel_repro_record_bundle" in (d.getVarFlag("do_bundle_initramfs", "postfuncs") or "").split()


def test_early_fetch_keeps_the_fetcher_error_out_of_the_build(tmp_path, monkeypatch):
    """The hash check's early fetch of a group member (mirror_fetch_function):
    a failed download returns its reason, and the fetcher's own ERROR record
    (bb.fetch2 logs one before raising; BitBake's exit status counts every
    ERROR) does not reach the UI -- the group is simply built here. A fetched
    object is found where the local path says; no mirror, no fetch.
    Control: the same fetch outside the block logs the ERROR."""
    import logging
    import bb.utils

    sstate = tmp_path / "sstate"
    sstate.mkdir()
    served = {"good.tar.zst"}
    calls = []

    def pstaging_fetch(rel, d):
        calls.append(rel)
        if rel in served:
            (sstate / rel).write_text("object")
        else:
            logging.getLogger("BitBake.Fetcher").error("Fetcher failure: Unable to find file %s" % rel)

    monkeypatch.setattr(bb.utils, "better_eval",
                        lambda name, ctx: {"pstaging_fetch": pstaging_fetch}[name])
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("BitBake").addHandler(handler)
    try:
        d = bb.data_smart.DataSmart()
        d.setVar("SSTATE_DIR", str(sstate))
        local = lambda tid, data: str(sstate / tid)  # noqa: E731
        assert sstatetasks.mirror_fetch_function(d, local) is None       # no mirror
        d.setVar("SSTATE_MIRRORS", "file://.* http://mirror.example/sstate/PATH")
        fetch = sstatetasks.mirror_fetch_function(d, local)
        assert fetch("good.tar.zst", {}) is None and (sstate / "good.tar.zst").exists()
        reason = fetch("bad.tar.zst", {})
        assert reason and "bad.tar.zst" in reason and "http://mirror.example/sstate" in reason
        assert "PATH" not in reason
        assert fetch("good.tar.zst", {}) is None and calls.count("good.tar.zst") == 1  # local now
        assert not [r for r in records if r.levelno >= logging.WARNING], records
        pstaging_fetch("bad.tar.zst", d)                                   # control
        assert [r for r in records if r.levelno >= logging.ERROR]
        assert not logging.getLogger("BitBake.Fetcher").filters
    finally:
        logging.getLogger("BitBake").removeHandler(handler)
