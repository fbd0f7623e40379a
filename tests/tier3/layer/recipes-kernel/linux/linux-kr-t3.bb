# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Tier-3 test kernel: Debian's linux-source-6.1 tarball, configured exactly
# like the tier-1 fixture kernels (tinyconfig + kernelrepro.fixture's x86_64
# fragment: DWARF5, BTF, kallsyms, kheaders, EFI stub, two modules), built
# by a plain kernel.bbclass: the real do_compile .. do_deploy, do_package*.
SUMMARY = "kernel-repro tier 3: a plain kernel.bbclass recipe of Debian's linux-source"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://COPYING;md5=6bc538ed5bd9a7fc9398086aedcd7e46"

inherit kernel

# The newest /usr/src/linux-source-*.tar.xz (KERNEL_REPRO_LINUX_SOURCE
# overrides), the same one the fixture kernels use.
def kr_t3_fixture(d):
    import kernelrepro.fixture
    return kernelrepro.fixture

KR_T3_LINUX_SOURCE ?= "${@kr_t3_fixture(d).find_linux_source()}"
SRC_URI = "file://${KR_T3_LINUX_SOURCE}"
# UNPACKDIR is master's (styhead and later); scarthgap unpacks into WORKDIR
KR_T3_UNPACKDIR = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
S = "${KR_T3_UNPACKDIR}/${@os.path.basename(d.getVar('KR_T3_LINUX_SOURCE')).split('.tar')[0]}"

LINUX_VERSION = "6.1"
PV = "${LINUX_VERSION}"
KERNEL_IMAGETYPE = "bzImage"
COMPATIBLE_MACHINE = "qemux86-64"

# One definition of the configuration: kernelrepro.fixture.CONFIG_FRAGMENTS.
KR_T3_CONFIG_FRAGMENT = "${@kr_t3_fixture(d).CONFIG_FRAGMENTS['x86_64']}"
do_configure[vardeps] += "KR_T3_CONFIG_FRAGMENT"

python kr_t3_write_fragment () {
    with open(d.expand("${WORKDIR}/kr-t3.config"), "w") as f:
        f.write(d.getVar("KR_T3_CONFIG_FRAGMENT"))
}
do_configure[prefuncs] += "kr_t3_write_fragment"

# tinyconfig + the fragment, as the fixture does; kernel_do_configure keeps
# an existing .config and runs olddefconfig (KERNEL_CONFIG_COMMAND).
do_configure:prepend () {
	oe_runmake -C ${S} O=${B} tinyconfig
	ARCH=${ARCH} ${S}/scripts/kconfig/merge_config.sh -m -O ${B} ${B}/.config ${WORKDIR}/kr-t3.config
}

# Fail when Kconfig dropped a requested option (e.g. BTF without pahole).
python kr_t3_check_config () {
    import kernelrepro.fixture
    kernelrepro.fixture.check_config(d.getVar("B"), d.getVar("KR_T3_CONFIG_FRAGMENT"))
}
do_configure[postfuncs] += "kr_t3_check_config"

# drivers/tty/vt/consolemap_deftbl.c is generated with the absolute path of
# its input in a comment (CONFIG_VT comes with TTY): buildpaths QA in -src.
INSANE_SKIP:${PN}-src += "buildpaths"

