# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# kernel-repro-sstate: one sstate signature for a kernel's binary-carrying
# tasks, and a build-id fingerprint that catches what the cache cannot.
#
# Inherited globally (kernel-repro.bbclass inherits it). Acts on recipes
# that inherit "kernel" only; other recipes' task signatures are unchanged.
#
# 1. Group restoration: BB_HASHCHECK_FUNCTION wraps OE-Core's
#    sstate_checkhashes; a kernel's group (KERNEL_REPRO_SSTATE_GROUP) is
#    restored from sstate all together or not at all, siblings missing from
#    BitBake's (partial) query are looked up too. Logic:
#    lib/kernelrepro/sstategroup.py.
# 2. Stale objects: the found local objects of a group that is not restored
#    are marked stale at hash-check time (every build sharing the cache then
#    takes them as missing); when their task really runs, the fresh object
#    replaces the old one atomically (OE-Core never overwrites an object).
# 3. Fingerprint: the vmlinux GNU build-id is recorded after do_compile,
#    deployed as ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_NAME}.buildid (+ link),
#    stored in pkgdata (${PKGDATA_DIR}/kernel-repro/${PN}.buildid) and
#    compared where outputs meet: packaged vmlinux vs compile (do_package),
#    deploy vs pkgdata (do_deploy prefunc, do_kernel_repro_verify, which
#    every image's do_build depends on), rootfs kernel vs pkgdata (image
#    do_rootfs). Logic: lib/kernelrepro/fingerprint.py.

# Tasks whose sstate objects a kernel recipe restores together or not at all
# (see DEFAULT_GROUP in lib/kernelrepro/sstategroup.py for why these).
# Global (read by the BitBake server). The default is prepended, so a
# local.conf or machine conf can extend the group with += or :append (both
# are read before this INHERIT-ed class) and shrink it with :remove, e.g.
#   KERNEL_REPRO_SSTATE_GROUP += "do_deploy_fitimage"
KERNEL_REPRO_SSTATE_GROUP_DEFAULT = "do_deploy do_package do_packagedata do_package_write_rpm do_package_write_ipk do_package_write_deb do_create_spdx do_create_package_spdx do_create_runtime_spdx"
KERNEL_REPRO_SSTATE_GROUP ??= ""
KERNEL_REPRO_SSTATE_GROUP:prepend = "${KERNEL_REPRO_SSTATE_GROUP_DEFAULT} "
KERNEL_REPRO_SSTATE_GROUP[doc] = "Kernel tasks whose sstate objects are restored all together or not at all (the default plus what += / :append add)."

# "1": refused local objects are marked stale and replaced by the fresh
# object when their task has run. "0" keeps OE-Core's behaviour (objects
# are never replaced; the fingerprint checks still stop a mixed restore).
KERNEL_REPRO_SSTATE_REPLACE_STALE ??= "1"
KERNEL_REPRO_SSTATE_REPLACE_STALE[doc] = "Mark refused local sstate objects of a kernel group stale and replace them when their task runs."

# "1": every image's do_build depends on the kernel's do_kernel_repro_verify
# (deploy vs pkgdata), since images use virtual/kernel:do_deploy, never the
# kernel's do_build.
KERNEL_REPRO_IMAGE_VERIFY ??= "1"
KERNEL_REPRO_IMAGE_VERIFY[doc] = "Make image builds run the kernel's do_kernel_repro_verify."

# The target named in the fix hint of a fingerprint mismatch error (a
# command users can paste: no placeholder). Empty: the kernel recipe itself;
# the image-time check names the image being built.
KERNEL_REPRO_FIX_TARGET ??= ""

