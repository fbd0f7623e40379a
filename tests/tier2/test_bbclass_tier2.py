# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 2: kernel-repro.bbclass against a real BitBake + OE-Core.

Environment (see docs/layer.md):

  KERNEL_REPRO_OE_ENV       a workdir made by scripts/oe-env setup SERIES (has
                            ``run`` and ``src/``); required, the tests skip without it.
  KERNEL_REPRO_T2_BUILDDIR  build directory these tests own (default:
                            $KERNEL_REPRO_OE_ENV/build-kernel-repro-t2). Its
                            conf/ is rewritten by the tests; the environment's
                            own build/ is only read (local.conf, bblayers.conf),
                            so nothing forces a re-parse of anybody else's build.
  KERNEL_REPRO_T2_OTHER     the non-kernel recipe to compare (default: busybox).

Three configurations are compared, each parsed for real (a cold parse of
OE-Core takes ~2 minutes on 2 cores; the parse cache makes reruns fast):

  base      OE-Core only
  added     + this layer in BBLAYERS (not enabled)
  enabled   + INHERIT += "kernel-repro" in conf/auto.conf

Signatures come from ``bitbake -S lockedsigs`` (one ``pn:task:hash`` line per
task of the whole dependency graph, written to locked-sigs.inc).
The tests run ``run`` (runuser), so they need root, like scripts/oe-env's wrapper.
"""

import hashlib
import json
import os
import re

import pytest

import t2env

pytestmark = pytest.mark.tier2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = os.environ.get("KERNEL_REPRO_OE_ENV", "")
BUILDDIR = os.environ.get("KERNEL_REPRO_T2_BUILDDIR") or (
    os.path.join(ENV, "build-kernel-repro-t2") if ENV else "")
OTHER = os.environ.get("KERNEL_REPRO_T2_OTHER", "busybox")
KERNEL_PNS = {"linux-yocto"}
TARGETS = "virtual/kernel %s" % OTHER
PROBE = os.path.join(ROOT, "tests", "tier2", "probe_datastore.py")


def _skip_reason():
    if not ENV:
        return t2env.SETUP_HINT
    for p in ("run", "src/oe-init-build-env", "build/conf/local.conf"):
        if not os.path.exists(os.path.join(ENV, p)):
            return "KERNEL_REPRO_OE_ENV=%s has no %s (not made by scripts/oe-env setup?)" % (ENV, p)
    if os.geteuid() != 0:
        return "the oe-env run wrapper uses runuser: run the tier-2 tests as root"
    return None


if _skip_reason():
    pytest.skip(_skip_reason(), allow_module_level=True)

TIMINGS = {}
OUTPUTS = {}


def bb(cmd, check=True):
    """Run a shell command inside BUILDDIR's build environment as the build user."""
    rc, out, secs = t2env.run(cmd, builddir=BUILDDIR)
    TIMINGS.setdefault(cmd.split(" 2>")[0][:60], []).append(round(secs, 1))
    if check and rc != 0:
        pytest.fail("%s failed (%d):\n%s" % (cmd, rc, out[-4000:]))
    return out


def _owner():
    st = os.stat(os.path.join(ENV, "build"))
    return st.st_uid, st.st_gid


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    uid, gid = _owner()
    os.chown(path, uid, gid)
    os.chown(os.path.dirname(path), uid, gid)


def _is_this_layer(path):
    """A checkout of this layer (any path: scripts/oe-env added the one it
    ran from, which need not be the one under test)?"""
    try:
        with open(os.path.join(path, "conf", "layer.conf")) as f:
            return 'BBFILE_COLLECTIONS += "kernel-repro"' in f.read()
    except OSError:
        return False


def _without_this_layer(text):
    """bblayers.conf text without any checkout of this layer in BBLAYERS."""
    out = []
    for line in text.splitlines():
        words = [w for w in line.split() if not (w.startswith("/") and _is_this_layer(w.strip('"')))]
        if len(words) != len(line.split()):
            if not [w for w in words if w not in ('"', "\\")] and line.strip().endswith("\\"):
                continue            # the whole line was this layer
            line = " ".join(words)
        out.append(line)
    return "\n".join(out)


