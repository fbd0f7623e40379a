# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The hooks of classes/kernel-repro-sstate.bbclass, one function each.

The class is wiring only (as OE-Core's create-spdx-3.0.bbclass is for
oe.spdx30_tasks): every python function and task there is one call into
this module, with the BitBake datastore ``d``. The decisions are made by the
plain functions of sstategroup (which sstate objects a build may restore),
fingerprint (the build-id records and their comparison) and imageguard (the
images that hold a kernel).

This module is in ``kernelrepro.BBIMPORTS``: BitBake hashes each function's
code and the variables it reads (``d.getVar("X")`` with a literal name) into
the signature of every task that calls it, as for OE-Core's lib/oe. The
modules it calls in turn are covered by KERNEL_REPRO_LIB_SHA256
(bbadapter.task_modules).

Mismatches are reported as the QA check ``kernel-repro-buildid`` through
oe.qa (a "QA Issue" line; INSANE_SKIP:<pn> and WARN_QA are honoured); it
is an error unless the user lists it in WARN_QA.
"""

import os

from . import fingerprint as fp
from . import imageguard as ig
from . import sstategroup as sg
from .artifacts import BUNDLE_SOURCE
from .errors import KernelReproError

#: The QA check of every build-id comparison the class makes.
BUILDID_CHECK = "kernel-repro-buildid"
#: The hash check function the class installs (a ``def`` in the class, so
#: that BitBake's better_eval finds it by this name).
CHECKHASHES = "kernel_repro_sstate_checkhashes"
#: The binary package feeds a kernel recipe may write.
FEED_TASKS = ("do_package_write_rpm", "do_package_write_ipk", "do_package_write_deb")


def _bb():
    import bb
    import bb.build
    import bb.data
    import bb.utils
    return bb


def _unsigned(d, name, expand=True):
    """``d.getVar(name)`` that BitBake's signature scanner does not see (the
    name is not a literal). For values that do not change what a task
    produces (a check's severity) or that exist only in the task's worker
    (BB_TASKDEPDATA, SSTATE_PKG): in a signature they would differ between
    the parse and the worker's reparse ("basehash value changed").
    bb.utils.vardepsexclude would say it, but BitBake 2.8 (scarthgap) ignores it."""
    return d.getVar(name, expand)


def _lib_tracked(func):
    """The class's kernel-task hooks depend on every library module they run:
    KERNEL_REPRO_LIB_SHA256 joins their signature (BitBake reads bb_vardeps
    of BBIMPORTS functions)."""
    func.bb_vardeps = {"KERNEL_REPRO_LIB_SHA256"}
    return func


def rebuild_hint(pn):
    """The repair command of every "fingerprint missing / unreadable" stop."""
    return "rebuild with: bitbake -c cleansstate %s && bitbake %s" % (pn, pn)


def report(d, msg, check=BUILDID_CHECK):
    """A build-id mismatch, as an OE QA issue: skipped with INSANE_SKIP:<pn>,
    a warning when the check is in WARN_QA (and not in ERROR_QA), else an
    error that fails the task -- also in recipes (images) where nothing put
    the check in ERROR_QA: a mismatch is never only a note."""
    import oe.qa
    bb = _bb()
    pn = d.getVar("PN") or ""
    if check in (_unsigned(d, "INSANE_SKIP:" + pn) or "").split() + (_unsigned(d, "INSANE_SKIP") or "").split():
        bb.note("kernel-repro: %s skipped (INSANE_SKIP): %s" % (check, msg))
        return
    errors = (_unsigned(d, "ERROR_QA") or "").split()
    if check not in errors and check not in (_unsigned(d, "WARN_QA") or "").split():
        d.appendVar("ERROR_QA", " " + check)
    oe.qa.handle_error(check, msg, d)
    oe.qa.exit_if_errors(d)


def compare(d, ids, restored_while_compiled=False):
    """fingerprint.check_pair on (label, build-id) pairs; a mismatch is
    reported. ``restored_while_compiled``: this build compiled while the
    other side was restored from sstate (fetch_failed_message)."""
    pn, target = d.getVar("PN"), d.getVar("KERNEL_REPRO_FIX_TARGET")
    message = (lambda present: fp.fetch_failed_message(pn, present, target)) if restored_while_compiled else None
    try:
        return fp.check_pair(pn, ids, target, message=message)
    except fp.FingerprintMismatch as e:
        report(d, str(e))
        return None


def build_started(d):
    """When this build started (BUILDNAME, which the cooker sets once per
    build and hands to every task, DATE+TIME in UTC), epoch seconds; or None."""
    import calendar
    import time
    name = _unsigned(d, "BUILDNAME") or ""
    try:
        return calendar.timegm(time.strptime(name[:14], "%Y%m%d%H%M%S"))
    except ValueError:
        return None


def restored_while_compiled(d, compile_record, *others):
    """Did this build write ``compile_record`` (the kernel was compiled here)
    while one of ``others`` came from sstate (written before the build:
    restored files keep the archive's times)?"""
    start = build_started(d)
    try:
        if start is None or os.stat(compile_record).st_mtime < start - 1:
            return False
        return any(os.path.exists(p) and os.stat(p).st_mtime < start - 1 for p in others)
    except OSError:
        return False


def read_record(d, path):
    """A fingerprint file, or None when absent; a corrupt one fails the task
    with one line (never a traceback)."""
    try:
        return fp.read_record(path)
    except (KernelReproError, OSError, UnicodeDecodeError) as e:
        pn = d.getVar("PN")
        _bb().fatal("kernel-repro: %s: unreadable build-id fingerprint %s (%s); %s"
                    % (pn, path, e, rebuild_hint(pn)))


def _insert_before_sstate(d, task, func):
    """``func`` as a postfunc of ``task`` that runs before sstate_task_postfunc
    captures the task's output, whichever class was inherited first."""
    post = (d.getVarFlag(task, "postfuncs") or "").split()
    at = post.index("sstate_task_postfunc") if "sstate_task_postfunc" in post else len(post)
    post.insert(at, func)
    d.setVarFlag(task, "postfuncs", " ".join(post))


# --- configuration and hash check (BitBake server) ---------------------------

def config_parsed(d):
    """ConfigParsed: wrap the configured BB_HASHCHECK_FUNCTION (sstate.bbclass
    assigns it with "=" and may be inherited after this class)."""
    current = d.getVar("BB_HASHCHECK_FUNCTION")
    if current and current != CHECKHASHES:
        d.setVar("KERNEL_REPRO_SSTATE_WRAPPED", current)
        d.setVar("BB_HASHCHECK_FUNCTION", CHECKHASHES)


def local_path_function(d):
    """tid -> its object's path in the local SSTATE_DIR, exactly as OE-Core's
    sstate_checkhashes computes it (getsstatefile there)."""
    bb = _bb()
    import bb.runqueue
    gen = bb.utils.better_eval("generate_sstatefn", {})
    sstate_dir = d.getVar("SSTATE_DIR")
    lsb = d.getVar("NATIVELSBSTRING") or ""

    def local_path(tid, sq_data):
        try:
            parts = sq_data["hashfn"][tid].split(" ")
            spec, extra = parts[1], (lsb + "/" if parts[0] == "True" else "")
            return os.path.join(sstate_dir, extra + gen(spec, sq_data["unihash"][tid],
                                                        bb.runqueue.taskname_from_tid(tid)[3:], False, d))
        except (KeyError, IndexError):
            return None
    return local_path


def mirror_fetch_function(d, local_path):
    """tid -> None once its object is in the local SSTATE_DIR (fetched now
    from SSTATE_MIRRORS by OE-Core's own pstaging_fetch, as its setscene task
    would), else the reason it is not. None when there is no mirror."""
    bb = _bb()
    mirrors = d.getVar("SSTATE_MIRRORS")
    if not mirrors:
        return None
    try:
        pstaging_fetch = bb.utils.better_eval("pstaging_fetch", {})
    except NameError:
        return None
    sstate_dir = d.getVar("SSTATE_DIR")
    # "file://.* http://host/sstate/PATH;downloadfilename=PATH" -> http://host/sstate
    where = " ".join(m.split(";")[0].replace("/PATH", "") for m in mirrors.split()[1::2])

    def fetch(tid, sq_data):
        path = local_path(tid, sq_data)
        if not path or os.path.exists(path):
            return None
        # The fetcher logs a failed download as an ERROR, which would fail
        # the whole build (BitBake's exit status counts them) although the
        # group is simply built here: our own line says what happened.
        with _quiet_logger("BitBake.Fetcher"):
            try:
                pstaging_fetch(os.path.relpath(path, sstate_dir), d)
            except Exception as e:  # noqa: BLE001 -- any failure means "not fetched"
                return "%s: %s" % (os.path.basename(path), e)
        if not os.path.exists(path):
            return "%s was not downloaded from %s" % (os.path.basename(path), where)
        return None
    return fetch


class _quiet_logger:
    """Within the block, records of ``name`` at WARNING and above are dropped."""

    def __init__(self, name):
        import logging
        self.logger, self.level = logging.getLogger(name), logging.WARNING

    def filter(self, record):
        return record.levelno < self.level

    def __enter__(self):
        self.logger.addFilter(self)

    def __exit__(self, *exc):
        self.logger.removeFilter(self)


def checkhashes(sq_data, d, siginfo=False, currentcount=0, summary=True, **kwargs):
    """BB_HASHCHECK_FUNCTION: OE-Core's check, with the kernel groups restored
    all together or not at all (sstategroup.checkhashes_with_groups)."""
    bb = _bb()
    import bb.parse
    name = d.getVar("KERNEL_REPRO_SSTATE_WRAPPED") or "sstate_checkhashes"
    if name == CHECKHASHES:
        name = "sstate_checkhashes"
    orig = bb.utils.better_eval(name, {})
    local_path = None
    if bb.utils.to_boolean(d.getVar("KERNEL_REPRO_SSTATE_REPLACE_STALE")):
        local_path = local_path_function(d)
    fetch = None
    if not siginfo and bb.utils.to_boolean(d.getVar("KERNEL_REPRO_SSTATE_PREFETCH")):
        fetch = mirror_fetch_function(d, local_path or local_path_function(d))
    enforce = bb.utils.to_boolean(d.getVar("BB_SETSCENE_ENFORCE"))
    return sg.checkhashes_with_groups(
        orig, sq_data, d, bb.parse.siggen, siginfo=siginfo,
        currentcount=currentcount, summary=summary,
        log=bb.error if enforce else bb.note, local_path=local_path, plain=bb.plain,
        index_dir=local_path and sg.stale_index(d.getVar("SSTATE_DIR")),
        read_only=bb.utils.to_boolean(d.getVar("SSTATE_SKIP_CREATION")), enforced=enforce,
        fetch=fetch, warn=bb.warn, **kwargs)


# --- parse time --------------------------------------------------------------

def setup_kernel_recipe(d):
    """A kernel recipe: the fingerprint hooks, the -buildid package, the
    feeds' records and do_kernel_repro_verify."""
    bb = _bb()
    d.appendVarFlag("do_compile", "postfuncs", " kernel_repro_record_buildid")
    d.appendVar("PACKAGEFUNCS", " kernel_repro_pkgdata_fingerprint")
    d.appendVarFlag("do_deploy", "prefuncs", " kernel_repro_check_deploy")
    _insert_before_sstate(d, "do_deploy", "kernel_repro_deploy_fingerprint")
    # the device gets the compile's build-id record (what `kernel-repro
    # running` and kernel-repro-bootcheck compare /sys/kernel/notes with)
    d.appendVarFlag("do_install", "postfuncs", " kernel_repro_install_record")
    pkg = d.expand("${KERNEL_PACKAGE_NAME}-buildid")
    d.prependVar("PACKAGES", pkg + " ")
    d.setVar("FILES:" + pkg, d.expand("${datadir}/kernel-repro"))
    d.setVar("SUMMARY:" + pkg, "GNU build-id of the kernel this build compiled (kernel-repro)")
    # the package feeds carry the build-id of the vmlinux they packaged. A
    # string set at parse time: a list-valued varflag such as [deps] read at
    # task time would land in the recipe's signature data, which BitBake 2.8
    # (scarthgap) cannot pickle ("unhashable type: 'list'").
    tasks = d.getVar("__BBTASKS", False) or []
    feeds = [t for t in FEED_TASKS if t in tasks]
    d.setVar("KERNEL_REPRO_FEED_TASKS", " ".join(feeds))
    for task in feeds:
        _insert_before_sstate(d, task, "kernel_repro_feed_fingerprint")
    bb.build.addtask("do_kernel_repro_verify", "do_build", " ".join(["do_deploy", "do_packagedata"] + feeds), d)
    # cleaning the kernel invalidates the images that hold it (imageguard)
    d.appendVarFlag("do_clean", "postfuncs", " kernel_repro_clean_consumers")
    # a bundled initramfs: the relinked kernel's own record. Unconditional:
    # kernel.bbclass adds do_bundle_initramfs from its own anonymous python,
    # which may run after this one (a flag on a function that is no task
    # does nothing); a first tier-3 bundle build deployed no record.
    d.appendVarFlag("do_bundle_initramfs", "postfuncs", " kernel_repro_record_bundle")


def setup_other_recipe(d):
    """Images run the kernel's check (they depend on virtual/kernel:do_deploy,
    never on its do_build) and their own; non-kernel providers of
    virtual/kernel (linux-dummy) get a no-op task of the same name, so the
    dependency always resolves."""
    bb = _bb()
    if "virtual/kernel" in (d.getVar("PROVIDES") or "").split():
        bb.build.addtask("do_kernel_repro_verify", "do_build", None, d)
        d.setVarFlag("do_kernel_repro_verify", "noexec", "1")
    elif bb.data.inherits_class("image", d) and \
            bb.utils.to_boolean(d.getVar("KERNEL_REPRO_IMAGE_VERIFY")) and \
            d.getVar("PREFERRED_PROVIDER_virtual/kernel"):
        # no stamp: it runs in every build of the image, also when the
        # image's own tasks are current and the kernel was rebuilt
        bb.build.addtask("do_kernel_repro_image_verify", "do_build", "do_image_complete", d)
        d.setVarFlag("do_kernel_repro_image_verify", "nostamp", "1")
        d.appendVarFlag("do_kernel_repro_image_verify", "depends", " virtual/kernel:do_kernel_repro_verify")


def setup_recipe(d):
    """The class's anonymous function: one of the two above."""
    if _bb().data.inherits_class("kernel", d):
        setup_kernel_recipe(d)
    else:
        setup_other_recipe(d)


# --- kernel task hooks -------------------------------------------------------

@_lib_tracked
def record_buildid(d):
    """do_compile postfunc: the build-id of ${B}/vmlinux, with the
    do_compile hash as the identity of the compile's inputs."""
    bb = _bb()
    vmlinux = d.expand("${B}/vmlinux")
    if not os.path.exists(vmlinux):
        bb.note("kernel-repro: %s: no vmlinux in ${B}, no build-id fingerprint" % d.getVar("PN"))
        return
    try:
        bid = fp.read_build_id(vmlinux)
    except KernelReproError as e:
        bb.fatal("kernel-repro: %s: cannot record the kernel build-id: %s" % (d.getVar("PN"), e))
    fp.write_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"), bid, d.getVar("PN"),
                    source="compile:" + (_unsigned(d, "BB_TASKHASH") or ""))
    # a new compile for these hashes: whichever compile settles a group
    # member first publishes the group in a shared cache (sstateshare)
    compile_hash = _compile_hash(d)
    if compile_hash and not bb.utils.to_boolean(_unsigned(d, "SSTATE_SKIP_CREATION")):
        from . import sstateshare
        err = sstateshare.drop_claim(_unsigned(d, "SSTATE_DIR"), compile_hash)
        if err:
            bb.note("kernel-repro: cannot drop the group claim %s" % err)


@_lib_tracked
def pkgdata_fingerprint(d):
    """PACKAGEFUNCS (do_package): the packaged vmlinux must be the compiled
    one; its build-id goes into pkgdata."""
    import glob
    pn = d.getVar("PN")
    rec = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    ids = [("compile", rec and rec["build_id"])]
    for path in sorted(glob.glob(d.expand("${PKGD}/${KERNEL_IMAGEDEST}/vmlinux-*"))):
        ids.append(("packaged " + os.path.basename(path), fp.read_build_id(path)))
    if rec is None and len(ids) > 1:
        _bb().fatal("kernel-repro: %s: a vmlinux is packaged but %s is missing: do_compile ran "
                    "without kernel-repro-sstate; bitbake -c cleansstate %s" %
                    (pn, d.getVar("KERNEL_REPRO_BUILDID_FILE"), pn))
    if rec is None:
        return
    compare(d, ids)
    # the build-id alone: outputs must not change with the compile's task
    # hash, or hash equivalence could never match do_package*'s outhash
    fp.write_record(fp.pkgdata_path(d.getVar("PKGDESTWORK"), pn), rec["build_id"], pn)


def _replace_link(directory, link, target):
    path = os.path.join(directory, link)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def _write_public_record(path, build_id, pn, source=None):
    fp.write_record(path, build_id, pn, source=source)
    os.chmod(path, 0o644)


@_lib_tracked
def deploy_fingerprint(d):
    """do_deploy postfunc: ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_NAME}.buildid
    next to the image, with the links ${KERNEL_IMAGETYPE}.buildid and
    ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_LINK_NAME}.buildid."""
    rec = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    if rec is None:
        return
    itype, name = d.getVar("KERNEL_IMAGETYPE"), d.getVar("KERNEL_IMAGE_NAME")
    main, plain_link = fp.deploy_names(itype, name)
    machine_link = fp.deploy_names(itype, name, d.getVar("KERNEL_IMAGE_LINK_NAME"))[1]
    # a second kernel deploys into its own subdirectory (kernel.bbclass)
    deploydir = os.path.join(d.getVar("DEPLOYDIR"), d.getVar("KERNEL_DEPLOYSUBDIR") or "")
    # the build-id alone (no task hash: see pkgdata_fingerprint)
    _write_public_record(os.path.join(deploydir, main), rec["build_id"], d.getVar("PN"))
    for link in {plain_link, machine_link} - {None}:
        _replace_link(deploydir, link, main)
    bundle = fp.read_record(d.getVar("KERNEL_REPRO_BUNDLE_FILE")) if bundling(d) else None
    if bundle is not None:
        name, link = bundle_record_names(d)
        _write_public_record(os.path.join(deploydir, name), bundle["build_id"], d.getVar("PN"),
                             source=bundle.get("source", ""))
        if link:
            _replace_link(deploydir, link, name)


@_lib_tracked
def install_record(d):
    """do_install postfunc: the record for the device, build-id only."""
    rec = read_record(d, d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    if rec is None:
        return
    _write_public_record(d.expand("${D}${datadir}/kernel-repro/${PN}.buildid"), rec["build_id"], d.getVar("PN"))


def feed_record(d, backend, top):
    """Where a package feed keeps the build-id of the vmlinux it packaged:
    ``<top>/<PACKAGE_ARCH>/kernel-repro/<PN>.buildid`` (indexers read only
    *.rpm, *.ipk, *.deb)."""
    return os.path.join(top, d.getVar("PACKAGE_ARCH"), "kernel-repro", d.getVar("PN") + ".buildid")


@_lib_tracked
def feed_fingerprint(d):
    """do_package_write_{rpm,ipk,deb} postfunc: the vmlinux going into the
    feed must be the compiled one; its build-id is recorded in the task's
    output, so the feed's sstate object carries it."""
    import glob
    pn = d.getVar("PN")
    backend = (d.getVar("BB_CURRENTTASK") or "").rpartition("_")[2]
    outdir = d.getVar("PKGWRITEDIR" + backend.upper())
    if not outdir:
        return
    files = sorted(p for p in glob.glob(d.expand("${PKGDEST}/*/${KERNEL_IMAGEDEST}/vmlinux-*"))
                   if os.path.isfile(p) and not os.path.islink(p))
    if not files:
        return
    rec = read_record(d, d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    pkg = read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn))
    ids = [("%s feed %s" % (backend, os.path.relpath(p, d.getVar("PKGDEST"))), fp.read_build_id(p)) for p in files]
    ids += [("compile", rec and rec["build_id"]), ("pkgdata", pkg and pkg["build_id"])]
    compare(d, ids)
    fp.write_record(feed_record(d, backend, outdir), ids[0][1], pn)


def bundling(d):
    """Does this kernel bundle an initramfs (kernel.bbclass's condition)?"""
    return bool(d.getVar("INITRAMFS_IMAGE")) and d.getVar("INITRAMFS_IMAGE_BUNDLE") == "1"


def bundle_vmlinux(d):
    """The relinked vmlinux of do_bundle_initramfs: kernel.bbclass moves it to
    vmlinux.initramfs (and restores vmlinux) only when vmlinux is one of
    KERNEL_IMAGETYPES; otherwise ${B}/vmlinux *is* the relinked one."""
    if "vmlinux" in (d.getVar("KERNEL_IMAGETYPE_FOR_MAKE") or "").split():
        return d.expand("${B}/vmlinux.initramfs")
    return d.expand("${B}/vmlinux")


@_lib_tracked
def record_bundle(d):
    """do_bundle_initramfs postfunc. The bundled kernel is vmlinux relinked
    with the initramfs: another ELF, so another build-id than the compile's
    (kernel-dbg's vmlinux) -- and later sections at other addresses. Record
    the relinked build-id with the compile it was relinked from, after
    checking that every bundled image is that relink."""
    bb = _bb()
    pn = d.getVar("PN")
    rec = read_record(d, d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    if rec is None:
        return
    vmlinux = bundle_vmlinux(d)
    try:
        bid = fp.read_build_id(vmlinux)
    except KernelReproError as e:
        bb.fatal("kernel-repro: %s: cannot read the build-id of the bundled kernel: %s" % (pn, e))
    ids = [("bundled vmlinux", bid)]
    for itype in (d.getVar("KERNEL_IMAGETYPES") or "").split():
        path = d.expand("${B}/${KERNEL_OUTPUT_DIR}/%s.initramfs" % itype)
        if itype != "vmlinux" and os.path.exists(path):
            ids.append(("bundled " + itype, fp.read_build_id(path)))
    compare(d, ids)
    fp.write_record(d.getVar("KERNEL_REPRO_BUNDLE_FILE"), bid, pn, source=BUNDLE_SOURCE + rec["build_id"])
    if "vmlinux" not in (d.getVar("KERNEL_IMAGETYPES") or "").split():
        bb.warn("kernel-repro: %s: the bundled kernel (build-id %s) has no debug vmlinux anywhere: "
                "kernel-dbg holds the vmlinux before the initramfs was linked in (build-id %s), "
                "whose later sections are at other addresses. Add vmlinux to KERNEL_IMAGETYPES "
                "to deploy the bundled one (vmlinux-${INITRAMFS_NAME}%s)"
                % (pn, bid, rec["build_id"], d.getVar("KERNEL_IMAGE_BIN_EXT") or ""))


def bundle_record_names(d):
    """(file, link or None) of the bundled kernel's deployed record, named as
    kernel.bbclass names the bundle: <type>-${INITRAMFS_NAME}.buildid."""
    itype = d.getVar("KERNEL_IMAGETYPE")
    name = "%s-%s.buildid" % (itype, d.getVar("INITRAMFS_NAME"))
    link_name = d.getVar("INITRAMFS_LINK_NAME")
    link = "%s-%s.buildid" % (itype, link_name) if link_name else None
    return name, (link if link != name else None)


def bundle_ids(d, deploy_dir, compile_id):
    """do_kernel_repro_verify's pairs for a bundle: the record's relinked
    build-id and each deployed bundled image; the compile the record says it
    was relinked from. Fatal when the record is missing."""
    pn = d.getVar("PN")
    name, link = bundle_record_names(d)
    path = os.path.join(deploy_dir, link or name)
    rec = read_record(d, path)
    if rec is None:
        _bb().fatal("kernel-repro: %s: the bundled kernel has no build-id fingerprint (%s); %s"
                    % (pn, path, rebuild_hint(pn)))
    source = rec.get("source", "")
    relinked_from = source[len(BUNDLE_SOURCE):] if source.startswith(BUNDLE_SOURCE) else None
    bundle = [("bundle record", rec["build_id"])]
    ext = d.getVar("KERNEL_IMAGE_BIN_EXT") or ""
    for itype in (d.getVar("KERNEL_IMAGETYPES") or "").split():
        image = os.path.join(deploy_dir, "%s-%s%s" % (itype, d.getVar("INITRAMFS_LINK_NAME") or d.getVar("INITRAMFS_NAME"), ext))
        if os.path.exists(image):
            bundle.append(("deployed " + os.path.basename(image), fp.read_build_id(image)))
    return ("bundle relinked from", relinked_from or "unknown"), bundle


@_lib_tracked
def check_deploy(d):
    """do_deploy prefunc: do_packagedata is done (kernel.bbclass orders deploy
    after it); if pkgdata came from sstate of another compile, stop before a
    mixed deploy object is created."""
    pkg_path = fp.pkgdata_path(d.getVar("PKGDATA_DIR"), d.getVar("PN"))
    pkg = fp.read_record(pkg_path)
    here = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    compare(d, [("deploy(compile)", here and here["build_id"]), ("pkgdata", pkg and pkg["build_id"])],
            restored_while_compiled(d, d.getVar("KERNEL_REPRO_BUILDID_FILE"), pkg_path))


@_lib_tracked
def verify(d):
    """do_kernel_repro_verify: deploy, pkgdata and every feed this build made
    or restored hold one build-id (cheap; built or restored alike)."""
    pn = d.getVar("PN")
    pkg = read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn))
    sub = d.getVar("KERNEL_DEPLOYSUBDIR") or ""
    dep = read_record(d, os.path.join(d.getVar("DEPLOY_DIR_IMAGE"), sub, d.getVar("KERNEL_IMAGETYPE") + ".buildid"))
    if pkg is None or dep is None:
        _bb().fatal("kernel-repro: %s: build-id fingerprint missing (pkgdata: %s, deploy: %s); %s"
                    % (pn, pkg is not None, dep is not None, rebuild_hint(pn)))
    ids = [("deploy", dep["build_id"]), ("pkgdata", pkg["build_id"])]
    restored = restored_while_compiled(
        d, d.getVar("KERNEL_REPRO_BUILDID_FILE"), fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn),
        os.path.join(d.getVar("DEPLOY_DIR_IMAGE"), sub, d.getVar("KERNEL_IMAGETYPE") + ".buildid"))
    # a feed object of another compile (left by `bitbake -c deploy`, or kept
    # by an image build that did not need it) is caught here
    for task in (d.getVar("KERNEL_REPRO_FEED_TASKS") or "").split():
        backend = task.rpartition("_")[2]
        path = feed_record(d, backend, d.getVar("DEPLOY_DIR_" + backend.upper()))
        feed = read_record(d, path)
        if feed is None:
            _bb().fatal("kernel-repro: %s: the %s feed has no build-id fingerprint (%s); %s"
                        % (pn, backend, path, rebuild_hint(pn)))
        ids.append(("%s feed" % backend, feed["build_id"]))
    if bundling(d) and "do_bundle_initramfs" in (d.getVar("__BBTASKS", False) or []):
        relinked_from, bundle = bundle_ids(d, os.path.join(d.getVar("DEPLOY_DIR_IMAGE"), sub), dep["build_id"])
        ids.append(relinked_from)
        compare(d, ids, restored)
        compare(d, bundle)
        return
    compare(d, ids, restored)


