# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The only module of kernelrepro that touches a BitBake datastore ``d``.

Thin: it reads variables, calls the plain functions of kernelrepro.reproenv
and kernelrepro.kconfigqa, and writes the results back. classes/kernel-repro.bbclass
calls exactly two entry points:

* :func:`setup_recipe` from an anonymous python function (parse time). It
  does nothing unless the recipe inherits ``kernel``, so a globally INHERITed
  class leaves every other recipe's signatures alone.
* :func:`task_prefunc` as a ``prefuncs`` entry of the kernel's compiling and
  linking tasks (task time: the pahole in recipe-sysroot-native exists only
  then).

What OE-Core already does and is therefore not repeated here (master;
scarthgap line numbers in brackets):

* KBUILD_BUILD_VERSION = "1", KBUILD_BUILD_USER ?= "oe-user",
  KBUILD_BUILD_HOST ?= "oe-host", exported for every kernel task:
  meta/classes-recipe/kernel-arch.bbclass:38-40
  [scarthgap: linux-kernel-base.bbclass:57-59]. They are re-exported with the
  same values (a no-op) only so that a recipe that does not inherit
  kernel-arch is covered too.
* KBUILD_BUILD_TIMESTAMP from SOURCE_DATE_EPOCH and KCONFIG_NOTIMESTAMP in
  kernel_do_compile and do_compile_kernelmodules: kernel.bbclass:358-378 and
  408-428 [scarthgap: 354-380, 410-436]; do_bundle_initramfs calls
  kernel_do_compile (kernel.bbclass:305-325). The gap closed here: a recipe
  that overrides do_compile (or adds its own compiling task) does not get
  them, so the task environment carries the same values computed the same
  way (:func:`kernelrepro.reproenv.resolve_source_date_epoch`).
* Absolute paths in debug info: KERNEL_CC carries ${DEBUG_PREFIX_MAP}
  (-ffile-prefix-map for ${S} and ${B}) plus maps for STAGING_KERNEL_DIR /
  STAGING_KERNEL_BUILDDIR (kernel-arch.bbclass:14-18, bitbake.conf:665-670)
  [scarthgap: kernel-arch.bbclass:74-78], and kbuild compiles *and*
  assembles with $(CC), so KCFLAGS/KAFLAGS add nothing. Only when KERNEL_CC
  lacks a map for one of those directories are KCFLAGS *and* KAFLAGS
  exported with one.
* linux-yocto passes PAHOLE=false unless KERNEL_DEBUG = "True"
  (meta/recipes-kernel/linux/linux-yocto.inc:88) [scarthgap: :72]; that is
  respected: no pahole, nothing to wrap.