def configure(state, extra="", layer=ROOT):
    """Write BUILDDIR/conf for one of base / added / enabled (+ ``extra``
    lines), with this layer (or a copy of it at ``layer``)."""
    os.makedirs(BUILDDIR, exist_ok=True)
    uid, gid = _owner()
    os.chown(BUILDDIR, uid, gid)
    conf = os.path.join(BUILDDIR, "conf")
    with open(os.path.join(ENV, "build", "conf", "local.conf")) as f:
        _write(os.path.join(conf, "local.conf"), f.read())
    with open(os.path.join(ENV, "build", "conf", "bblayers.conf")) as f:
        layers = _without_this_layer(f.read())
    if state in ("added", "enabled"):
        layers += '\nBBLAYERS += "%s"\n' % layer
    _write(os.path.join(conf, "bblayers.conf"), layers + "\n")
    auto = os.path.join(conf, "auto.conf")
    if state == "enabled" or extra:
        _write(auto, "# written by tests/tier2 (kernel-repro)\n%s%s" % (
            'INHERIT += "kernel-repro"\n' if state == "enabled" else "", extra))
    elif os.path.exists(auto):
        os.unlink(auto)


_SIG_RE = re.compile(r"^\s+([^:\s]+):(do_[^:\s]+):([0-9a-f]{64})")


def signatures(state, extra="", targets=TARGETS, layer=ROOT):
    configure(state, extra, layer)
    sigfile = os.path.join(BUILDDIR, "locked-sigs.inc")
    if os.path.exists(sigfile):
        os.unlink(sigfile)
    OUTPUTS[state + (" +extra" if extra else "")] = bb("bitbake -S lockedsigs %s" % targets)
    sigs = {}
    with open(sigfile) as f:
        for line in f:
            m = _SIG_RE.match(line)
            if m:
                sigs[(m.group(1), m.group(2))] = m.group(3)
    assert sigs, "no signatures in %s" % sigfile
    return sigs


@pytest.fixture(scope="module")
def sigs():
    """Signatures of all three states (parsing each; enabled last, so the
    build directory ends in the enabled state for the datastore tests)."""
    out = {}
    for state in ("base", "added", "enabled"):
        out[state] = signatures(state)
    yield out
    print("\ntier2 timings (s): %s" % json.dumps(TIMINGS))


def _diff(a, b):
    keys = set(a) | set(b)
    return sorted(k for k in keys if a.get(k) != b.get(k))


def test_adding_layer_changes_no_signature(sigs):
    diff = _diff(sigs["base"], sigs["added"])
    assert not diff, "adding the layer (not enabled) changed: %s" % diff[:20]
    assert ("linux-yocto", "do_compile") in sigs["base"]
    assert any(pn == OTHER for pn, _ in sigs["base"]), OTHER


def test_layer_adds_no_warning(sigs):
    """No warning or error mentions the layer once it is added or enabled.
    Lines the base configuration prints too are not the layer's (offline,
    OE-Core warns that uninative cannot be fetched, naming DL_DIR -- under
    the environment's own path, /var/tmp/kernel-repro-oe/... by default,
    which is why the path is taken out before matching: wrynose, helper)."""
    def warnings(state):
        return [l for l in OUTPUTS[state].splitlines() if re.match(r"^(WARNING|ERROR):", l)]
    base = set(warnings("base"))
    for state in ("added", "enabled"):
        bad = [l for l in warnings(state) if l not in base
               and ("kernel-repro" in l.replace(ENV, "<env>") or ROOT in l)]
        assert not bad, (state, bad)


def test_enabling_changes_only_kernel_recipe(sigs):
    diff = _diff(sigs["added"], sigs["enabled"])
    assert diff, "enabling the class changed no signature at all"
    others = [k for k in diff if k[0] not in KERNEL_PNS]
    assert not others, "enabling changed non-kernel tasks: %s" % others[:20]
    changed = {t for pn, t in diff}
    for task in ("do_compile", "do_compile_kernelmodules"):
        assert task in changed, "%s of the kernel did not change: %s" % (task, sorted(changed))
    # do_bundle_initramfs is a task only with INITRAMFS_IMAGE_BUNDLE: see
    # test_bundled_initramfs_task_is_wired
    # Tasks that do not run the prefunc and do not depend on one keep their
    # hash -- where do_recipe_qa (which runs before do_fetch) hashes only
    # the QA checks it names (master: oe.qa.handle_error_visitorcode). On
    # scarthgap its signature holds all of ERROR_QA, which gains the
    # kernel-repro checks in kernel recipes: there do_recipe_qa changes,
    # and do_fetch .. do_patch through it, of the kernel only.
    with open(os.path.join(ENV, "src", "meta", "lib", "oe", "qa.py")) as f:
        qa_hashes_whole_list = "handle_error_visitorcode" not in f.read()
    for task in ("do_fetch", "do_unpack", "do_patch"):
        if ("linux-yocto", task) in sigs["added"]:
            if qa_hashes_whole_list:
                assert "do_recipe_qa" in changed, (task, sorted(changed))
            else:
                assert task not in changed, task