# BB_HASHCHECK_FUNCTION is switched to the wrapper once the configuration is
# parsed: sstate.bbclass assigns it with "=" and may be inherited after this
# class (local.conf's INHERIT comes before INHERIT_DISTRO), so an assignment
# here could be overwritten. The wrapped function is kept in
# KERNEL_REPRO_SSTATE_WRAPPED. Neither variable is read by any task.
addhandler kernel_repro_sstate_config
kernel_repro_sstate_config[eventmask] = "bb.event.ConfigParsed"
python kernel_repro_sstate_config () {
    current = e.data.getVar("BB_HASHCHECK_FUNCTION")
    if current and current != "kernel_repro_sstate_checkhashes":
        e.data.setVar("KERNEL_REPRO_SSTATE_WRAPPED", current)
        e.data.setVar("BB_HASHCHECK_FUNCTION", "kernel_repro_sstate_checkhashes")
}

def kernel_repro_sstate_checkhashes(sq_data, d, siginfo=False, currentcount=0, summary=True, **kwargs):
    import kernelrepro.sstategroup
    name = d.getVar("KERNEL_REPRO_SSTATE_WRAPPED") or "sstate_checkhashes"
    if name == "kernel_repro_sstate_checkhashes":
        name = "sstate_checkhashes"
    orig = bb.utils.better_eval(name, {})
    local_path = None
    if bb.utils.to_boolean(d.getVar("KERNEL_REPRO_SSTATE_REPLACE_STALE")):
        local_path = kernel_repro_sstate_local_path(d)
    enforce = bb.utils.to_boolean(d.getVar("BB_SETSCENE_ENFORCE"))
    return kernelrepro.sstategroup.checkhashes_with_groups(
        orig, sq_data, d, bb.parse.siggen, siginfo=siginfo,
        currentcount=currentcount, summary=summary,
        log=bb.warn if enforce else bb.note, local_path=local_path, plain=bb.plain,
        index_dir=local_path and kernelrepro.sstategroup.stale_index(d.getVar("SSTATE_DIR")), **kwargs)

# tid -> its object's path in the local SSTATE_DIR, exactly as OE-Core's
# sstate_checkhashes computes it (getsstatefile there).
def kernel_repro_sstate_local_path(d):
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

# --- kernel recipes only ---------------------------------------------------

python __anonymous () {
    if not bb.data.inherits_class("kernel", d):
        return
    d.appendVarFlag("do_compile", "postfuncs", " kernel_repro_record_buildid")
    d.appendVar("PACKAGEFUNCS", " kernel_repro_pkgdata_fingerprint")
    d.appendVarFlag("do_deploy", "prefuncs", " kernel_repro_check_deploy")
    # A postfunc (python or shell do_deploy alike) that must run before
    # sstate_task_postfunc captures DEPLOYDIR, whichever class order ran first.
    post = (d.getVarFlag("do_deploy", "postfuncs") or "").split()
    at = post.index("sstate_task_postfunc") if "sstate_task_postfunc" in post else len(post)
    post.insert(at, "kernel_repro_deploy_fingerprint")
    d.setVarFlag("do_deploy", "postfuncs", " ".join(post))
    # the device gets the compile's build-id record: ${KERNEL_PACKAGE_NAME}-buildid
    # (/usr/share/kernel-repro/${PN}.buildid, what `kernel-repro running` and
    # the boot-time check of the kernel-repro recipe compare /sys/kernel/notes with)
    d.appendVarFlag("do_install", "postfuncs", " kernel_repro_install_record")
    pkg = d.expand("${KERNEL_PACKAGE_NAME}-buildid")
    d.prependVar("PACKAGES", pkg + " ")
    d.setVar("FILES:" + pkg, d.expand("${datadir}/kernel-repro"))
    d.setVar("SUMMARY:" + pkg, "GNU build-id of the kernel this build compiled (kernel-repro)")
    # the package feeds carry the build-id of the vmlinux they packaged
    tasks = d.getVar("__BBTASKS", False) or []
    feeds = [t for t in ("do_package_write_rpm", "do_package_write_ipk", "do_package_write_deb") if t in tasks]
    d.setVar("KERNEL_REPRO_FEED_TASKS", " ".join(feeds))
    for task in feeds:
        post = (d.getVarFlag(task, "postfuncs") or "").split()
        at = post.index("sstate_task_postfunc") if "sstate_task_postfunc" in post else len(post)
        post.insert(at, "kernel_repro_feed_fingerprint")
        d.setVarFlag(task, "postfuncs", " ".join(post))
    bb.build.addtask("do_kernel_repro_verify", "do_build", " ".join(["do_deploy", "do_packagedata"] + feeds), d)
    # cleaning the kernel invalidates the images that hold it (imageguard)
    d.appendVarFlag("do_clean", "postfuncs", " kernel_repro_clean_consumers")
}