"""

import hashlib
import os
import shutil

from . import kconfigqa
from . import reproenv

#: The python functions the class adds to each task's prefuncs / postfuncs.
PREFUNC = "kernel_repro_task_prefunc"
POSTFUNC = "kernel_repro_task_postfunc"

#: Variables task_prefunc() reads that must be part of the task signature.
#: classes/kernel-repro.bbclass lists exactly these in
#: ``kernel_repro_task_prefunc[vardeps]`` (a tier-1 test compares the two).
#: Not listed on purpose: SOURCE_DATE_EPOCH (in BB_HASHEXCLUDE_COMMON), paths
#: under WORKDIR, ERROR_QA/WARN_QA (a severity change must not rebuild a kernel),
#: KERNEL_REPRO_MODULE_SIG_KEY (its content is in do_compile's file-checksums,
#: which carry no path: hosts keeping the key in different places share sstate).
TASK_VARDEPS = (
    "KERNEL_REPRO_PAHOLE_MODE",
    "KERNEL_REPRO_DEBUG_PREFIX",
    "KERNEL_REPRO_WRAPPER_SHA256",
    "KERNEL_REPRO_LIB_SHA256",
    "KERNEL_DEBUG_TIMESTAMPS",
    "KBUILD_BUILD_USER",
    "KBUILD_BUILD_HOST",
    "KBUILD_BUILD_VERSION",
    "REPRODUCIBLE_TIMESTAMP_ROOTFS",
    "KCFLAGS",
    "KAFLAGS",
)

#: The modules the layer's classes import at task time. Every module they
#: import in turn (``task_modules``: function-local imports included, e.g.
#: fingerprint.read_build_id -> image -> decompress) decides what a kernel
#: task produces; their checksum is KERNEL_REPRO_LIB_SHA256, part of the
#: kernel tasks' signatures, so builders on different versions of this
#: layer never share one sstate name for different kernels. (BitBake's own
#: BBIMPORTS tracking, lib/bb/data.py build_dependencies' mod_funcs, sees
#: only fully qualified calls of listed modules' functions, not a
#: module-level constant or a call one module makes into another; a
#: checksum over the import closure covers both.)
TASK_ENTRY_MODULES = ("bbadapter", "sstatetasks", "fingerprint", "imageguard", "sstategroup", "errors")
#: Data files a task runs (the pahole wrapper).
TASK_DATA_FILES = (os.path.join("data", "bin", "pahole"),)


def _imports_of(path, package="kernelrepro"):
    """Names of the package's modules that the module at ``path`` imports."""
    import ast
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:            # from .x import y
                out.add(node.module.split(".")[0])
            elif node.level == 1:                          # from . import x, y
                out.update(a.name for a in node.names)
            elif node.level == 0 and node.module == package:   # from kernelrepro import x
                out.update(a.name for a in node.names)
            elif node.level == 0 and (node.module or "").startswith(package + "."):
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(package + "."):           # import kernelrepro.x
                    out.add(a.name.split(".")[1])
    return out


def task_modules(entries=TASK_ENTRY_MODULES, root=None):
    """Sorted file names (``x.py``) of ``entries`` and every module of the
    package they import, directly or not."""
    here = root or os.path.dirname(os.path.abspath(__file__))
    seen, todo = set(), list(entries)
    while todo:
        name = todo.pop()
        if name in seen or not os.path.isfile(os.path.join(here, name + ".py")):
            continue
        seen.add(name)
        todo.extend(_imports_of(os.path.join(here, name + ".py")) - seen)
    return tuple(sorted(n + ".py" for n in seen))


SIGNATURE_MODULES = task_modules() + TASK_DATA_FILES

#: Where the user's module signing key is installed in ${B}; CONFIG_MODULE_SIG_KEY
#: is pointed at this *relative* name (relative to the object tree, as kbuild
#: resolves it) so that no host path lands in .config / IKCONFIG. The name
#: matches the ``certs/signing_key.*`` that do_shared_workdir copies to
#: STAGING_KERNEL_BUILDDIR for external modules (kernel.bbclass:556-560), and
#: is not "certs/signing_key.pem", for which certs/Makefile would generate a key.
SIG_KEY_NAME = "certs/signing_key.kernel-repro.pem"


def _bb():
    import bb  # noqa: F401  (only available inside BitBake or with the bitbake-setup wheel)
    import bb.data
    return bb


def is_kernel_recipe(d):
    """True for recipes that inherit kernel.bbclass (directly or not)."""
    return _bb().data.inherits_class("kernel", d)


