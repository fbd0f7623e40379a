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
# 2. Stale objects: when a group task really runs, its existing local sstate
#    object (made by another compile, never overwritten by OE-Core) is
#    replaced by the fresh one.
# 3. Fingerprint: the vmlinux GNU build-id is recorded after do_compile,
#    deployed as ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_NAME}.buildid (+ link),
#    stored in pkgdata (${PKGDATA_DIR}/kernel-repro/${PN}.buildid) and
#    compared where outputs meet: packaged vmlinux vs compile (do_package),
#    deploy vs pkgdata (do_deploy prefunc, do_kernel_repro_verify), rootfs
#    kernel vs pkgdata/deploy (image do_rootfs). Logic:
#    lib/kernelrepro/fingerprint.py.

# Tasks whose sstate objects a kernel recipe restores together or not at all.
# Global (read by the BitBake server); extend with +=, e.g. for an extra
# deploy task of a BSP layer. See DEFAULT_GROUP in sstategroup.py for why.
KERNEL_REPRO_SSTATE_GROUP ??= "do_deploy do_package do_packagedata do_package_write_rpm do_package_write_ipk do_package_write_deb do_create_spdx do_create_package_spdx do_create_runtime_spdx"
KERNEL_REPRO_SSTATE_GROUP[doc] = "Kernel tasks whose sstate objects are restored all together or not at all."

# "1" replaces an existing local sstate object of a group task that really
# ran (the object came from another compile). "0" keeps OE-Core's behaviour.
KERNEL_REPRO_SSTATE_REPLACE_STALE ??= "1"
KERNEL_REPRO_SSTATE_REPLACE_STALE[doc] = "Replace an existing local sstate object when a kernel group task really runs."

# Written by the hash check wrapper: the kernel objects it refused to restore
# in the current build (their tasks then really run and replace them).
KERNEL_REPRO_SSTATE_DROPPED ?= "${TMPDIR}/kernel-repro-sstate-dropped"

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
    return kernelrepro.sstategroup.checkhashes_with_groups(
        orig, sq_data, d, bb.parse.siggen, siginfo=siginfo,
        currentcount=currentcount, summary=summary, log=bb.note,
        record=d.getVar("KERNEL_REPRO_SSTATE_DROPPED"), **kwargs)

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
    if bb.utils.to_boolean(d.getVar("KERNEL_REPRO_SSTATE_REPLACE_STALE")):
        d.appendVar("SSTATECREATEFUNCS", " kernel_repro_sstate_replace_stale")
        # it only replaces cache objects, outputs do not depend on it: keep
        # it out of the signatures of all the kernel's sstate tasks
        d.appendVarFlag("SSTATECREATEFUNCS", "vardepvalueexclude", "| kernel_repro_sstate_replace_stale")
        d.appendVarFlag("SSTATECREATEFUNCS", "vardepsexclude", " kernel_repro_sstate_replace_stale")
    bb.build.addtask("do_kernel_repro_verify", "do_build", "do_deploy do_packagedata", d)
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
    fp.write_record(fp.pkgdata_path(d.getVar("PKGDESTWORK"), pn), rec["build_id"], pn,
                    source=rec.get("source", ""))
}