def _compile_hash(d):
    """The unihash of this kernel's do_compile in the running task's
    dependency data (every group member depends on it), or None."""
    pn = d.getVar("PN")
    for entry in (_unsigned(d, "BB_TASKDEPDATA", False) or {}).values():
        # pn, taskname, fn, deps, provides, taskhash, unihash (BitBake 2.8 .. master)
        if entry[0] == pn and entry[1] == "do_compile":
            return entry[6]
    return None


def _create_at(d, path):
    """OE-Core's own object creation (sstate_create_and_sign_package), at ``path``."""
    bb = _bb()
    pkg = d.getVar("SSTATE_PKG")
    d.setVar("SSTATE_PKG", path)
    try:
        bb.build.exec_func("sstate_create_and_sign_package", d, (d.getVar("SSTATE_BUILDDIR"),))
    finally:
        d.setVar("SSTATE_PKG", pkg)


def settle_group_member(d):
    """A kernel group member's object, with several builders sharing the
    cache: one compile per group (sstateshare.settle). False when this task
    is not one, or its object cannot tell compiles apart."""
    from . import sstateshare
    if not _bb().data.inherits_class("kernel", d) or \
            not _bb().utils.to_boolean(d.getVar("KERNEL_REPRO_SSTATE_SETTLE")):
        return False
    task = "do_" + (_unsigned(d, "BB_CURRENTTASK") or "")
    if task not in sg.parse_group(d.getVar("KERNEL_REPRO_SSTATE_GROUP")):
        return False
    rec = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    compile_hash = _compile_hash(d)
    if rec is None or not compile_hash:
        return False
    action = sstateshare.settle(_unsigned(d, "SSTATE_PKG"), rec["build_id"], compile_hash,
                                d.getVar("SSTATE_DIR"), d.getVar("PN"),
                                lambda path: _create_at(d, path), log=_bb().note)
    return action != "skip"


