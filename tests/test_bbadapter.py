# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 1: kernelrepro.bbadapter over a real bb.data_smart.DataSmart.

The datastore comes from PyPI's bitbake-setup wheel (``pip install
bitbake-setup``), whose ``bb`` package imports data_smart / data / utils
(not bb.parse). Without it these tests skip, saying so.
"""

import io
import os
import re
import sys

import pytest

bb = pytest.importorskip(
    "bb.data_smart", reason="needs the bb package of PyPI's bitbake-setup wheel "
    "(pip install bitbake-setup) for a real DataSmart datastore")
import bb.data  # noqa: E402

from kernelrepro import bbadapter, kconfigqa, reproenv, sstatetasks  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BBCLASS = os.path.join(ROOT, "classes", "kernel-repro.bbclass")


def apply_class_assignments(d, path=BBCLASS):
    """The plain assignments of a real bbclass (``=``, ``?=``, ``??=``,
    ``:prepend =``), applied to ``d`` in file order as BitBake would (after
    whatever ``d`` already holds: local.conf is parsed before an INHERIT-ed
    class). Returns the names assigned."""
    names = []
    with open(path) as f:
        for line in f:
            m = re.match(r'^([A-Z_]+)(:prepend)?\s*(\?\?=|\?=|=)\s*"(.*)"\s*$', line)
            if not m:
                continue
            var, prepend, op, value = m.groups()
            names.append(var)
            if prepend:
                d.setVar(var + ":prepend", value)
            elif op == "??=":
                d.setVarFlag(var, "_defaultval", value)
            elif op == "?=":
                if d.getVar(var, False) is None:
                    d.setVar(var, value)
            else:
                d.setVar(var, value)
    return names


def class_defaults():
    """The variables the real bbclass sets, as BitBake expands them with no
    user setting."""
    d = bb.data_smart.DataSmart()
    names = apply_class_assignments(d)
    d.setVar("TARGET_DBGSRC_DIR", "/usr/src/debug/${PN}/${PV}")
    return {k: d.getVar(k) for k in names}


def datastore(kernel=True, **variables):
    d = bb.data_smart.DataSmart()
    d.setVar("__inherit_cache", ["/oe/meta/classes-recipe/kernel.bbclass"] if kernel
             else ["/oe/meta/classes-recipe/autotools.bbclass"])
    for k, v in class_defaults().items():
        d.setVar(k, v)
    d.setVar("TARGET_DBGSRC_DIR", "/usr/src/debug/${PN}/${PV}")
    d.setVar("PN", "linux-test")
    d.setVar("PV", "6.6")
    d.setVar("ERROR_QA", "already-there")
    d.setVar("WARN_QA", "")
    for name in ("do_compile", "do_compile_kernelmodules", "do_bundle_initramfs"):
        d.setVar(name, "    oe_runmake\n")
        d.setVarFlag(name, "func", "1")
    for k, v in variables.items():
        d.setVar(k, v)
    return d


def snapshot(d):
    return {k: (d.getVar(k, False), d.getVarFlags(k)) for k in d.keys()}


class FakeQA:
    """Same contract as OE-Core's oe.qa.handle_error / exit_if_errors."""

    class Failed(Exception):
        pass

    def __init__(self):
        self.calls = []

    def handle_error(self, check, msg, d):
        self.calls.append((check, msg))
        if check in (d.getVar("ERROR_QA") or "").split():
            d.setVar("QA_ERRORS_FOUND", "True")
            return False
        return True

    def exit_if_errors(self, d):
        if d.getVar("QA_ERRORS_FOUND"):
            raise self.Failed("Fatal QA errors were found, failing task.")


# ---- the class and the adapter agree ----

def test_class_vardeps_are_task_vardeps():
    with open(BBCLASS) as f:
        text = f.read()
    m = re.search(r'^kernel_repro_task_prefunc\[vardeps\] = "([^"]*)"', text, re.M)
    assert m, "kernel_repro_task_prefunc[vardeps] missing from the bbclass"
    assert tuple(m.group(1).split()) == bbadapter.TASK_VARDEPS


