# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT

SUMMARY = "Check that a kernel and its debug symbols come from one build"
DESCRIPTION = "kernel-repro reads GNU build-ids from every kernel image format, \
checks an image against its debug vmlinux, explains why two kernels differ, \
tells whether the running kernel is the one the image's build-id records \
describe, and whether a debuginfod server has the running kernel's debug info. \
The ${PN}-bootcheck package logs one line at boot when the running kernel is \
not the build the image's records describe."
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${KERNEL_REPRO_TOP}/COPYING.MIT;md5=bcbbaa2b48f727c9ec0dd7c3675586d7"

# The code is this layer's own lib/kernelrepro, installed from the layer (no
# copy, no network). Evaluated lazily from FILE_DIRNAME (excluded from task
# hashes), so the layer's location does not enter any signature; the files'
# contents do, through do_install[file-checksums] below.
KERNEL_REPRO_TOP = "${@os.path.normpath(os.path.join(d.getVar('FILE_DIRNAME'), '..', '..'))}"
KERNEL_REPRO_TOP[doc] = "Top of the meta-kernel-repro layer, whose lib/kernelrepro this recipe installs."

# The boot check's scripts; only these are unpacked.
SRC_URI = "file://kernel-repro-bootcheck \
           file://kernel-repro-bootcheck.service \
           file://kernel-repro-bootcheck.init \
           "
# UNPACKDIR since OE-Core 5.1 (styhead); scarthgap unpacks into WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit python3-dir systemd update-rc.d

# Pure Python and shell: no compiler, no C library.
INHIBIT_DEFAULT_DEPS = "1"
do_configure[noexec] = "1"
do_compile[noexec] = "1"

# Every module and data file of the package, by content (globs are
# evaluated when signatures are computed, so a new module counts too;
# __pycache__ does not).
do_install[file-checksums] += "${KERNEL_REPRO_TOP}/lib/kernelrepro/*.py:True \
                               ${KERNEL_REPRO_TOP}/lib/kernelrepro/data/bin/*:True"

# The interpreter the kernel-repro launcher runs with.
KERNEL_REPRO_PYTHON = "python3"
KERNEL_REPRO_PYTHON:class-native = "nativepython3"

python () {
    top = d.getVar('KERNEL_REPRO_TOP')
    if not os.path.isfile(os.path.join(top, 'lib', 'kernelrepro', 'cli.py')):
        raise bb.parse.SkipRecipe("the kernelrepro package is not at %s/lib/kernelrepro "
                                  "(this recipe installs it from its own layer)" % top)
}

do_install() {
    dest=${D}${PYTHON_SITEPACKAGES_DIR}/kernelrepro
    install -d $dest/data/bin ${D}${bindir}
    install -m 0644 ${KERNEL_REPRO_TOP}/lib/kernelrepro/*.py $dest/
    install -m 0755 ${KERNEL_REPRO_TOP}/lib/kernelrepro/data/bin/* $dest/data/bin/
    printf '%s\n' '#!/usr/bin/env ${KERNEL_REPRO_PYTHON}' \
        '# kernel-repro: the meta-kernel-repro command line (MIT)' \
        'import sys' 'from kernelrepro.cli import main' 'sys.exit(main())' \
        > ${D}${bindir}/kernel-repro
    chmod 0755 ${D}${bindir}/kernel-repro

    install -d ${D}${libexecdir}/kernel-repro ${D}${systemd_system_unitdir} ${D}${INIT_D_DIR}
    install -m 0755 ${S}/kernel-repro-bootcheck ${D}${libexecdir}/kernel-repro/bootcheck
    install -m 0644 ${S}/kernel-repro-bootcheck.service ${D}${systemd_system_unitdir}/
    install -m 0755 ${S}/kernel-repro-bootcheck.init ${D}${INIT_D_DIR}/kernel-repro-bootcheck
    sed -i -e 's,@LIBEXECDIR@,${libexecdir},g' \
        ${D}${systemd_system_unitdir}/kernel-repro-bootcheck.service \
        ${D}${INIT_D_DIR}/kernel-repro-bootcheck
}

# Native and SDK builds get the command only.
do_install:append:class-native() {
    rm -rf ${D}${libexecdir}/kernel-repro ${D}${systemd_system_unitdir} ${D}${INIT_D_DIR}
}
do_install:append:class-nativesdk() {
    rm -rf ${D}${libexecdir}/kernel-repro ${D}${systemd_system_unitdir} ${D}${INIT_D_DIR}
}

PACKAGES =+ "${PN}-bootcheck"
FILES:${PN} += "${PYTHON_SITEPACKAGES_DIR}/kernelrepro"
FILES:${PN}-bootcheck = "${libexecdir}/kernel-repro \
                         ${systemd_system_unitdir}/kernel-repro-bootcheck.service \
                         ${INIT_D_DIR}/kernel-repro-bootcheck"
SUMMARY:${PN}-bootcheck = "Log one line at boot when the running kernel is not the image's kernel build"

# Only OE-Core recipes. zstd, lz4 and lzo Python bindings live in
# meta-python: without them kernel-repro uses the zstd, lz4 and lzop
# command-line tools (recommended here) or names what to install.
RDEPENDS:${PN} = "python3-core python3-compression python3-crypt python3-io \
                  python3-json python3-netclient python3-shell"
# pyelftools (check, diff) has no nativesdk variant in OE-Core: in the SDK
# kernel-repro buildid/extract/running work, check/diff say what is missing.
RDEPENDS:${PN}:append:class-target = " python3-pyelftools"
RDEPENDS:${PN}:append:class-native = " python3-pyelftools"
RRECOMMENDS:${PN}:append:class-target = " zstd lz4 lzop"
RDEPENDS:${PN}-bootcheck = "${PN}"

# Enabled when the package is installed: installing ${PN}-bootcheck is the
# opt-in. It runs once, late (multi-user.target / rc S99) and never fails.
SYSTEMD_PACKAGES = "${PN}-bootcheck"
SYSTEMD_SERVICE:${PN}-bootcheck = "kernel-repro-bootcheck.service"
SYSTEMD_AUTO_ENABLE:${PN}-bootcheck = "enable"
INITSCRIPT_PACKAGES = "${PN}-bootcheck"
INITSCRIPT_NAME:${PN}-bootcheck = "kernel-repro-bootcheck"
INITSCRIPT_PARAMS:${PN}-bootcheck = "start 99 2 3 4 5 ."

BBCLASSEXTEND = "native nativesdk"
