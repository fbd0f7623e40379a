# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT

SUMMARY = "Check that a kernel and its debug symbols come from one build"
DESCRIPTION = "kernel-repro reads GNU build-ids from every kernel image format, \
checks an image against its debug vmlinux, explains why two kernels differ, \
tells whether the running kernel is the one the image's build-id records \
describe, and whether a debuginfod server has the running kernel's debug info. \
(kernel-repro-bootcheck, a recipe of its own, is the boot-time check in \
POSIX sh for images without Python.)"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${KERNEL_REPRO_TOP}/COPYING.MIT;md5=bcbbaa2b48f727c9ec0dd7c3675586d7"

# The code is this layer's own lib/kernelrepro, installed from the layer (no
# copy, no network). Evaluated lazily from FILE_DIRNAME (excluded from task
# hashes), so the layer's location does not enter any signature; the files'
# contents do, through do_install[file-checksums] below.
KERNEL_REPRO_TOP = "${@os.path.normpath(os.path.join(d.getVar('FILE_DIRNAME'), '..', '..'))}"
KERNEL_REPRO_TOP[doc] = "Top of the meta-kernel-repro layer, whose lib/kernelrepro this recipe installs."

SRC_URI = ""
# UNPACKDIR since OE-Core 5.1 (styhead); scarthgap unpacks into WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

inherit python3-dir

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
}

FILES:${PN} += "${PYTHON_SITEPACKAGES_DIR}/kernelrepro"

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
BBCLASSEXTEND = "native nativesdk"