def test_class_is_thin_and_defaults_documented():
    with open(BBCLASS) as f:
        text = f.read()
    assert text.startswith("# Copyright (C) 2026 meta-kernel-repro contributors\n"
                           "# SPDX-License-Identifier: MIT\n")
    # python in the class is one-line calls into the adapter (prefunc, postfunc, setup)
    bodies = re.findall(r"^python [^\n]*\{\n(.*?)^\}", text, re.M | re.S)
    assert len(bodies) == 3
    for body in bodies:
        code = [l.strip() for l in body.splitlines() if l.strip()]
        assert code[0] == "import kernelrepro.bbadapter" and len(code) == 2
    for var in class_defaults():
        assert var.startswith("KERNEL_REPRO_")
        assert re.search(r"^%s\[doc\] = \"" % var, text, re.M), var
    qa = set(class_defaults()["KERNEL_REPRO_ERROR_QA"].split()) | \
        set(class_defaults()["KERNEL_REPRO_WARN_QA"].split())
    # the configuration checks, and the build-id check of the sstate class
    assert qa == set(kconfigqa.CHECKS) | {sstatetasks.BUILDID_CHECK}
    for name, (severity, _) in kconfigqa.CHECKS.items():
        var = "KERNEL_REPRO_ERROR_QA" if severity == "error" else "KERNEL_REPRO_WARN_QA"
        assert name in class_defaults()[var].split(), name


# ---- parse time ----

def test_setup_recipe_leaves_non_kernel_recipes_alone():
    d = datastore(kernel=False)
    before = snapshot(d)
    assert bbadapter.setup_recipe(d) is False
    assert snapshot(d) == before


def test_setup_recipe_wires_kernel_tasks():
    d = datastore()
    d.setVarFlag("do_compile", "prefuncs", "other_prefunc")
    assert bbadapter.setup_recipe(d) is True
    assert d.getVarFlag("do_compile", "prefuncs").split() == ["other_prefunc", bbadapter.PREFUNC]
    for t in ("do_compile_kernelmodules", "do_bundle_initramfs"):
        assert d.getVarFlag(t, "prefuncs").split() == [bbadapter.PREFUNC]
    assert d.getVarFlag("do_configure", "prefuncs") is None
    for t in ("do_compile", "do_compile_kernelmodules", "do_bundle_initramfs"):
        assert d.getVarFlag(t, "postfuncs").split() == [bbadapter.POSTFUNC]
    # idempotent
    bbadapter.setup_recipe(d)
    assert d.getVarFlag("do_compile", "prefuncs").split().count(bbadapter.PREFUNC) == 1
    assert d.getVarFlag("do_compile", "postfuncs").split().count(bbadapter.POSTFUNC) == 1
    assert d.getVar("ERROR_QA").split().count("kernel-repro-randstruct") == 1
    assert re.fullmatch(r"[0-9a-f]{64}", d.getVar("KERNEL_REPRO_WRAPPER_SHA256"))
    assert d.getVar("KERNEL_REPRO_WRAPPER_SHA256") == bbadapter.wrapper_sha256()


def test_setup_recipe_qa_defaults_respect_user_choice():
    d = datastore(WARN_QA="kernel-repro-module-sig-key")
    bbadapter.setup_recipe(d)
    error, warn = d.getVar("ERROR_QA").split(), d.getVar("WARN_QA").split()
    assert "already-there" in error
    assert "kernel-repro-module-sig-key" not in error and "kernel-repro-module-sig-key" in warn
    assert "kernel-repro-randstruct" in error and "kernel-repro-localversion-auto" in warn
    for check in kconfigqa.CHECKS:
        assert (check in error) != (check in warn), check


