# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Tier-3 userland: Debian's static busybox (package busybox-static) as a
# prebuilt binary, so the tier-3 image needs no C library built by OE. With
# /init for the initramfs: mount the kernel file systems, run the boot check
# (kernel-repro-bootcheck, which writes its line to the kernel log), say
# what ran, power off.
SUMMARY = "kernel-repro tier 3: the host's static busybox and an /init"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/GPL-2.0-only;md5=801f80980d171dd6425610833a22dbe6"

KR_T3_BUSYBOX ?= "/bin/busybox"
SRC_URI = "file://${KR_T3_BUSYBOX};subdir=kr-t3-busybox file://kr-t3-init"
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

INHIBIT_DEFAULT_DEPS = "1"
do_configure[noexec] = "1"
do_compile[noexec] = "1"

# the applets the tier-3 image uses (busybox-static resolves the rest itself)
KR_T3_APPLETS = "sh mount umount uname cat ls od sed sleep dmesg poweroff reboot modprobe insmod lsmod mkdir echo grep ln rm"

do_install() {
    bin=$(find ${S}/kr-t3-busybox -name busybox -type f | head -n1)
    [ -n "$bin" ] || bbfatal "no busybox in ${S}/kr-t3-busybox"
    install -d ${D}${base_bindir} ${D}/proc ${D}/sys ${D}/dev ${D}/tmp
    install -m 0755 $bin ${D}${base_bindir}/busybox
    for a in ${KR_T3_APPLETS}; do ln -s busybox ${D}${base_bindir}/$a; done
    install -m 0755 ${S}/kr-t3-init ${D}/init
}

FILES:${PN} = "${base_bindir} /init /proc /sys /dev /tmp"
# A prebuilt static binary from the host: nothing to strip, split or link.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
INHIBIT_SYSROOT_STRIP = "1"
INSANE_SKIP:${PN} += "already-stripped ldflags file-rdeps"
RPROVIDES:${PN} += "busybox"