# The tier-3 scenarios need a kernel that differs with every compile yet is
# one kernel within one build. KERNEL_DEBUG_TIMESTAMPS = "1" is not that:
# do_compile_kernelmodules runs make again, which relinks vmlinux with a new
# timestamp (LD vmlinux.o, version-timestamp.o, BTF, kallsyms), so the
# packaged vmlinux already differs from the deployed bzImage of the same
# build. Instead KR_T3_NONREPRODUCIBLE = "1" gives each compile (each fresh
# ${B}) its own KBUILD_BUILD_HOST, set at task time (in no signature, like
# a builder's host name), kept for the later make calls of the same ${B}.
KR_T3_NONREPRODUCIBLE ??= "0"
do_compile[vardeps] += "KR_T3_NONREPRODUCIBLE"
python kr_t3_build_host () {
    if d.getVar("KR_T3_NONREPRODUCIBLE") != "1":
        return
    import os, uuid
    path = os.path.join(d.getVar("B"), "kr-t3-build-host")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("kr-t3-%s\n" % uuid.uuid4().hex[:12])
    with open(path) as f:
        host = f.read().strip()
    d.setVar("KBUILD_BUILD_HOST", host)
    d.setVarFlag("KBUILD_BUILD_HOST", "export", "1")
    bb.note("kr-t3: KBUILD_BUILD_HOST=%s (non-reproducible on purpose)" % host)
}
# before kernel-repro's prefunc (appended at finalisation), which re-exports it
do_compile[prefuncs] += "kr_t3_build_host"
do_compile_kernelmodules[prefuncs] += "kr_t3_build_host"

# Scenario j (an interrupted rebuild): KR_T3_FAIL_DEPLOY = "1" makes
# do_deploy fail after do_package* have made their objects. It is in no
# signature, so the failing and the next build share every sstate name.
python kr_t3_fail_deploy () {
    if d.getVar("KR_T3_FAIL_DEPLOY") == "1":
        bb.fatal("kr-t3: do_deploy fails on purpose (KR_T3_FAIL_DEPLOY: an interrupted build)")
}
kr_t3_fail_deploy[vardepsexclude] = "KR_T3_FAIL_DEPLOY"
do_deploy[prefuncs] += "kr_t3_fail_deploy"

# Builders sharing one cache (test_shared_t3): a barrier that orders two
# builds' do_deploy. KR_T3_DEPLOY_WAIT_FOR: do_deploy waits (up to an hour)
# until that file exists; KR_T3_DEPLOY_SIGNAL: the file is created once this
# build's deploy object is in the cache (an SSTATEPOSTCREATEFUNCS entry,
# after the layer's own). In no signature, so both builders share every
# sstate name.
python kr_t3_deploy_wait () {
    import os, time
    path = d.getVar("KR_T3_DEPLOY_WAIT_FOR")
    if not path:
        return
    bb.note("kr-t3: do_deploy waits for %s" % path)
    deadline = time.time() + 3600
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(2)
}
kr_t3_deploy_wait[vardepsexclude] = "KR_T3_DEPLOY_WAIT_FOR"
do_deploy[prefuncs] += "kr_t3_deploy_wait"
python kr_t3_deploy_signal () {
    path = d.getVar("KR_T3_DEPLOY_SIGNAL")
    if path and d.getVar("BB_CURRENTTASK") == "deploy":
        open(path, "a").close()
}
kr_t3_deploy_signal[vardepsexclude] = "KR_T3_DEPLOY_SIGNAL BB_CURRENTTASK"
SSTATEPOSTCREATEFUNCS:append = " kr_t3_deploy_signal"
SSTATEPOSTCREATEFUNCS[vardepvalueexclude] .= "| kr_t3_deploy_signal"
SSTATEPOSTCREATEFUNCS[vardepsexclude] += "kr_t3_deploy_signal"

# The image level: OE-Core's rootfs step runs depmodwrapper itself after
# installing the packages (lib/oe/rootfs.py, _generate_kernel_module_deps);
# kernel-base's postinst runs it as well, inside the rootfs, where Debian's
# rpm (standing in for rpm-native, which runs scriptlets outside the rootfs
# with the native sysroot on PATH) cannot reach the host's depmodwrapper
# stand-in. At rootfs time, leave it to the rootfs step.
pkg_postinst:${KERNEL_PACKAGE_NAME}-base () {
	if [ -z "$D" ]; then
		depmod -a ${KERNEL_VERSION}
	fi
}
# the relink of a bundled initramfs is part of the same compile: same host
do_bundle_initramfs[prefuncs] += "kr_t3_build_host"