def test_setup_recipe_tracks_signing_key_file(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("x")
    d = datastore(KERNEL_REPRO_MODULE_SIG_KEY=str(key))
    bbadapter.setup_recipe(d)
    assert "%s:True" % key in d.getVarFlag("do_compile", "file-checksums").split()
    d2 = datastore()
    bbadapter.setup_recipe(d2)
    assert d2.getVarFlag("do_compile", "file-checksums") is None


# ---- task time ----

def fake_pahole(dirpath, version):
    dirpath.mkdir(parents=True, exist_ok=True)
    p = dirpath / "pahole"
    p.write_text('#!/bin/sh\n[ "$1" = --version ] && echo v%s && exit 0\nexit 0\n' % version)
    p.chmod(0o755)
    return str(p)


def task_ds(tmp_path, **kw):
    s, b = tmp_path / "git", tmp_path / "build"
    s.mkdir(exist_ok=True)
    b.mkdir(exist_ok=True)
    base = dict(
        S=str(s), B=str(b), WORKDIR=str(tmp_path),
        STAGING_KERNEL_DIR=str(s), STAGING_KERNEL_BUILDDIR=str(tmp_path / "kbuild"),
        KERNEL_CC="gcc -ffile-prefix-map=${S}=/usr/src/debug/k -ffile-prefix-map=${B}=/x "
                  "-ffile-prefix-map=${STAGING_KERNEL_BUILDDIR}=/y",
        SOURCE_DATE_EPOCH="1700000000", REPRODUCIBLE_TIMESTAMP_ROOTFS="1520598896",
        KBUILD_BUILD_USER="oe-user", KBUILD_BUILD_HOST="oe-host", KBUILD_BUILD_VERSION="1",
        PATH="/usr/bin:/bin", EXTRA_OEMAKE=' ARCH="x86" CC="${KERNEL_CC}"',
        BB_CURRENTTASK="compile_kernelmodules")
    base.update(kw)
    d = datastore(**base)
    bbadapter.setup_recipe(d)
    return d


def test_task_variables_covered_paths(tmp_path):
    d = task_ds(tmp_path)
    v = bbadapter.task_variables(d)
    assert v["KBUILD_BUILD_TIMESTAMP"] == "Tue Nov 14 22:13:20 UTC 2023"
    assert v["KCONFIG_NOTIMESTAMP"] == "1"
    assert (v["KBUILD_BUILD_USER"], v["KBUILD_BUILD_HOST"], v["KBUILD_BUILD_VERSION"]) == \
        ("oe-user", "oe-host", "1")
    assert "KCFLAGS" not in v and "KAFLAGS" not in v and "PAHOLE" not in v


def test_task_variables_gap_in_kernel_cc(tmp_path):
    d = task_ds(tmp_path, KERNEL_CC="gcc -ffile-prefix-map=${S}=/k", KCFLAGS="-Wno-x")
    v = bbadapter.task_variables(d)
    b = str(tmp_path / "build")
    want = "-ffile-prefix-map=%s=/usr/src/debug/linux-test/6.6" % b
    assert want in v["KCFLAGS"].split() and want in v["KAFLAGS"].split()
    assert v["KCFLAGS"].endswith("-Wno-x")
    assert str(tmp_path / "git") + "=" not in v["KCFLAGS"]


def test_task_variables_sde_zero_falls_back(tmp_path):
    d = task_ds(tmp_path, SOURCE_DATE_EPOCH="0")   # S has no .git
    assert bbadapter.task_variables(d)["KBUILD_BUILD_TIMESTAMP"] == \
        reproenv.kbuild_timestamp(1520598896)


def test_task_variables_debug_timestamps(tmp_path):
    d = task_ds(tmp_path, KERNEL_DEBUG_TIMESTAMPS="1")
    v = bbadapter.task_variables(d)
    assert "KBUILD_BUILD_TIMESTAMP" not in v and "KCONFIG_NOTIMESTAMP" not in v


@pytest.mark.parametrize("forced,expect", [("", "serial"), ("none", None),
                                           ("reproducible_build", "reproducible_build")])
def test_task_variables_forced_mode(tmp_path, forced, expect):
    d = task_ds(tmp_path, KERNEL_REPRO_PAHOLE_MODE=forced)
    v = bbadapter.task_variables(d, "/p/pahole", (1, 25))
    assert v.get("KERNEL_REPRO_PAHOLE_MODE") == expect
    with pytest.raises(ValueError):
        bbadapter.task_variables(task_ds(tmp_path, KERNEL_REPRO_PAHOLE_MODE="fast"), "/p", (1, 25))


def test_find_pahole(tmp_path):
    real = fake_pahole(tmp_path / "sysroot-native", "1.26")
    d = task_ds(tmp_path, PATH="%s:/usr/bin:/bin" % (tmp_path / "sysroot-native"))
    assert bbadapter.find_pahole(d) == (real, None)
    # linux-yocto without KERNEL_DEBUG: PAHOLE=false (linux-yocto.inc:88)
    d.appendVar("EXTRA_OEMAKE", " PAHOLE=false")
    assert bbadapter.find_pahole(d) == (None, "EXTRA_OEMAKE")
    d = task_ds(tmp_path, KERNEL_EXTRA_ARGS="PAHOLE=%s" % real, PATH="/nonexistent")
    assert bbadapter.find_pahole(d) == (real, "KERNEL_EXTRA_ARGS")
    d = task_ds(tmp_path, PATH="/nonexistent")
    assert bbadapter.find_pahole(d) == (None, None)


def test_task_prefunc_exports_into_shell_task(tmp_path):
    fake_pahole(tmp_path / "sysroot-native", "1.26")
    d = task_ds(tmp_path, PATH="%s:/usr/bin:/bin" % (tmp_path / "sysroot-native"))
    v = bbadapter.task_prefunc(d, qa=FakeQA())
    assert v["KERNEL_REPRO_PAHOLE_MODE"] == "serial"
    wrapper_dir = str(tmp_path / "kernel-repro" / "bin")
    assert d.getVar("PATH").split(":")[0] == wrapper_dir
    with open(os.path.join(wrapper_dir, "pahole")) as f, open(reproenv.pahole_wrapper_path()) as g:
        assert f.read() == g.read()
    assert os.access(os.path.join(wrapper_dir, "pahole"), os.X_OK)
    # what BitBake writes into the run.do_* script of a shell task
    out = io.StringIO()
    bb.data.emit_env(out, d, True)
    script = out.getvalue()
    for name in ("KBUILD_BUILD_TIMESTAMP", "KCONFIG_NOTIMESTAMP", "KERNEL_REPRO_PAHOLE",
                 "KERNEL_REPRO_PAHOLE_MODE", "KBUILD_BUILD_USER"):
        assert re.search(r'^export %s="' % name, script, re.M), name
    assert 'export KBUILD_BUILD_TIMESTAMP="Tue Nov 14 22:13:20 UTC 2023"' in script
    assert "export PAHOLE=" not in script


def test_task_prefunc_explicit_pahole_gets_overridden(tmp_path):
    real = fake_pahole(tmp_path / "elsewhere", "1.27")
    d = task_ds(tmp_path, EXTRA_OEMAKE='ARCH=x86 PAHOLE=%s' % real)
    bbadapter.task_prefunc(d, qa=FakeQA())
    wrapper = str(tmp_path / "kernel-repro" / "bin" / "pahole")
    assert reproenv.make_override(d.getVar("EXTRA_OEMAKE"), "PAHOLE") == wrapper
    assert d.getVar("KERNEL_REPRO_PAHOLE") == real
    assert d.getVar("KERNEL_REPRO_PAHOLE_MODE") == "reproducible_build"


def test_task_prefunc_new_pahole_needs_nothing(tmp_path):
    fake_pahole(tmp_path / "sysroot-native", "1.30")
    d = task_ds(tmp_path, PATH="%s:/usr/bin" % (tmp_path / "sysroot-native"))
    v = bbadapter.task_prefunc(d, qa=FakeQA())
    assert "KERNEL_REPRO_PAHOLE_MODE" not in v
    assert not os.path.exists(tmp_path / "kernel-repro")


MODSIG_CONFIG = ('CONFIG_MODULES=y\nCONFIG_MODULE_SIG=y\nCONFIG_MODULE_SIG_ALL=y\n'
                 'CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"\nCONFIG_DEBUG_INFO_BTF=y\n')


def test_compile_prefunc_fails_on_error_qa(tmp_path):
    d = task_ds(tmp_path, BB_CURRENTTASK="compile", PATH="/nonexistent")
    (tmp_path / "build" / ".config").write_text(MODSIG_CONFIG)
    qa = FakeQA()
    with pytest.raises(FakeQA.Failed):
        bbadapter.task_prefunc(d, qa=qa)
    checks = [c for c, _ in qa.calls]
    # no pahole anywhere and BTF on -> also the pahole check
    assert checks == ["kernel-repro-module-sig-key", "kernel-repro-pahole"]
    assert qa.calls[0][1].startswith("linux-test: kernel build not reproducible: CONFIG_MODULE_SIG_KEY")


def test_compile_prefunc_warn_only_passes(tmp_path):
    d = task_ds(tmp_path, BB_CURRENTTASK="compile", EXTRA_OEMAKE="PAHOLE=false",
                WARN_QA="kernel-repro-module-sig-key")
    (tmp_path / "build" / ".config").write_text(MODSIG_CONFIG)
    qa = FakeQA()
    v = bbadapter.task_prefunc(d, qa=qa)
    assert [c for c, _ in qa.calls] == ["kernel-repro-module-sig-key"]
    assert "KBUILD_BUILD_TIMESTAMP" in v


def test_compile_prefunc_installs_signing_key(tmp_path):
    key = tmp_path / "keys" / "modsign.pem"
    key.parent.mkdir()
    key.write_text("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    d = task_ds(tmp_path, BB_CURRENTTASK="compile", EXTRA_OEMAKE="PAHOLE=false",
                KERNEL_REPRO_MODULE_SIG_KEY=str(key))
    config = tmp_path / "build" / ".config"
    config.write_text(MODSIG_CONFIG)
    qa = FakeQA()
    bbadapter.task_prefunc(d, qa=qa)
    assert qa.calls == []
    assert kconfigqa.parse_config(config.read_text())["CONFIG_MODULE_SIG_KEY"] == bbadapter.SIG_KEY_NAME
    installed = tmp_path / "build" / bbadapter.SIG_KEY_NAME
    assert installed.read_text() == key.read_text()
    # no host path in .config (IKCONFIG would embed it)
    assert str(tmp_path) not in config.read_text()
    # a second run (task rerun) keeps it and refreshes the copy
    key.write_text("new")
    bbadapter.task_prefunc(d, qa=qa)
    assert installed.read_text() == "new"


def test_compile_prefunc_user_key_in_config_untouched(tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("k")
    d = task_ds(tmp_path, BB_CURRENTTASK="compile", EXTRA_OEMAKE="PAHOLE=false",
                KERNEL_REPRO_MODULE_SIG_KEY=str(key))
    own = MODSIG_CONFIG.replace("certs/signing_key.pem", "/etc/own.pem")
    (tmp_path / "build" / ".config").write_text(own)
    bbadapter.task_prefunc(d, qa=FakeQA())
    assert (tmp_path / "build" / ".config").read_text() == own


def test_compile_prefunc_missing_key_file_is_fatal(tmp_path):
    d = task_ds(tmp_path, BB_CURRENTTASK="compile", EXTRA_OEMAKE="PAHOLE=false",
                KERNEL_REPRO_MODULE_SIG_KEY=str(tmp_path / "nope.pem"))
    (tmp_path / "build" / ".config").write_text(MODSIG_CONFIG)
    with pytest.raises(Exception) as e:
        bbadapter.task_prefunc(d, qa=FakeQA())
    assert "nope.pem" in str(e.value) or e.type.__name__ == "BBHandledException"


def test_lib_checksum_follows_the_task_time_modules(tmp_path):
    """KERNEL_REPRO_LIB_SHA256 (in the kernel tasks' signatures) changes when
    any module that decides a kernel task's output changes, so builders on
    different layer versions never share one sstate name."""
    import shutil
    lib = os.path.dirname(bbadapter.__file__)
    root = tmp_path / "kernelrepro"
    shutil.copytree(lib, root, ignore=shutil.ignore_patterns("__pycache__"))
    base = bbadapter.lib_sha256(root=str(root))
    assert base == bbadapter.lib_sha256()
    for name in bbadapter.SIGNATURE_MODULES:
        path = root / name
        original = path.read_bytes()
        path.write_bytes(original + b"\n# changed\n")
        assert bbadapter.lib_sha256(root=str(root)) != base, name
        path.write_bytes(original)
    # a module outside the task path (the CLI) does not rebuild kernels
    (root / "cli.py").write_bytes(b"# changed\n")
    assert bbadapter.lib_sha256(root=str(root)) == base


def test_setup_recipe_sets_the_lib_checksum():
    d = datastore()
    assert bbadapter.setup_recipe(d)
    assert d.getVar("KERNEL_REPRO_LIB_SHA256") == bbadapter.lib_sha256()
    assert "KERNEL_REPRO_LIB_SHA256" in bbadapter.TASK_VARDEPS


def test_task_modules_follow_every_import_the_classes_make(tmp_path):
    """The checksum covers what tasks really run: the modules the classes
    import, and everything those import (fingerprint.read_build_id reads
    through image and decompress: a change in how a build-id is read must
    change the kernel's signature). A new import is followed."""
    import re
    import shutil
    names = set(bbadapter.SIGNATURE_MODULES)
    assert {"image.py", "formats.py", "stream.py", "elfread.py", "rawscan.py", "safefile.py",
            "decompress.py", "fingerprint.py", "imageguard.py"} <= names
    assert "cli.py" not in names and "demo.py" not in names
    classes = os.path.join(ROOT, "classes")
    used = set()
    for fn in os.listdir(classes):
        with open(os.path.join(classes, fn)) as f:
            used |= set(re.findall(r"kernelrepro\.(\w+)", f.read()))
    assert used <= set(bbadapter.TASK_ENTRY_MODULES), used - set(bbadapter.TASK_ENTRY_MODULES)
    root = tmp_path / "kernelrepro"
    shutil.copytree(os.path.dirname(bbadapter.__file__), root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert not {"check.py", "diff.py", "sections.py"} & set(bbadapter.task_modules(root=str(root)))
    fp = root / "fingerprint.py"
    fp.write_text(fp.read_text() + "\n\ndef _later():\n    from . import check\n")
    assert {"check.py", "sections.py"} <= set(bbadapter.task_modules(root=str(root)))


def test_setup_recipe_makes_the_hashed_files_parse_dependencies(monkeypatch):
    """KERNEL_REPRO_LIB_SHA256 is read from files at parse time: each must be in
    the recipe's __depends (with its mtime), or BitBake's recipe cache keeps
    the hashes of an older library and a build stops with "When reparsing ...
    the basehash value changed" (seen at tier 3 after a library change)."""
    # PyPI's bb has no parser (bb.parse needs hashserv): BitBake's
    # mark_dependency, as lib/bb/parse/__init__.py has it, stands in
    import types

    def mark_dependency(d, f):
        deps = d.getVar("__depends", False) or []
        s = (f, int(os.stat(f).st_mtime) if os.path.exists(f) else 0)
        if s not in deps:
            d.setVar("__depends", deps + [s])
    monkeypatch.setitem(sys.modules, "bb.parse", types.SimpleNamespace(mark_dependency=mark_dependency))
    d = datastore()
    assert bbadapter.setup_recipe(d)
    deps = {f for f, _mtime in (d.getVar("__depends", False) or [])}
    lib = os.path.dirname(os.path.abspath(bbadapter.__file__))
    want = {os.path.join(lib, m) for m in bbadapter.SIGNATURE_MODULES}
    want.add(reproenv.pahole_wrapper_path())
    assert want <= deps, sorted(want - deps)
    assert os.path.join(lib, "cli.py") not in deps


LIST_VARIABLES = ("KERNEL_REPRO_TASKS", "KERNEL_REPRO_ERROR_QA", "KERNEL_REPRO_WARN_QA")


@pytest.mark.parametrize("var", LIST_VARIABLES)
@pytest.mark.parametrize("op", ["+=", ":append", ":remove", "_DEFAULT"])
def test_every_list_variable_extends_one_way(var, op):
    """local.conf is parsed before the INHERIT-ed class: a ``+=`` there
    must add to the layer's list (with ``??=`` it silently replaced it),
    ``:remove`` take from it, and setting the _DEFAULT replace it."""
    defaults = class_defaults()[var].split()
    d = bb.data_smart.DataSmart()
    if op == "+=":
        d.setVar(var, "x-user")
        want = defaults + ["x-user"]
    elif op == ":append":
        d.setVar(var + ":append", " x-user")
        want = defaults + ["x-user"]
    elif op == ":remove":
        d.setVar(var + ":remove", defaults[0])
        want = defaults[1:]
    else:
        d.setVar(var + "_DEFAULT", "x-user")
    apply_class_assignments(d)
    if op == "_DEFAULT":
        # a _DEFAULT set before the class is overwritten by its "=": replace it after
        d.setVar(var + "_DEFAULT", "x-user")
        want = ["x-user"]
    assert d.getVar(var).split() == want


def test_sstate_class_is_wiring_only():
    """Every python function of kernel-repro-sstate.bbclass is one call into
    kernelrepro.sstatetasks, which BitBake tracks (BBIMPORTS)."""
    import kernelrepro
    path = os.path.join(ROOT, "classes", "kernel-repro-sstate.bbclass")
    with open(path) as f:
        text = f.read()
    bodies = re.findall(r"^(?:python [^\n]*\{\n|def [^\n]*:\n)(.*?)(?=^\}|^\S)", text, re.M | re.S)
    assert len(bodies) >= 10
    for body in bodies:
        code = [ln.strip() for ln in body.splitlines() if ln.strip()]
        assert code[0] == "import kernelrepro.sstatetasks" and len(code) == 2, code
        assert re.match(r"(return )?kernelrepro\.sstatetasks\.[a-z_]+\(", code[1]), code
        name = code[1].split("sstatetasks.")[1].split("(")[0]
        assert callable(getattr(sstatetasks, name)), name
    assert "sstatetasks" in kernelrepro.BBIMPORTS
    assert len(text.splitlines()) < 150


def test_bbimports_modules_are_readable_as_bitbake_reads_them():
    """What BitBake's addpylib does with each BBIMPORTS module
    (lib/bb/parse/ast.py PyLibNode, lib/bb/codeparser.py
    add_module_functions): every public callable defined in the module must
    have source inspect can find. A namedtuple made by a call has none, and
    every parse with the layer merely *added* failed ("Unable to parse
    .../inspect.py", tier 2 on master)."""
    import importlib
    import inspect
    import kernelrepro
    assert kernelrepro.BBIMPORTS
    for name in kernelrepro.BBIMPORTS:
        mod = importlib.import_module("kernelrepro." + name)
        for attr in dir(mod):
            obj = getattr(mod, attr)
            if attr.startswith("_") or not callable(obj):
                continue
            # BitBake 2.8 (scarthgap) calls it unguarded: a builtin would fail the parse
            src = inspect.getsourcefile(obj)
            if src != mod.__file__:
                continue        # imported from elsewhere: skipped too
            lines, _ = inspect.getsourcelines(obj)
            assert lines, (name, attr)
