# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# kernel-repro: every recipe that inherits "kernel" builds reproducibly, or
# the build names the setting that prevents it. Enable it for a build with
#
#   INHERIT += "kernel-repro"
#
# in local.conf or a distro conf. Wiring only: the logic is in
# lib/kernelrepro (bbadapter.py is the only module that touches "d").
# Recipes that do not inherit "kernel" are left alone, so their task
# signatures do not change (yocto-check-layer test_signatures).
# See docs/layer.md for the variables and QA checks.

# Tasks of kernel recipes that compile or link and so get the reproducible
# environment (KBUILD_BUILD_TIMESTAMP, KCONFIG_NOTIMESTAMP, pahole wrapper).
# do_compile also installs KERNEL_REPRO_MODULE_SIG_KEY and runs the QA checks.
# Every list variable of the layer is extended the same way: a _DEFAULT
# holds the layer's list, and += / :append (local.conf, a distro or
# machine conf) add to it, :remove takes from it; set the _DEFAULT to
# replace it.
KERNEL_REPRO_TASKS_DEFAULT = "do_compile do_compile_kernelmodules do_bundle_initramfs"
KERNEL_REPRO_TASKS_DEFAULT[doc] = "The layer's KERNEL_REPRO_TASKS (set it to replace the list)."
KERNEL_REPRO_TASKS ??= ""
KERNEL_REPRO_TASKS:prepend = "${KERNEL_REPRO_TASKS_DEFAULT} "
KERNEL_REPRO_TASKS[doc] = "Kernel tasks that compile or link and get the reproducible build environment."

# A PEM file with the private key and X.509 certificate used to sign modules
# (CONFIG_MODULE_SIG). Empty: the kernel generates a new key each build and
# the kernel-repro-module-sig-key check fires. Keep it outside TMPDIR.
KERNEL_REPRO_MODULE_SIG_KEY ??= ""
KERNEL_REPRO_MODULE_SIG_KEY[doc] = "PEM file (key + certificate) for module signing instead of a key generated at build time."

# Empty: decide from the version of the pahole the build runs (< 1.27 serial,
# 1.27/1.28 --btf_features=+reproducible_build, >= 1.29 nothing). Or force
# one of: none, serial, reproducible_build.
KERNEL_REPRO_PAHOLE_MODE ??= ""
KERNEL_REPRO_PAHOLE_MODE[doc] = "Force the pahole mode (none, serial, reproducible_build); empty = by pahole version."

# What absolute build paths become in debug info, used only when KERNEL_CC
# carries no -ffile-prefix-map for S/B (OE-Core's KERNEL_CC normally does).
KERNEL_REPRO_DEBUG_PREFIX ??= "${TARGET_DBGSRC_DIR}"
KERNEL_REPRO_DEBUG_PREFIX[doc] = "Prefix replacing build paths in debug info when KERNEL_CC does not map them."

# Default severities of the QA checks, applied to kernel recipes only. A check
# the user already put in ERROR_QA or WARN_QA keeps the user's severity; to
# silence one for a recipe use INSANE_SKIP:<pn> += "<check>".
# kernel-repro-buildid (a build-id mismatch between copies of the kernel)
# is an error wherever it is checked unless listed in WARN_QA.
KERNEL_REPRO_ERROR_QA_DEFAULT = "kernel-repro-buildid kernel-repro-module-sig-key kernel-repro-randstruct kernel-repro-latent-entropy kernel-repro-pahole kernel-repro-timestamps"
KERNEL_REPRO_ERROR_QA_DEFAULT[doc] = "The layer's KERNEL_REPRO_ERROR_QA (set it to replace the list)."
KERNEL_REPRO_ERROR_QA ??= ""
KERNEL_REPRO_ERROR_QA:prepend = "${KERNEL_REPRO_ERROR_QA_DEFAULT} "
KERNEL_REPRO_ERROR_QA[doc] = "kernel-repro QA checks that fail a kernel build unless listed in WARN_QA."
KERNEL_REPRO_WARN_QA_DEFAULT = "kernel-repro-module-sig-ecdsa kernel-repro-localversion-auto"
KERNEL_REPRO_WARN_QA_DEFAULT[doc] = "The layer's KERNEL_REPRO_WARN_QA (set it to replace the list)."
KERNEL_REPRO_WARN_QA ??= ""
KERNEL_REPRO_WARN_QA:prepend = "${KERNEL_REPRO_WARN_QA_DEFAULT} "
KERNEL_REPRO_WARN_QA[doc] = "kernel-repro QA checks that warn unless listed in ERROR_QA."

# Part 2: one sstate group for the kernel's binary-carrying tasks and the
# build-id fingerprint (classes/kernel-repro-sstate.bbclass).
inherit kernel-repro-sstate

python kernel_repro_task_prefunc() {
    import kernelrepro.bbadapter
    kernelrepro.bbadapter.task_prefunc(d)
}
# Exactly kernelrepro.bbadapter.TASK_VARDEPS (tests/test_bbadapter.py checks).
kernel_repro_task_prefunc[vardeps] = "KERNEL_REPRO_PAHOLE_MODE KERNEL_REPRO_DEBUG_PREFIX KERNEL_REPRO_WRAPPER_SHA256 KERNEL_REPRO_LIB_SHA256 KERNEL_DEBUG_TIMESTAMPS KBUILD_BUILD_USER KBUILD_BUILD_HOST KBUILD_BUILD_VERSION REPRODUCIBLE_TIMESTAMP_ROOTFS KCFLAGS KAFLAGS"

# After make: absolute build paths that kbuild writes into generated sources
# (which the -src package ships) mapped like the compiler's prefix maps.
python kernel_repro_task_postfunc() {
    import kernelrepro.bbadapter
    kernelrepro.bbadapter.task_postfunc(d)
}
kernel_repro_task_postfunc[vardeps] = "KERNEL_REPRO_LIB_SHA256"

# setup_recipe also makes the library files behind KERNEL_REPRO_LIB_SHA256
# and the pahole wrapper parse dependencies of the kernel recipe (as an
# include is), so BitBake's recipe cache cannot keep hashes of an older
# library (bbadapter.track_files).
python __anonymous() {
    import kernelrepro.bbadapter
    kernelrepro.bbadapter.setup_recipe(d)
}
