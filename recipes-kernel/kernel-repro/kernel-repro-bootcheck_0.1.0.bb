# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT

SUMMARY = "Log one line at boot when the running kernel is not the image's kernel build"
DESCRIPTION = "Compares the running kernel's GNU build-id (/sys/kernel/notes) with \
the build-id records the kernel-repro layer installs with the kernel \
(/usr/share/kernel-repro/*.buildid): is the running kernel the build whose \
debug symbols were published? POSIX sh and busybox only (od, sed): it works \
on images without Python. The kernel-repro package is the full tool."
SECTION = "kernel/userland"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://kernel-repro-bootcheck \
           file://kernel-repro-bootcheck.service \
           file://kernel-repro-bootcheck.init \
           "
# UNPACKDIR since OE-Core 5.1 (styhead); scarthgap unpacks into WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit allarch systemd update-rc.d

# A shell script: no compiler, no C library.
INHIBIT_DEFAULT_DEPS = "1"
do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${libexecdir}/kernel-repro ${D}${systemd_system_unitdir} ${D}${INIT_D_DIR}
    install -m 0755 ${S}/kernel-repro-bootcheck ${D}${libexecdir}/kernel-repro/bootcheck
    install -m 0644 ${S}/kernel-repro-bootcheck.service ${D}${systemd_system_unitdir}/
    install -m 0755 ${S}/kernel-repro-bootcheck.init ${D}${INIT_D_DIR}/kernel-repro-bootcheck
    sed -i -e 's,@LIBEXECDIR@,${libexecdir},g' \
        ${D}${systemd_system_unitdir}/kernel-repro-bootcheck.service \
        ${D}${INIT_D_DIR}/kernel-repro-bootcheck
}

FILES:${PN} = "${libexecdir}/kernel-repro \
               ${systemd_system_unitdir}/kernel-repro-bootcheck.service \
               ${INIT_D_DIR}/kernel-repro-bootcheck"
# od and sed: busybox or coreutils/sed, whichever the image has.
RDEPENDS:${PN} = "${VIRTUAL-RUNTIME_base-utils}"

# Enabled when the package is installed: installing it is the opt-in. It
# runs once, late (multi-user.target / rc S99) and never fails.
SYSTEMD_SERVICE:${PN} = "kernel-repro-bootcheck.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"
INITSCRIPT_NAME = "kernel-repro-bootcheck"
INITSCRIPT_PARAMS = "start 99 2 3 4 5 ."