def replace_stale(d):
    """SSTATEPOSTCREATEFUNCS. A kernel group member: settled among the
    builders sharing the cache (settle_group_member). Any other object the
    hash check refused and marked stale (an image that held a kernel of
    another compile): OE-Core's create step kept it (it never overwrites);
    write the fresh one beside it and rename it into place (the .sig too),
    so a build sharing the cache sees the old object or the new one, never
    none. Best effort, as OE-Core's own cache writes: a read-only or
    foreign cache gets a warning, not a failed task."""
    bb = _bb()
    try:
        if settle_group_member(d):
            return
    except (OSError, KernelReproError) as e:
        bb.warn("kernel-repro: cannot settle the sstate object %s among the builders sharing "
                "the cache: %s" % (d.getVar("SSTATE_PKG"), e))
        return
    pkg = d.getVar("SSTATE_PKG")
    if not sg.is_marked_stale(pkg):
        return
    from . import sstateshare
    try:
        if os.path.exists(pkg):
            if not sstateshare.replace_object(pkg, lambda path: _create_at(d, path)):
                bb.warn("kernel-repro: could not create a fresh %s; the stale one stays marked" % pkg)
                return
            bb.note("kernel-repro: replaced sstate object %s (it came from another compile)" % pkg)
        err = sg.clear_stale(pkg, sg.stale_index(d.getVar("SSTATE_DIR")))
        if err:
            bb.warn("kernel-repro: cannot remove the stale mark %s" % err)
    except OSError as e:
        bb.warn("kernel-repro: cannot replace the stale sstate object %s: %s" % (pkg, e))