# Every recipe's sstate objects (a kernel group member, or an image that
# held a kernel of another compile) are replaced when marked stale: after
# sstate_report_unihash (SSTATE_PKG final) and OE-Core's own create step
# (which keeps an existing object). It only replaces cache objects, outputs
# do not depend on it: it is kept out of every task signature.
# (With KERNEL_REPRO_SSTATE_REPLACE_STALE = "0" nothing is marked, so it
# does nothing.) An :append, not +=: sstate.bbclass may be inherited later.
SSTATEPOSTCREATEFUNCS:append = " kernel_repro_sstate_replace_stale"
SSTATEPOSTCREATEFUNCS[vardepvalueexclude] .= "| kernel_repro_sstate_replace_stale"
SSTATEPOSTCREATEFUNCS[vardepsexclude] += "kernel_repro_sstate_replace_stale"

# Images: the deploy-vs-pkgdata check runs whenever an image is built (an
# image depends on virtual/kernel:do_deploy, not on the kernel's do_build).
# Non-kernel providers of virtual/kernel (linux-dummy) get a no-op task of
# the same name, so the dependency always resolves.
python __anonymous () {
    if bb.data.inherits_class("kernel", d):
        return
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
}

KERNEL_REPRO_BUILDID_FILE = "${B}/kernel-repro.buildid"

# After the link: the build-id of ${B}/vmlinux, and the do_compile hash as
# the identity of the compile's inputs.
python kernel_repro_record_buildid () {
    import kernelrepro.fingerprint as fp
    from kernelrepro.errors import KernelReproError
    import os
    vmlinux = d.expand("${B}/vmlinux")
    if not os.path.exists(vmlinux):
        bb.note("kernel-repro: %s: no vmlinux in ${B}, no build-id fingerprint" % d.getVar("PN"))
        return
    try:
        bid = fp.read_build_id(vmlinux)
    except KernelReproError as e:
        bb.fatal("kernel-repro: %s: cannot record the kernel build-id: %s" % (d.getVar("PN"), e))
    fp.write_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"), bid, d.getVar("PN"),
                    source="compile:" + (d.getVar("BB_TASKHASH") or ""))
}
kernel_repro_record_buildid[vardeps] += "KERNEL_REPRO_LIB_SHA256"
kernel_repro_record_buildid[vardepsexclude] += "BB_TASKHASH"

def kernel_repro_fail(d, msg):
    # "kernel-repro-buildid" in WARN_QA downgrades the error to a warning.
    if "kernel-repro-buildid" in (d.getVar("WARN_QA") or "").split():
        bb.warn(msg)
    else:
        bb.fatal(msg)

# do_package: the packaged vmlinux must be the compiled one; record it in pkgdata.
python kernel_repro_pkgdata_fingerprint () {
    import glob, os
    import kernelrepro.fingerprint as fp
    pn = d.getVar("PN")
    rec = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    ids = [("compile", rec and rec["build_id"])]
    for path in sorted(glob.glob(d.expand("${PKGD}/${KERNEL_IMAGEDEST}/vmlinux-*"))):
        ids.append(("packaged " + os.path.basename(path), fp.read_build_id(path)))
    if rec is None and len(ids) > 1:
        bb.fatal("kernel-repro: %s: a vmlinux is packaged but %s is missing: do_compile ran "
                 "without kernel-repro-sstate; bitbake -c cleansstate %s" %
                 (pn, d.getVar("KERNEL_REPRO_BUILDID_FILE"), pn))
    if rec is None:
        return
    kernel_repro_compare(d, ids)
    # the build-id alone: outputs must not change with the compile's task
    # hash, or hash equivalence could never match do_package*'s outhash
    fp.write_record(fp.pkgdata_path(d.getVar("PKGDESTWORK"), pn), rec["build_id"], pn)
}

