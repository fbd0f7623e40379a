# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# kernel-repro-sstate: one sstate signature for a kernel's binary-carrying
# tasks, and a build-id fingerprint that catches what the cache cannot.
# Inherited by kernel-repro.bbclass. Wiring only: every hook below is one
# call into lib/kernelrepro/sstatetasks.py (docs/layer.md explains them).
#
# 1. Group restoration: BB_HASHCHECK_FUNCTION wraps OE-Core's
#    sstate_checkhashes; a kernel's group is restored from sstate all
#    together or not at all (sstategroup.py); refused local objects are
#    marked stale and replaced when their task has run.
# 2. Fingerprint: the vmlinux build-id recorded after do_compile and
#    compared where outputs meet: do_package, do_deploy, the feeds,
#    do_kernel_repro_verify (which every image's do_build depends on), the
#    image's rootfs and do_kernel_repro_image_verify (fingerprint.py,
#    imageguard.py). A mismatch is the QA check kernel-repro-buildid.
# Recipes that inherit neither "kernel" nor "image" keep their signatures.

# Tasks whose sstate objects a kernel recipe restores together or not at
# all: sstategroup.DEFAULT_GROUP (where the choice is explained) plus what
# += / :append add, minus :remove, e.g.
#   KERNEL_REPRO_SSTATE_GROUP += "do_deploy_fitimage"
KERNEL_REPRO_SSTATE_GROUP_DEFAULT = "${@' '.join(kernelrepro.sstategroup.DEFAULT_GROUP)}"
KERNEL_REPRO_SSTATE_GROUP_DEFAULT[doc] = "The layer's group: kernelrepro.sstategroup.DEFAULT_GROUP (set it to replace the list)."
KERNEL_REPRO_SSTATE_GROUP ??= ""
KERNEL_REPRO_SSTATE_GROUP:prepend = "${KERNEL_REPRO_SSTATE_GROUP_DEFAULT} "
KERNEL_REPRO_SSTATE_GROUP[doc] = "Kernel tasks whose sstate objects are restored all together or not at all (the default plus what += / :append add)."

KERNEL_REPRO_SSTATE_REPLACE_STALE ??= "1"
KERNEL_REPRO_SSTATE_REPLACE_STALE[doc] = "1: mark refused local sstate objects of a kernel group stale and replace them when their task runs; 0: OE-Core's behaviour (the fingerprint checks still stop a mixed restore)."

KERNEL_REPRO_SSTATE_SETTLE ??= "1"
KERNEL_REPRO_SSTATE_SETTLE[doc] = "1: builders sharing SSTATE_DIR publish one compile per kernel group (sstateshare.py); 0: the first object written under each name stays, as in OE-Core."

KERNEL_REPRO_SSTATE_PREFETCH ??= "1"
KERNEL_REPRO_SSTATE_PREFETCH[doc] = "1: fetch a kernel group's objects from SSTATE_MIRRORS at the hash check, and build the group here if one cannot be fetched; 0: OE-Core's behaviour (a member that fails to download in its setscene task is rebuilt alone, and the fingerprint check stops the build)."

# BB_SETSCENE_ENFORCE (the extensible SDK's prepare step, CI that must only
# restore): every real task that runs is an error, and the verify tasks have
# no setscene (they read what the group restored). Under it BitBake runs
# tasks as a dry run anyway, so they are listed as expected.
BB_SETSCENE_ENFORCE_IGNORE_TASKS:append = " *:do_kernel_repro_verify *:do_kernel_repro_image_verify"

KERNEL_REPRO_IMAGE_VERIFY ??= "1"
KERNEL_REPRO_IMAGE_VERIFY[doc] = "1: image builds run the kernel's do_kernel_repro_verify and their own do_kernel_repro_image_verify."

KERNEL_REPRO_FIX_TARGET ??= ""
KERNEL_REPRO_FIX_TARGET[doc] = "The target named in the repair command of a mismatch (empty: the kernel recipe; the image-time checks name the image)."

