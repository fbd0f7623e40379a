# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Tier-3 image: what the device runs, made by OE-Core's real do_rootfs,
# do_image and do_image_complete (rpm backend on the host's dnf and
# createrepo_c, see conf/kr-t3-offline.inc): the tier-3 kernel's image and
# modules, its build-id record, the boot check, Debian's static busybox.
# An initramfs (cpio.gz): qemu boots it with the deployed bzImage.
SUMMARY = "kernel-repro tier 3: a minimal image of the tier-3 kernel"
LICENSE = "MIT"

inherit image

# kernel-buildid (the compile's build-id record) exists with the layer
# enabled; the control builds of tier 3 run without it
IMAGE_INSTALL = "kr-t3-busybox kernel-image kernel-modules kernel-repro-bootcheck \
                 ${@'kernel-buildid' if bb.data.inherits_class('kernel-repro', d) else ''}"
IMAGE_LINGUAS = ""
IMAGE_FEATURES = ""
# no package manager at runtime, so no first-boot postinst runner
ROOTFS_BOOTSTRAP_INSTALL = ""
IMAGE_FSTYPES = "cpio.gz"
# no C library: no ldconfig
LDCONFIGDEPEND = ""