# do_deploy postfunc (see __anonymous): the fingerprint next to the image,
# ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_NAME}.buildid, with the links
# ${KERNEL_IMAGETYPE}.buildid and ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_LINK_NAME}.buildid.
python kernel_repro_deploy_fingerprint () {
    import os
    import kernelrepro.fingerprint as fp
    rec = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    if rec is None:
        return
    itype, name = d.getVar("KERNEL_IMAGETYPE"), d.getVar("KERNEL_IMAGE_NAME")
    main, plain_link = fp.deploy_names(itype, name)
    machine_link = fp.deploy_names(itype, name, d.getVar("KERNEL_IMAGE_LINK_NAME"))[1]
    # a second kernel deploys into its own subdirectory (kernel.bbclass)
    deploydir = os.path.join(d.getVar("DEPLOYDIR"), d.getVar("KERNEL_DEPLOYSUBDIR") or "")
    # the build-id alone (no task hash: see kernel_repro_pkgdata_fingerprint)
    fp.write_record(os.path.join(deploydir, main), rec["build_id"], d.getVar("PN"))
    os.chmod(os.path.join(deploydir, main), 0o644)
    for link in {plain_link, machine_link} - {None}:
        path = os.path.join(deploydir, link)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(main, path)
}

# do_install postfunc: the record for the device, build-id only.
python kernel_repro_install_record () {
    import os
    import kernelrepro.fingerprint as fp
    rec = kernel_repro_read_record(d, d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    if rec is None:
        return
    fp.write_record(d.expand("${D}${datadir}/kernel-repro/${PN}.buildid"), rec["build_id"], d.getVar("PN"))
    os.chmod(d.expand("${D}${datadir}/kernel-repro/${PN}.buildid"), 0o644)
}

# do_package_write_{rpm,ipk,deb} postfunc: the vmlinux going into the feed
# must be the compiled one; its build-id is recorded inside the task's
# output (${PKGWRITEDIR<X>}/<PACKAGE_ARCH>/kernel-repro/<PN>.buildid), so the
# feed's sstate object carries it and do_kernel_repro_verify can compare a
# restored feed with deploy and pkgdata (package indexers only read *.rpm,
# *.ipk, *.deb).
python kernel_repro_feed_fingerprint () {
    import glob, os
    import kernelrepro.fingerprint as fp
    pn = d.getVar("PN")
    backend = (d.getVar("BB_CURRENTTASK") or "").rpartition("_")[2]
    outdir = d.getVar("PKGWRITEDIR" + backend.upper())
    if not outdir:
        return
    files = sorted(p for p in glob.glob(d.expand("${PKGDEST}/*/${KERNEL_IMAGEDEST}/vmlinux-*"))
                   if os.path.isfile(p) and not os.path.islink(p))
    if not files:
        return
    rec = kernel_repro_read_record(d, d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    pkg = kernel_repro_read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn))
    ids = [("%s feed %s" % (backend, os.path.relpath(p, d.getVar("PKGDEST"))), fp.read_build_id(p)) for p in files]
    ids += [("compile", rec and rec["build_id"]), ("pkgdata", pkg and pkg["build_id"])]
    kernel_repro_compare(d, ids)
    fp.write_record(kernel_repro_feed_record(d, backend, outdir), ids[0][1], pn)
}

def kernel_repro_feed_record(d, backend, top):
    import os
    return os.path.join(top, d.getVar("PACKAGE_ARCH"), "kernel-repro", d.getVar("PN") + ".buildid")

