# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT

SUMMARY = "Check that a kernel and its debug symbols come from one build"
DESCRIPTION = "kernel-repro reads GNU build-ids from every kernel image format, \
checks an image against its debug vmlinux, explains why two kernels differ, \
tells whether the running kernel is the one the image's build-id records \
describe, and whether a debuginfod server has the running kernel's debug info. \
(kernel-repro-bootcheck, a recipe of its own, is the boot-time check in \
POSIX sh for images without Python.)"
HOMEPAGE = "https://git.example.org/meta-kernel-repro"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://COPYING.MIT;md5=bcbbaa2b48f727c9ec0dd7c3675586d7"

# The source is this layer's own Python project (pyproject.toml and
# lib/kernelrepro), fetched like any local source: file:// entries found
# through FILESEXTRAPATHS at the layer's top, so devtool, the archiver and
# SPDX see the code and do_fetch's checksums are those of the files. Each
# module is listed (a directory would bring __pycache__ along); the list is
# made at parse time from the layer's lib/kernelrepro, whose directory is a
# parse dependency (a new module re-parses the recipe).
FILESEXTRAPATHS:prepend := "${THISDIR}/../..:"
KERNEL_REPRO_LIBDIR = "${THISDIR}/../../lib/kernelrepro"
KERNEL_REPRO_LIBDIR[doc] = "The layer's kernelrepro package, which this recipe builds."

def kernel_repro_src_uri(d):
    import glob, os
    libdir = os.path.normpath(d.getVar("KERNEL_REPRO_LIBDIR"))
    bb.parse.mark_dependency(d, libdir)
    files = sorted(glob.glob(os.path.join(libdir, "*.py")) + glob.glob(os.path.join(libdir, "data", "bin", "*")))
    return " ".join("file://lib/kernelrepro/%s" % os.path.relpath(f, libdir) for f in files)

SRC_URI = "file://pyproject.toml file://README.md file://COPYING.MIT ${@kernel_repro_src_uri(d)}"
# UNPACKDIR since OE-Core 5.1 (styhead); scarthgap unpacks into WORKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

# pyproject.toml's own build: setuptools through PEP 517, a wheel, installed
# with pypa/installer (bytecode compiled, the kernel-repro console script).
inherit python_setuptools_build_meta

# Build- and test-only modules stay in the layer (the classes, the tests and
# the demo use them from there): on the device only what the commands run.
KERNEL_REPRO_BUILD_ONLY = "bbadapter sstatetasks sstategroup sstateshare imageguard artifacts sstateaudit fixture demo qemu"
KERNEL_REPRO_BUILD_ONLY[doc] = "kernelrepro modules not installed on the target (build host and tests only)."
do_install:append:class-target() {
    dest=${D}${PYTHON_SITEPACKAGES_DIR}/kernelrepro
    for m in ${KERNEL_REPRO_BUILD_ONLY}; do
        rm -f $dest/$m.py $dest/__pycache__/$m.*.pyc
    done
}

FILES:${PN} += "${PYTHON_SITEPACKAGES_DIR}/kernelrepro ${PYTHON_SITEPACKAGES_DIR}/kernelrepro-*.dist-info"

# Only OE-Core recipes. zstd, lz4 and lzo Python bindings live in
# meta-python: without them kernel-repro uses the zstd, lz4 and lzop
# command-line tools (recommended here) or names what to install.
RDEPENDS:${PN} = "python3-core python3-compression python3-crypt python3-io \
                  python3-json python3-netclient python3-shell"
# pyelftools (diff) has no nativesdk variant in OE-Core: in the SDK every
# other command works (check among them), diff says what is missing.
RDEPENDS:${PN}:append:class-target = " python3-pyelftools"
RDEPENDS:${PN}:append:class-native = " python3-pyelftools"
RRECOMMENDS:${PN}:append:class-target = " zstd lz4 lzop"
BBCLASSEXTEND = "native nativesdk"