def clean_consumers(d):
    """do_clean postfunc of a kernel: the images that held it lose their
    rootfs and image stamps, so the next build looks at them again."""
    for image, gone in ig.invalidate_consumers(d.getVar("KERNEL_REPRO_CONSUMERS_DIR"), d.getVar("PN")).items():
        if gone:
            _bb().note("kernel-repro: %s: image %s will be checked again in its next build "
                       "(%d stamps removed)" % (d.getVar("PN"), image, len(gone)))


# --- image hooks ---------------------------------------------------------------

def rootfs_check(d):
    """ROOTFS_POSTPROCESS_COMMAND: the kernel files in the rootfs vs the
    kernel's pkgdata; on a match, the image's record of its kernel beside
    the image (IMGDEPLOYDIR: do_image_complete's output and sstate object)."""
    pn = (d.getVar("PREFERRED_PROVIDER_virtual/kernel") or "").strip()
    if not pn:
        return
    pkg = read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn))
    if pkg is None:
        return  # the kernel was not built with kernel-repro-sstate
    ids = [("pkgdata", pkg["build_id"])]
    rootfs = d.getVar("IMAGE_ROOTFS")
    # Only the preferred provider's files: a second kernel (another
    # KERNEL_PACKAGE_NAME) installs /boot files with its own release.
    release = fp.kernel_release(d.getVar("PKGDATA_DIR"), pn)
    for where, path in fp.rootfs_kernel_files(rootfs, d.getVar("KERNEL_IMAGETYPE"), release):
        try:
            ids.append(("rootfs " + where, fp.read_build_id(path)))
        except KernelReproError as e:
            _bb().warn("kernel-repro: cannot read the build-id of %s: %s" % (path, e))
    record = d.expand("${datadir}/kernel-repro/%s.buildid" % pn)
    installed = read_record(d, rootfs + record)
    if installed is not None:
        ids.append(("rootfs " + record, installed["build_id"]))
    # deploy vs pkgdata: do_kernel_repro_verify, which the image's do_build
    # depends on (the deploy of this build may not have happened yet here)
    try:
        bid = fp.check_pair(pn, ids, d.getVar("PN"))
    except fp.FingerprintMismatch as e:
        report(d, str(e))
        return
    outdir = d.getVar("IMGDEPLOYDIR")
    name = ig.record_name(d.getVar("IMAGE_NAME"))
    _write_public_record(os.path.join(outdir, name), bid, pn, source="image:" + d.getVar("PN"))
    link = d.getVar("IMAGE_LINK_NAME")
    if link and ig.record_name(link) != name:
        _replace_link(outdir, ig.record_name(link), name)