# A fingerprint file, or None when absent; a corrupt one fails the task
# with one line (never a traceback).
def kernel_repro_read_record(d, path):
    import kernelrepro.fingerprint as fp
    from kernelrepro.errors import KernelReproError
    try:
        return fp.read_record(path)
    except (KernelReproError, OSError, UnicodeDecodeError) as e:
        bb.fatal("kernel-repro: %s: unreadable build-id fingerprint %s (%s); rebuild with: "
                 "bitbake -c cleansstate %s && bitbake %s"
                 % (d.getVar("PN"), path, e, d.getVar("PN"), d.getVar("PN")))

def kernel_repro_compare(d, ids):
    import kernelrepro.fingerprint as fp
    try:
        fp.check_pair(d.getVar("PN"), ids, d.getVar("KERNEL_REPRO_FIX_TARGET"))
    except fp.FingerprintMismatch as e:
        kernel_repro_fail(d, str(e))

# Before a real do_deploy: do_packagedata is done (kernel.bbclass orders
# deploy after it); if pkgdata came from sstate of another compile, stop
# before a mixed deploy object is created.
python kernel_repro_check_deploy () {
    import kernelrepro.fingerprint as fp
    pkg = fp.read_record(fp.pkgdata_path(d.getVar("PKGDATA_DIR"), d.getVar("PN")))
    here = fp.read_record(d.getVar("KERNEL_REPRO_BUILDID_FILE"))
    kernel_repro_compare(d, [("deploy(compile)", here and here["build_id"]),
                             ("pkgdata", pkg and pkg["build_id"])])
}

# Cheap final check, whether the outputs were built or restored.
python do_kernel_repro_verify () {
    import os
    import kernelrepro.fingerprint as fp
    pkg = kernel_repro_read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), d.getVar("PN")))
    sub = d.getVar("KERNEL_DEPLOYSUBDIR") or ""
    dep = kernel_repro_read_record(d, os.path.join(d.getVar("DEPLOY_DIR_IMAGE"), sub,
                                                   d.getVar("KERNEL_IMAGETYPE") + ".buildid"))
    if pkg is None or dep is None:
        bb.fatal("kernel-repro: %s: build-id fingerprint missing (pkgdata: %s, deploy: %s); "
                 "rebuild with: bitbake -c cleansstate %s && bitbake %s"
                 % (d.getVar("PN"), pkg is not None, dep is not None, d.getVar("PN"), d.getVar("PN")))
    ids = [("deploy", dep["build_id"]), ("pkgdata", pkg["build_id"])]
    # the package feeds this build made or restored (a feed object of another
    # compile, e.g. left by `bitbake -c deploy` or kept by an image build
    # that did not need it, is caught here). KERNEL_REPRO_FEED_TASKS, a
    # string set at parse time: a list-valued varflag such as [deps] read
    # here would land in the recipe's signature data, which BitBake 2.8
    # (scarthgap) cannot pickle ("unhashable type: 'list'" in
    # SiggenRecipeInfo._save: every parse with the layer enabled failed).
    for task in (d.getVar("KERNEL_REPRO_FEED_TASKS") or "").split():
        backend = task.rpartition("_")[2]
        top = d.getVar("DEPLOY_DIR_" + backend.upper())
        path = kernel_repro_feed_record(d, backend, top)
        feed = kernel_repro_read_record(d, path)
        if feed is None:
            bb.fatal("kernel-repro: %s: the %s feed has no build-id fingerprint (%s); rebuild with: "
                     "bitbake -c cleansstate %s && bitbake %s"
                     % (d.getVar("PN"), backend, path, d.getVar("PN"), d.getVar("PN")))
        ids.append(("%s feed" % backend, feed["build_id"]))
    kernel_repro_compare(d, ids)
}
do_kernel_repro_verify[doc] = "Check that the deployed kernel and the packaged vmlinux share one GNU build-id"
do_kernel_repro_verify[dirs] = "${T}"