def wrapper_sha256(path=None):
    with open(path or reproenv.pahole_wrapper_path(), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def lib_sha256(modules=SIGNATURE_MODULES, root=None):
    """One checksum over the task-time modules of kernelrepro (names + bytes)."""
    here = root or os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for name in modules:
        with open(os.path.join(here, name), "rb") as f:
            data = f.read()
        h.update(b"%s\0%d\0" % (name.encode(), len(data)))
        h.update(data)
    return h.hexdigest()


def track_files(d, paths):
    """Have BitBake parse the recipe again when one of ``paths`` changes.

    KERNEL_REPRO_LIB_SHA256 and KERNEL_REPRO_WRAPPER_SHA256 are computed at
    parse time from files BitBake does not know of: its recipe cache is keyed
    on the configuration and the recipe's own files (``__depends``), so after
    a change to the library the cooker kept the old task hashes while the
    worker, parsing afresh, computed new ones -- "When reparsing ... the
    basehash value changed ... The metadata is not deterministic" and the
    build stopped. bb.parse.mark_dependency is what ``include`` and
    ``require`` use: each file's mtime joins ``__depends``.
    """
    try:
        from bb.parse import mark_dependency
    except ImportError:         # outside BitBake: no recipe cache to keep right
        return
    for p in paths:
        mark_dependency(d, p)


def _words(d, var):
    return (d.getVar(var) or "").split()


def setup_recipe(d):
    """Parse time: wire the class into a kernel recipe; no-op for any other.

    * adds PREFUNC to the ``prefuncs`` of each task in KERNEL_REPRO_TASKS;
    * adds each check of KERNEL_REPRO_ERROR_QA / KERNEL_REPRO_WARN_QA to
      ERROR_QA / WARN_QA unless the user already listed it in either;
    * records the pahole wrapper's checksum and the signing key file so that
      changing them changes the signature of the kernel's tasks.
    Returns True when the recipe was wired.
    """
    if not is_kernel_recipe(d):
        return False
    for task in _words(d, "KERNEL_REPRO_TASKS"):
        if PREFUNC not in (d.getVarFlag(task, "prefuncs") or "").split():
            d.appendVarFlag(task, "prefuncs", " " + PREFUNC)
        if POSTFUNC not in (d.getVarFlag(task, "postfuncs") or "").split():
            d.appendVarFlag(task, "postfuncs", " " + POSTFUNC)
    listed = set(_words(d, "ERROR_QA")) | set(_words(d, "WARN_QA"))
    for severity_var, qa_var in (("KERNEL_REPRO_ERROR_QA", "ERROR_QA"),
                                 ("KERNEL_REPRO_WARN_QA", "WARN_QA")):
        for check in _words(d, severity_var):
            if check not in listed:
                d.appendVar(qa_var, " " + check)
                listed.add(check)
    d.setVar("KERNEL_REPRO_WRAPPER_SHA256", wrapper_sha256())
    d.setVar("KERNEL_REPRO_LIB_SHA256", lib_sha256())
    here = os.path.dirname(os.path.abspath(__file__))
    track_files(d, [os.path.join(here, m) for m in SIGNATURE_MODULES]
                + [reproenv.pahole_wrapper_path()])
    key = (d.getVar("KERNEL_REPRO_MODULE_SIG_KEY") or "").strip()
    if key:
        d.appendVarFlag("do_compile", "file-checksums", " %s:True" % key)
    return True


def find_pahole(d):
    """The pahole this task's make will run -> (path or None, make variable or None).

    The make variable is where an explicit ``PAHOLE=`` came from
    (EXTRA_OEMAKE or KERNEL_EXTRA_ARGS), None when the kernel's own default
    (``pahole`` looked up on PATH) applies. ``PAHOLE=false`` -> (None, var).
    """
    source, value = None, None
    for var in ("EXTRA_OEMAKE", "KERNEL_EXTRA_ARGS"):
        v = reproenv.make_override(d.getVar(var), "PAHOLE")
        if v is not None:
            source, value = var, v
    name = value if value is not None else "pahole"
    if os.path.basename(name) in ("false", "true", ""):
        return None, source
    if os.sep in name:
        path = name if os.access(name, os.X_OK) else None
    else:
        path = shutil.which(name, path=d.getVar("PATH") or "")
    if path and os.path.realpath(path) == os.path.realpath(reproenv.pahole_wrapper_path()):
        return None, source
    return path, source


def task_variables(d, pahole=None, pahole_version=None):
    """The environment a kernel task gets, from ``d`` (plain dict out)."""
    debug_ts = (d.getVar("KERNEL_DEBUG_TIMESTAMPS") or "0") == "1"
    srcdir = d.getVar("S") or ""
    sde = reproenv.resolve_source_date_epoch(
        d.getVar("SOURCE_DATE_EPOCH"), lambda: reproenv.git_commit_epoch(srcdir),
        d.getVar("REPRODUCIBLE_TIMESTAMP_ROOTFS") or d.getVar("SOURCE_DATE_EPOCH_FALLBACK"))
    paths = reproenv.unmapped_paths(
        d.getVar("KERNEL_CC"),
        [srcdir, d.getVar("B"), d.getVar("STAGING_KERNEL_DIR"), d.getVar("STAGING_KERNEL_BUILDDIR")])
    variables = reproenv.make_variables(
        sde, paths=paths,
        user=d.getVar("KBUILD_BUILD_USER") or reproenv.DEFAULT_USER,
        host=d.getVar("KBUILD_BUILD_HOST") or reproenv.DEFAULT_HOST,
        build_version=d.getVar("KBUILD_BUILD_VERSION") or "1",
        prefix=d.getVar("KERNEL_REPRO_DEBUG_PREFIX") or reproenv.DEFAULT_PREFIX,
        pahole=pahole, pahole_version=pahole_version,
        extra_kcflags=d.getVar("KCFLAGS") or "", extra_kaflags=d.getVar("KAFLAGS") or "")
    if debug_ts:
        # The user asked for real timestamps (kernel.bbclass:375-378); the QA
        # check kernel-repro-timestamps says so, the environment does not lie.
        variables.pop("KBUILD_BUILD_TIMESTAMP", None)
        variables.pop("KCONFIG_NOTIMESTAMP", None)
    forced = (d.getVar("KERNEL_REPRO_PAHOLE_MODE") or "").strip()
    if pahole and forced:
        if forced not in (reproenv.PAHOLE_NONE, reproenv.PAHOLE_SERIAL, reproenv.PAHOLE_REPRODUCIBLE):
            raise ValueError("KERNEL_REPRO_PAHOLE_MODE must be empty, none, serial or "
                             "reproducible_build, not %r" % forced)
        for k in ("PAHOLE", "KERNEL_REPRO_PAHOLE", "KERNEL_REPRO_PAHOLE_MODE"):
            variables.pop(k, None)
        if forced != reproenv.PAHOLE_NONE:
            variables["PAHOLE"] = reproenv.pahole_wrapper_path()
            variables["KERNEL_REPRO_PAHOLE"] = pahole
            variables["KERNEL_REPRO_PAHOLE_MODE"] = forced
    return variables


def task_postfunc(d):
    """Task time, after make: generated sources that carry absolute build
    paths (reproenv.GENERATED_WITH_PATHS) get them mapped the way this
    task's compiler maps them in debug info (KERNEL_CC, KCFLAGS, KAFLAGS as
    the prefunc left them). -> the files changed."""
    maps = reproenv.prefix_maps(" ".join(d.getVar(v) or "" for v in ("KERNEL_CC", "KCFLAGS", "KAFLAGS")))
    changed = reproenv.map_generated_sources(d.getVar("B"), maps)
    if changed:
        _bb().note("kernel-repro: build paths mapped in generated sources: %s" % " ".join(changed))
    return changed


def install_wrapper(d):
    """Copy the pahole wrapper to ${WORKDIR}/kernel-repro/bin/pahole; return that dir."""
    bindir = os.path.join(d.getVar("WORKDIR"), "kernel-repro", "bin")
    os.makedirs(bindir, exist_ok=True)
    dst = os.path.join(bindir, "pahole")
    shutil.copyfile(reproenv.pahole_wrapper_path(), dst)
    os.chmod(dst, 0o755)
    return bindir


def apply_module_sig_key(d, config_path):
    """Install KERNEL_REPRO_MODULE_SIG_KEY as ${B}/SIG_KEY_NAME and point
    CONFIG_MODULE_SIG_KEY at it, when .config uses the build-time generated
    key (or already ours). Returns True when the key was applied.

    Why not copy it over certs/signing_key.pem: certs/Makefile regenerates that
    file with ``if_changed`` + FORCE whenever its saved command is missing.
    kbuild re-runs syncconfig on the edited .config at the next make.
    """
    key = (d.getVar("KERNEL_REPRO_MODULE_SIG_KEY") or "").strip()
    if not key or not os.path.exists(config_path):
        return False
    with open(config_path) as f:
        text = f.read()
    current = kconfigqa.parse_config(text).get("CONFIG_MODULE_SIG_KEY")
    if current not in (kconfigqa.DEFAULT_SIGNING_KEY, SIG_KEY_NAME):
        return False
    if not os.path.isfile(key):
        _bb().fatal("KERNEL_REPRO_MODULE_SIG_KEY = %s: no such file" % key)
    builddir = os.path.dirname(config_path)
    dst = os.path.join(builddir, SIG_KEY_NAME)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(key, dst)
    os.chmod(dst, 0o600)
    if current != SIG_KEY_NAME:
        with open(config_path, "w") as f:
            f.write(kconfigqa.set_string_option(text, "CONFIG_MODULE_SIG_KEY", SIG_KEY_NAME))
    return True


def run_qa(d, config_path, pahole_known, qa=None):
    """Report kconfigqa findings for ``config_path`` through oe.qa; fail the
    task when one of them is in ERROR_QA. Returns the findings."""
    if not os.path.exists(config_path):
        _bb().note("kernel-repro: no %s, configuration checks skipped" % config_path)
        return []
    if qa is None:
        import oe.qa as qa
    with open(config_path) as f:
        text = f.read()
    findings = kconfigqa.check_config(
        text, module_sig_key_supplied=False, pahole_known=pahole_known,
        debug_timestamps=(d.getVar("KERNEL_DEBUG_TIMESTAMPS") or "0") == "1")
    skip = set(_words(d, "INSANE_SKIP:" + (d.getVar("PN") or ""))) | set(_words(d, "INSANE_SKIP"))
    for f in findings:
        if f.check in skip:
            continue
        qa.handle_error(f.check, "%s: kernel build not reproducible: %s"
                        % (d.getVar("PN"), kconfigqa.format_finding(f)), d)
    qa.exit_if_errors(d)
    return findings


def task_prefunc(d, qa=None):
    """Task time: export the reproducible-build environment into this task.

    In do_compile it first installs a supplied module signing key and runs
    the configuration checks on the final ${B}/.config (after
    do_kernel_configcheck and any do_configure postfuncs), so a kernel that
    cannot be reproducible fails before it is compiled.
    """
    pahole, source = find_pahole(d)
    version = reproenv.pahole_version_of(pahole) if pahole else None
    if (d.getVar("BB_CURRENTTASK") or "") == "compile":
        config = os.path.join(d.getVar("B"), ".config")
        apply_module_sig_key(d, config)
        btf_disabled = pahole is None and source is not None
        run_qa(d, config, pahole_known=btf_disabled or version is not None, qa=qa)
    variables = task_variables(d, pahole if version else None, version)
    wrapper = variables.pop("PAHOLE", None)
    if wrapper:
        bindir = install_wrapper(d)
        d.setVar("PATH", bindir + ":" + (d.getVar("PATH") or ""))
        if source:
            # An explicit PAHOLE=... on make's command line beats PATH; a
            # later assignment on the same command line wins.
            d.appendVar(source, " PAHOLE=%s" % os.path.join(bindir, "pahole"))
    for name, value in variables.items():
        d.setVar(name, value)
        d.setVarFlag(name, "export", "1")
    _bb().note("kernel-repro: %s" % " ".join(
        "%s=%r" % kv for kv in sorted(variables.items())))
    return variables