def image_verify(d):
    """do_kernel_repro_image_verify (every build of the image): the kernel it
    holds (its do_rootfs record) vs the kernel's pkgdata (kernel-dbg) and
    deploy records. On a mismatch the image is invalidated, so the same
    command, run again, rebuilds it from the current kernel."""
    bb = _bb()
    kpn = (d.getVar("PREFERRED_PROVIDER_virtual/kernel") or "").strip()
    image = d.getVar("PN")
    pkg = read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), kpn))
    if pkg is None:
        return  # not a kernel built with the layer (linux-dummy ...)
    ig.register_consumer(d.getVar("KERNEL_REPRO_CONSUMERS_DIR"), kpn, image, d.getVar("STAMP"))
    deploy_dir = d.getVar("DEPLOY_DIR_IMAGE")
    link = d.getVar("IMAGE_LINK_NAME")
    if not link:
        bb.note("kernel-repro: image %s: IMAGE_LINK_NAME is empty, the record of its kernel "
                "cannot be found; not checked" % image)
        return
    rec_path = os.path.join(deploy_dir, ig.record_name(link))
    rec = read_record(d, rec_path)
    if rec is None:
        bb.warn("kernel-repro: image %s has no record of the kernel it holds (%s): it was made "
                "before the layer was enabled, or without a rootfs; rebuild it to have it "
                "checked: bitbake -C rootfs %s" % (image, rec_path, image))
        return
    dep = read_record(d, os.path.join(deploy_dir, d.getVar("KERNEL_IMAGETYPE") + ".buildid"))
    ids = ig.image_ids(image, kpn, rec["build_id"], pkg["build_id"], dep and dep["build_id"],
                       "deploy " + d.getVar("KERNEL_IMAGETYPE"))
    try:
        ig.check_image(image, kpn, ids)
    except fp.FingerprintMismatch as e:
        invalidate_image(d)
        report(d, str(e))