# SSTATEPOSTCREATEFUNCS hook of a kernel's sstate tasks: when the hash
# check refused this object (made by another compile) and marked it stale,
# OE-Core's create step kept it (it never overwrites); write the fresh one
# beside it and rename it into place (the .sig too, when signing), so a
# build sharing the cache sees the old object or the new one, never none.
# Best effort, as OE-Core's own cache writes: a read-only or foreign cache
# gets a warning, not a failed kernel task.
python kernel_repro_sstate_replace_stale () {
    import os
    import kernelrepro.sstategroup as sg
    pkg = d.getVar("SSTATE_PKG")
    if not sg.is_marked_stale(pkg):
        return
    tmp = os.path.join(os.path.dirname(pkg), ".kernel-repro-%d-%s" % (os.getpid(), os.path.basename(pkg)))
    try:
        if os.path.exists(pkg):
            d.setVar("SSTATE_PKG", tmp)
            try:
                bb.build.exec_func("sstate_create_and_sign_package", d, (d.getVar("SSTATE_BUILDDIR"),))
            finally:
                d.setVar("SSTATE_PKG", pkg)
            if not os.path.exists(tmp):
                bb.warn("kernel-repro: could not create a fresh %s; the stale one stays marked" % pkg)
                return
            os.replace(tmp, pkg)
            if os.path.exists(tmp + ".sig"):
                os.replace(tmp + ".sig", pkg + ".sig")
            bb.note("kernel-repro: replaced sstate object %s (it came from another compile)" % pkg)
        err = sg.clear_stale(pkg, sg.stale_index(d.getVar("SSTATE_DIR")))
        if err:
            bb.warn("kernel-repro: cannot remove the stale mark %s" % err)
    except OSError as e:
        bb.warn("kernel-repro: cannot replace the stale sstate object %s: %s" % (pkg, e))
    finally:
        for p in (tmp, tmp + ".sig"):
            if os.path.lexists(p):
                try:
                    os.unlink(p)
                except OSError:
                    pass
}

# --- images: the kernel in the rootfs vs pkgdata (and deploy) --------------
# Excluded from signatures so that images keep theirs.
ROOTFS_POSTPROCESS_COMMAND += "kernel_repro_rootfs_check"
ROOTFS_POSTPROCESS_COMMAND[vardepvalueexclude] .= "| kernel_repro_rootfs_check"
ROOTFS_POSTPROCESS_COMMAND[vardepsexclude] += "kernel_repro_rootfs_check"

python kernel_repro_rootfs_check () {
    import kernelrepro.fingerprint as fp
    from kernelrepro.errors import KernelReproError
    pn = (d.getVar("PREFERRED_PROVIDER_virtual/kernel") or "").strip()
    if not pn:
        return
    pkg = kernel_repro_read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn))
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
            bb.warn("kernel-repro: cannot read the build-id of %s: %s" % (path, e))
    record = d.expand("${datadir}/kernel-repro/%s.buildid" % pn)
    installed = kernel_repro_read_record(d, rootfs + record)
    if installed is not None:
        ids.append(("rootfs " + record, installed["build_id"]))
    # deploy vs pkgdata: do_kernel_repro_verify, which the image's do_build
    # depends on (the deploy of this build may not have happened yet here)
    try:
        bid = fp.check_pair(pn, ids, d.getVar("PN"))
    except fp.FingerprintMismatch as e:
        kernel_repro_fail(d, str(e))
        return
    # the record of the kernel this image holds, beside the image (it goes
    # into do_image_complete's output and sstate object, IMGDEPLOYDIR)
    kernel_repro_image_record(d, bid, pn)
}

def kernel_repro_image_record(d, bid, pn):
    import os
    import kernelrepro.fingerprint as fp
    import kernelrepro.imageguard as ig
    outdir = d.getVar("IMGDEPLOYDIR")
    name = ig.record_name(d.getVar("IMAGE_NAME"))
    fp.write_record(os.path.join(outdir, name), bid, pn, source="image:" + d.getVar("PN"))
    os.chmod(os.path.join(outdir, name), 0o644)
    link = d.getVar("IMAGE_LINK_NAME")
    if link and ig.record_name(link) != name:
        path = os.path.join(outdir, ig.record_name(link))
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(name, path)

