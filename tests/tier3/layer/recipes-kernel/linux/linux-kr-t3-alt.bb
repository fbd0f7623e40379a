# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Tier-3 second kernel: linux-kr-t3 under another KERNEL_PACKAGE_NAME, as a
# machine with two kernels has it (OE-Core kernel.bbclass: packages
# altkernel-*, its own pkgdata altkernel-depmod/, KERNEL_DEPLOYSUBDIR
# "altkernel" in DEPLOY_DIR_IMAGE, a release of its own). Built by name
# only (scenario k of tests/tier3/test_kernels_t3.py); the preferred
# provider of virtual/kernel stays linux-kr-t3.
require linux-kr-t3.bb
SUMMARY = "kernel-repro tier 3: a second kernel recipe (KERNEL_PACKAGE_NAME altkernel)"

KERNEL_PACKAGE_NAME = "altkernel"
# kernel.bbclass PROVIDES virtual/kernel; base.bbclass skips every provider
# of a virtual/ other than the preferred one, so a second kernel drops it
PROVIDES:remove = "virtual/kernel"
KERNEL_LOCALVERSION = "-alt"
