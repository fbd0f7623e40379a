# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Tier-3 initramfs for a bundled kernel (INITRAMFS_IMAGE = "kr-t3-initramfs",
# INITRAMFS_IMAGE_BUNDLE = "1"): Debian's static busybox and the boot check,
# made by OE-Core's real do_rootfs / do_image_cpio (see kr-t3-image.bb).
# No kernel inside: kernel.bbclass links this cpio into vmlinux.
SUMMARY = "kernel-repro tier 3: an initramfs to bundle with the tier-3 kernel"
LICENSE = "MIT"

inherit image

IMAGE_INSTALL = "kr-t3-busybox kernel-repro-bootcheck \
                 ${@'kernel-buildid' if bb.data.inherits_class('kernel-repro', d) else ''}"
IMAGE_LINGUAS = ""
IMAGE_FEATURES = ""
ROOTFS_BOOTSTRAP_INSTALL = ""
IMAGE_FSTYPES = "${INITRAMFS_FSTYPES}"
IMAGE_NAME_SUFFIX = ""
LDCONFIGDEPEND = ""