# The image's own check, in every build of the image (nostamp; see the
# second __anonymous above): the kernel it holds (its do_rootfs record) vs
# the kernel's pkgdata (kernel-dbg) and deploy records. On a mismatch the
# image is invalidated (stamps removed, its sstate objects marked stale) so
# that the same command, run again, rebuilds it from the current kernel.
python do_kernel_repro_image_verify () {
    import os
    import kernelrepro.fingerprint as fp
    import kernelrepro.imageguard as ig
    kpn = (d.getVar("PREFERRED_PROVIDER_virtual/kernel") or "").strip()
    image = d.getVar("PN")
    pkg = kernel_repro_read_record(d, fp.pkgdata_path(d.getVar("PKGDATA_DIR"), kpn))
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
    rec = kernel_repro_read_record(d, rec_path)
    if rec is None:
        bb.warn("kernel-repro: image %s has no record of the kernel it holds (%s): it was made "
                "before the layer was enabled, or without a rootfs; rebuild it to have it "
                "checked: bitbake -C rootfs %s" % (image, rec_path, image))
        return
    dep = kernel_repro_read_record(d, os.path.join(deploy_dir, d.getVar("KERNEL_IMAGETYPE") + ".buildid"))
    ids = ig.image_ids(image, kpn, rec["build_id"], pkg["build_id"], dep and dep["build_id"],
                       "deploy " + d.getVar("KERNEL_IMAGETYPE"))
    try:
        ig.check_image(image, kpn, ids)
    except fp.FingerprintMismatch as e:
        kernel_repro_invalidate_image(d)
        kernel_repro_fail(d, str(e))
}
do_kernel_repro_image_verify[doc] = "Check that the kernel in this image is the one the kernel-dbg and deploy records describe"
do_kernel_repro_image_verify[dirs] = "${T}"

# Where images register as holders of a kernel (imageguard.register_consumer).
KERNEL_REPRO_CONSUMERS_DIR = "${STAMPS_DIR}/kernel-repro-consumers"

# Remove the image's rootfs/image stamps and mark its sstate objects stale:
# the next build of it runs do_rootfs again and refuses the old objects.
def kernel_repro_invalidate_image(d):
    import kernelrepro.imageguard as ig
    import kernelrepro.sstategroup as sg
    ig.remove_stamps(d.getVar("STAMP"))
    index = sg.stale_index(d.getVar("SSTATE_DIR"))
    wanted = set((d.getVar("SSTATETASKS") or "").split()) - {"do_populate_lic", "do_populate_lic_deploy"}
    for entry in (d.getVar("BB_TASKDEPDATA", False) or {}).values():
        # pn, taskname, fn, deps, provides, taskhash, unihash (BitBake 2.8 .. master)
        if entry[0] != d.getVar("PN") or entry[1] not in wanted:
            continue
        local = bb.data.createCopy(d)
        local.setVar("BB_UNIHASH", entry[6])
        local.setVar("SSTATE_CURRTASK", entry[1][3:])
        obj = local.getVar("SSTATE_PKG")
        if obj and os.path.exists(obj):
            err = sg.mark_stale(obj, index)
            if err:
                bb.warn("kernel-repro: cannot mark %s stale: %s" % (obj, err))
# what it reads is set in the task's worker only (the basehash of the
# verify task would change between the parse and the worker's reparse)
kernel_repro_invalidate_image[vardepsexclude] = "BB_TASKDEPDATA SSTATE_PKG SSTATE_CURRTASK"

# do_clean postfunc of a kernel: the images that held it lose their rootfs
# and image stamps, so the next build looks at them (and, if the kernel is
# compiled again, rebuilds them: sstategroup refuses consumers' objects).
python kernel_repro_clean_consumers () {
    import kernelrepro.imageguard as ig
    for image, gone in ig.invalidate_consumers(d.getVar("KERNEL_REPRO_CONSUMERS_DIR"), d.getVar("PN")).items():
        if gone:
            bb.note("kernel-repro: %s: image %s will be checked again in its next build "
                    "(%d stamps removed)" % (d.getVar("PN"), image, len(gone)))
}