# do_deploy postfunc (see __anonymous): the fingerprint next to the image,
# ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_NAME}.buildid, with the links
# ${KERNEL_IMAGETYPE}.buildid and ${KERNEL_IMAGETYPE}-${KERNEL_IMAGE_LINK_NAME}.buildid.
python kernel_repro_deploy_fingerprint () {
    import os, shutil
    import kernelrepro.fingerprint as fp
    src = d.getVar("KERNEL_REPRO_BUILDID_FILE")
    if not os.path.exists(src):
        return
    itype, name = d.getVar("KERNEL_IMAGETYPE"), d.getVar("KERNEL_IMAGE_NAME")
    main, plain_link = fp.deploy_names(itype, name)
    machine_link = fp.deploy_names(itype, name, d.getVar("KERNEL_IMAGE_LINK_NAME"))[1]
    deploydir = d.getVar("DEPLOYDIR")
    shutil.copyfile(src, os.path.join(deploydir, main))
    os.chmod(os.path.join(deploydir, main), 0o644)
    for link in {plain_link, machine_link} - {None}:
        path = os.path.join(deploydir, link)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(main, path)
}

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
    import kernelrepro.fingerprint as fp
    pkg = fp.read_record(fp.pkgdata_path(d.getVar("PKGDATA_DIR"), d.getVar("PN")))
    dep = fp.read_record(d.expand("${DEPLOY_DIR_IMAGE}/${KERNEL_IMAGETYPE}.buildid"))
    if pkg is None or dep is None:
        bb.fatal("kernel-repro: %s: build-id fingerprint missing (pkgdata: %s, deploy: %s); "
                 "rebuild with: bitbake -c cleansstate %s && bitbake %s"
                 % (d.getVar("PN"), pkg is not None, dep is not None, d.getVar("PN"), d.getVar("PN")))
    kernel_repro_compare(d, [("deploy", dep["build_id"]), ("pkgdata", pkg["build_id"])])
}
do_kernel_repro_verify[doc] = "Check that the deployed kernel and the packaged vmlinux share one GNU build-id"
do_kernel_repro_verify[dirs] = "${T}"

# SSTATECREATEFUNCS hook: a group task that really ran because the hash
# check refused its (found) object replaces that object, which came from
# another compile (OE-Core never overwrites an existing object). A member that
# runs for another reason (failed setscene, unavailable hard dependency) keeps
# the object matching its restored siblings.
python kernel_repro_sstate_replace_stale () {
    import os
    import kernelrepro.sstategroup
    task = "do_" + (d.getVar("BB_CURRENTTASK") or "")
    tid = (d.getVar("BB_FILENAME") or "") + ":" + task
    if not kernelrepro.sstategroup.was_dropped(d.getVar("KERNEL_REPRO_SSTATE_DROPPED"), tid):
        return
    pkg = d.getVar("SSTATE_PKG")
    for path in (pkg, pkg + ".sig"):
        if os.path.lexists(path):
            bb.note("kernel-repro: replacing sstate object %s made by another compile" % path)
            os.unlink(path)
}

# --- images: the kernel in the rootfs vs pkgdata (and deploy) --------------
# Excluded from signatures so that images keep theirs.
ROOTFS_POSTPROCESS_COMMAND += "kernel_repro_rootfs_check"
ROOTFS_POSTPROCESS_COMMAND[vardepvalueexclude] .= "| kernel_repro_rootfs_check"
ROOTFS_POSTPROCESS_COMMAND[vardepsexclude] += "kernel_repro_rootfs_check"

python kernel_repro_rootfs_check () {
    import glob, os
    import kernelrepro.fingerprint as fp
    from kernelrepro.errors import KernelReproError
    pn = (d.getVar("PREFERRED_PROVIDER_virtual/kernel") or "").strip()
    if not pn:
        return
    pkg = fp.read_record(fp.pkgdata_path(d.getVar("PKGDATA_DIR"), pn))
    if pkg is None:
        return  # the kernel was not built with kernel-repro-sstate
    ids = [("pkgdata", pkg["build_id"])]
    rootfs = d.getVar("IMAGE_ROOTFS")
    for pattern in ("/boot/vmlinux-*", "/boot/%s-*" % d.getVar("KERNEL_IMAGETYPE")):
        for path in sorted(glob.glob(rootfs + pattern)):
            if os.path.islink(path):
                continue
            try:
                ids.append(("rootfs " + path[len(rootfs):], fp.read_build_id(path)))
            except KernelReproError as e:
                bb.warn("kernel-repro: cannot read the build-id of %s: %s" % (path, e))
    dep = fp.read_record(d.expand("${DEPLOY_DIR_IMAGE}/${KERNEL_IMAGETYPE}.buildid"))
    # The deploy of this build may not have happened yet; compare it only
    # when it was made from the same compile inputs as pkgdata.
    if dep is not None and dep.get("source") == pkg.get("source"):
        ids.append(("deploy", dep["build_id"]))
    try:
        fp.check_pair(pn, ids, d.getVar("PN"))
    except fp.FingerprintMismatch as e:
        kernel_repro_fail(d, str(e))
}