def invalidate_image(d):
    """Remove the image's rootfs/image stamps and mark its sstate objects
    stale: the next build of it runs do_rootfs again and refuses the old
    objects. What it reads (BB_TASKDEPDATA, SSTATE_PKG) is set in the task's
    worker only: the class keeps those out of the signature."""
    bb = _bb()
    ig.remove_stamps(d.getVar("STAMP"))
    index = sg.stale_index(d.getVar("SSTATE_DIR"))
    wanted = set((d.getVar("SSTATETASKS") or "").split()) - {"do_populate_lic", "do_populate_lic_deploy"}
    for entry in (_unsigned(d, "BB_TASKDEPDATA", False) or {}).values():
        # pn, taskname, fn, deps, provides, taskhash, unihash (BitBake 2.8 .. master)
        if entry[0] != d.getVar("PN") or entry[1] not in wanted:
            continue
        local = bb.data.createCopy(d)
        local.setVar("BB_UNIHASH", entry[6])
        local.setVar("SSTATE_CURRTASK", entry[1][3:])
        obj = _unsigned(local, "SSTATE_PKG")
        if obj and os.path.exists(obj):
            err = sg.mark_stale(obj, index)
            if err:
                bb.warn("kernel-repro: cannot mark %s stale: %s" % (obj, err))