def _env(target):
    return bb("bitbake -e %s" % target)


def test_bitbake_e_kernel_gets_the_wiring(sigs):
    out = _env("virtual/kernel")
    # cooker.showEnvironment prints python functions as "python NAME () {"
    assert re.search(r"^python kernel_repro_task_prefunc \(\) \{\n\s+import kernelrepro.bbadapter",
                     out, re.M), "prefunc not defined in the kernel datastore"
    m = re.search(r'^ERROR_QA="([^"]*)"', out, re.M)
    assert m and "kernel-repro-module-sig-key" in m.group(1).split(), "ERROR_QA lacks the checks"
    m = re.search(r'^KERNEL_REPRO_WRAPPER_SHA256="([0-9a-f]{64})"', out, re.M)
    with open(os.path.join(ROOT, "lib/kernelrepro/data/bin/pahole"), "rb") as f:
        assert m and m.group(1) == hashlib.sha256(f.read()).hexdigest()


def test_bitbake_e_other_recipe_untouched(sigs):
    out = _env(OTHER)
    m = re.search(r'^ERROR_QA="([^"]*)"', out, re.M)
    assert m is not None
    assert "kernel-repro-module-sig-key" not in m.group(1).split()
    assert not re.search(r'^KERNEL_REPRO_WRAPPER_SHA256=', out, re.M)


def test_real_datastore_probe(sigs, tmp_path):
    """tinfoil-parse linux-yocto and OTHER with the class enabled and check the
    task flags and what task_variables()/find_pahole() compute from the real
    datastore (no task is executed)."""
    out = bb("python3 %s %s %s" % (PROBE, "virtual/kernel", OTHER))
    line = [l for l in out.splitlines() if l.startswith("PROBE-JSON ")]
    assert line, out[-3000:]
    data = json.loads(line[-1][len("PROBE-JSON "):])
    k, o = data["virtual/kernel"], data[OTHER]
    for task in ("do_compile", "do_compile_kernelmodules", "do_bundle_initramfs"):
        assert "kernel_repro_task_prefunc" in (k["prefuncs"].get(task) or "").split(), (task, k)
    assert not any("kernel_repro_task_prefunc" in (v or "") for v in o["prefuncs"].values()), o
    assert k["wired"] is True and o["wired"] is False
    v = k["variables"]
    assert re.match(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d UTC \d{4}$",
                    v["KBUILD_BUILD_TIMESTAMP"]), v
    assert v["KCONFIG_NOTIMESTAMP"] == "1"
    assert v["KBUILD_BUILD_USER"] == k["KBUILD_BUILD_USER"] == "oe-user"
    assert v["KBUILD_BUILD_VERSION"] == "1"
    # OE-Core's KERNEL_CC maps S and B already: no KCFLAGS/KAFLAGS needed.
    assert "KCFLAGS" not in v and "KAFLAGS" not in v, v
    # linux-yocto without KERNEL_DEBUG = "True" passes PAHOLE=false.
    assert k["pahole"] == [None, "EXTRA_OEMAKE"], k["pahole"]


BUNDLE = 'INITRAMFS_IMAGE = "core-image-minimal-initramfs"\nINITRAMFS_IMAGE_BUNDLE = "1"\n'


def test_bundled_initramfs_task_is_wired():
    """With INITRAMFS_IMAGE_BUNDLE the kernel has a do_bundle_initramfs task
    (kernel.bbclass adds it then), which re-links vmlinux with the initramfs:
    enabling the class must change its signature like do_compile's (the
    prefunc sets the reproducibility variables for it too). The assertion in
    test_enabling_changes_only_kernel_recipe could never run: nothing set
    the bundle. Runs last: it leaves the build directory enabled again."""
    try:
        added = signatures("added", BUNDLE, "virtual/kernel")
        enabled = signatures("enabled", BUNDLE, "virtual/kernel")
    finally:
        configure("enabled")
    assert ("linux-yocto", "do_bundle_initramfs") in added, sorted(t for p, t in added if p == "linux-yocto")
    changed = {t for pn, t in _diff(added, enabled) if pn == "linux-yocto"}
    assert {"do_compile", "do_bundle_initramfs"} <= changed, sorted(changed)
    # the initramfs image is an image: its rootfs and image-verify tasks are
    # the layer's image level (kernel-repro-sstate.bbclass); nothing else
    others = {pn for pn, t in _diff(added, enabled)
              if pn not in KERNEL_PNS | {"core-image-minimal-initramfs"}}
    assert not others, sorted(others)[:20]