KERNEL_REPRO_BUILDID_FILE = "${B}/kernel-repro.buildid"
KERNEL_REPRO_BUILDID_FILE[doc] = "The record do_compile writes: the build-id of ${B}/vmlinux."

KERNEL_REPRO_BUNDLE_FILE = "${B}/kernel-repro-initramfs.buildid"
KERNEL_REPRO_BUNDLE_FILE[doc] = "The record do_bundle_initramfs writes: the relinked kernel's build-id and the compile it was relinked from."

KERNEL_REPRO_CONSUMERS_DIR = "${STAMPS_DIR}/kernel-repro-consumers"
KERNEL_REPRO_CONSUMERS_DIR[doc] = "Where images register as holders of a kernel (cleaning the kernel invalidates them)."

# Set at ConfigParsed: sstate.bbclass assigns BB_HASHCHECK_FUNCTION with "="
# and may be inherited after this class. Read by the server only.
addhandler kernel_repro_sstate_config
kernel_repro_sstate_config[eventmask] = "bb.event.ConfigParsed"
python kernel_repro_sstate_config () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.config_parsed(e.data)
}

def kernel_repro_sstate_checkhashes(sq_data, d, siginfo=False, currentcount=0, summary=True, **kwargs):
    import kernelrepro.sstatetasks
    return kernelrepro.sstatetasks.checkhashes(sq_data, d, siginfo, currentcount, summary, **kwargs)

python __anonymous () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.setup_recipe(d)
}

# --- kernel recipes (hooked in by setup_recipe) ------------------------------
python kernel_repro_record_buildid () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.record_buildid(d)
}
python kernel_repro_record_bundle () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.record_bundle(d)
}
python kernel_repro_pkgdata_fingerprint () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.pkgdata_fingerprint(d)
}
python kernel_repro_check_deploy () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.check_deploy(d)
}
python kernel_repro_deploy_fingerprint () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.deploy_fingerprint(d)
}
python kernel_repro_install_record () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.install_record(d)
}
python kernel_repro_feed_fingerprint () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.feed_fingerprint(d)
}
python kernel_repro_clean_consumers () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.clean_consumers(d)
}
python do_kernel_repro_verify () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.verify(d)
}
do_kernel_repro_verify[doc] = "Check that the deployed kernel, the packaged vmlinux and the package feeds share one GNU build-id"
do_kernel_repro_verify[dirs] = "${T}"

# Replaces a kernel group member's (or an image's) object marked stale, after
# OE-Core's own create step (which keeps an existing object). Outputs do not
# depend on it: kept out of every signature. An :append, not +=:
# sstate.bbclass may be inherited later.
SSTATEPOSTCREATEFUNCS:append = " kernel_repro_sstate_replace_stale"
SSTATEPOSTCREATEFUNCS[vardepvalueexclude] .= "| kernel_repro_sstate_replace_stale"
SSTATEPOSTCREATEFUNCS[vardepsexclude] += "kernel_repro_sstate_replace_stale"
python kernel_repro_sstate_replace_stale () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.replace_stale(d)
}

# --- images --------------------------------------------------------------------
# The rootfs check is excluded from signatures so that images keep theirs.
ROOTFS_POSTPROCESS_COMMAND += "kernel_repro_rootfs_check"
ROOTFS_POSTPROCESS_COMMAND[vardepvalueexclude] .= "| kernel_repro_rootfs_check"
ROOTFS_POSTPROCESS_COMMAND[vardepsexclude] += "kernel_repro_rootfs_check"
python kernel_repro_rootfs_check () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.rootfs_check(d)
}

python do_kernel_repro_image_verify () {
    import kernelrepro.sstatetasks
    kernelrepro.sstatetasks.image_verify(d)
}
do_kernel_repro_image_verify[doc] = "Check that the kernel in this image is the one the kernel-dbg and deploy records describe"
do_kernel_repro_image_verify[dirs] = "${T}"