def _edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, (path, old)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def test_library_changes_reach_the_kernel_signatures_only(tmp_path):
    """The library is in the signatures of the tasks that run it: a copy of
    the layer, enabled, parsed for real after each edit. An edit of a
    function the classes call (sstatetasks: BBIMPORTS) or of a module those
    run (image.py, through KERNEL_REPRO_LIB_SHA256) changes the kernel's
    signatures and no other recipe's; an edit of cli.py (never run by a
    task) changes none. Control: the unedited copy gives the layer's own
    signatures (the copy's path is not in any hash). Runs last but one:
    it leaves the build directory enabled again."""
    import shutil
    copy = os.path.join(BUILDDIR, "layer-copy")
    if os.path.exists(copy):
        shutil.rmtree(copy)
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc"))
    uid, gid = _owner()
    for top, dirs, files in os.walk(copy):
        for n in dirs + files:
            os.lchown(os.path.join(top, n), uid, gid)
    lib = os.path.join(copy, "lib", "kernelrepro")
    try:
        own = signatures("enabled", targets=TARGETS)
        base = signatures("enabled", targets=TARGETS, layer=copy)
        assert base == own, "the layer's path is in a signature: %s" % _diff(own, base)[:10]
        _edit(os.path.join(lib, "cli.py"), "\nPROG = ", "\nEDITED_BY_TIER2 = 1\nPROG = ")
        cli = signatures("enabled", targets=TARGETS, layer=copy)
        assert not _diff(base, cli), "an edit of cli.py changed: %s" % _diff(base, cli)[:10]
        _edit(os.path.join(lib, "sstatetasks.py"), '    """do_kernel_repro_verify:',
              '    """do_kernel_repro_verify (edited by tier 2):')
        tasks = signatures("enabled", targets=TARGETS, layer=copy)
        changed = _diff(cli, tasks)
        assert ("linux-yocto", "do_kernel_repro_verify") in changed, changed
        assert not [k for k in changed if k[0] not in KERNEL_PNS], changed[:10]
        _edit(os.path.join(lib, "image.py"), "\nimport ", "\n# edited by tier 2\nimport ")
        image = signatures("enabled", targets=TARGETS, layer=copy)
        changed = _diff(tasks, image)
        assert ("linux-yocto", "do_compile") in changed, changed
        assert not [k for k in changed if k[0] not in KERNEL_PNS], changed[:10]
    finally:
        configure("enabled")
        shutil.rmtree(copy, ignore_errors=True)


def test_toolkit_recipe_fetches_the_project_as_sources():
    """recipes-kernel/kernel-repro: the layer's Python project is the
    recipe's SRC_URI (file://, found through FILESEXTRAPATHS), built with
    OE-Core's PEP 517 classes. do_unpack for real: every module of
    lib/kernelrepro and pyproject.toml land in S, no __pycache__; the
    target drops the build-only modules at install time."""
    configure("added")
    out = _env("kernel-repro")
    m = re.search(r'^SRC_URI="([^"]*)"', out, re.M)
    uris = m.group(1).split()
    mods = sorted(f for f in os.listdir(os.path.join(ROOT, "lib", "kernelrepro")) if f.endswith(".py"))
    assert "file://pyproject.toml" in uris and "file://README.md" in uris, uris
    assert sorted(u.rpartition("/")[2] for u in uris if u.startswith("file://lib/kernelrepro/")
                  and u.endswith(".py")) == mods, uris
    assert "python_pep517_do_compile" in out
    s = re.search(r'^S="([^"]*)"', out, re.M).group(1)
    bb("bitbake -c unpack kernel-repro")
    got = set(os.listdir(os.path.join(s, "lib", "kernelrepro")))
    assert set(mods) <= got and "__pycache__" not in got, sorted(got)
    assert os.path.exists(os.path.join(s, "pyproject.toml"))
    build_only = re.search(r'^KERNEL_REPRO_BUILD_ONLY="([^"]*)"', out, re.M).group(1).split()
    assert {"fixture", "demo", "bbadapter", "sstatetasks"} <= set(build_only)
