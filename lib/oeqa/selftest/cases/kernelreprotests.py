# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# oe-selftest cases for meta-kernel-repro (qemux86-64).
#
# The invariant under test: the kernel in DEPLOY_DIR_IMAGE, the kernel in the
# image's rootfs, the vmlinux in kernel-vmlinux / kernel-dbg and the running
# kernel come from one compile (same GNU build-id), whatever mix of sstate
# objects the build starts from -- or the build stops with a kernel-repro
# error. Every kernel comparison goes through the layer's kernelrepro library.
#
# Select them all with `oe-selftest -t kernel-repro`; `-t kernel-repro-offline`
# selects the one case that builds nothing (signatures only, `bitbake -S none`);
# the runqemu case also carries the "runqemu" tag. Written against the
# oeqa API of OE-Core master and scarthgap (identical for what is used here).
#
# Module name: not "kernelrepro", which would shadow the library package.

import glob
import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
import uuid

from oeqa.selftest.case import OESelftestTestCase
from oeqa.core.decorator import OETestTag
from oeqa.utils.commands import bitbake, get_bb_var, get_bb_vars, runCmd, runqemu

# <layer>/lib/oeqa/selftest/cases/kernelreprotests.py -> <layer>/lib and <layer>.
# oe-selftest adds every layer's lib/ to sys.path, but only in _pre_run(),
# after the case modules were loaded and never for --list-tests
# (meta/lib/oeqa/selftest/context.py _add_layer_libs), so add it here too.
LAYER_LIB = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAYER_DIR = os.path.dirname(LAYER_LIB)
if LAYER_LIB not in sys.path:
    sys.path.append(LAYER_LIB)

MACHINE = "qemux86-64"
IMAGE = "core-image-minimal"

# What the cases build: the layer enabled, and the kernel image plus the
# packaged vmlinux installed in the rootfs (core-image-minimal on qemux86-64
# installs no kernel by itself: its packagegroup-core-boot RDEPENDS on
# "kernel" only with MACHINE_FEATURES "efi", which qemux86-64 lacks on
# master and scarthgap). BTF (linux-yocto's KERNEL_DEBUG = "True") needs
# pahole-native, which is meta-oe's, not OE-Core's: only the BTF case sets
# it, and skips where pahole-native is not provided.
ENABLED_CONFIG = textwrap.dedent("""\
    MACHINE = "%s"
    INHERIT += "kernel-repro"
    CORE_IMAGE_EXTRA_INSTALL += "kernel-image kernel-vmlinux kernel-buildid"
    """ % MACHINE)
BTF_CONFIG = 'KERNEL_DEBUG = "True"\n'


def selftest_image():
    """The image the cases build and boot: KERNEL_REPRO_SELFTEST_IMAGE
    (default core-image-minimal). Set empty where no image can be built (the
    project's offline tier-3 build has no C library): the cases then check
    the kernel recipe's own outputs, and the rootfs/boot checks skip."""
    value = get_bb_var("KERNEL_REPRO_SELFTEST_IMAGE")
    return IMAGE if value is None else value.strip()


def pahole_native_provided():
    """pahole-native is buildable (meta-oe) or provided by the host (ASSUME_PROVIDED)."""
    if "pahole-native" in (get_bb_var("ASSUME_PROVIDED") or "").split():
        return True
    return bitbake("-e pahole-native", ignore_status=True).status == 0


def kernelrepro_modules():
    """Import kernelrepro.image, kernelrepro.check and kernelrepro.diff.

    kernelrepro.check and kernelrepro.diff need pyelftools; when the host python lacks it, use
    OE-Core's python3-pyelftools-native (pure python, so any python3 does).
    """
    try:
        import elftools  # noqa: F401
    except ImportError:
        bitbake("python3-pyelftools-native -c addto_recipe_sysroot")
        sysroot = get_bb_var("RECIPE_SYSROOT_NATIVE", "python3-pyelftools-native")
        for sp in glob.glob(os.path.join(sysroot, "usr/lib/python3*/site-packages")):
            if sp not in sys.path:
                sys.path.append(sp)
    import kernelrepro.image
    import kernelrepro.check
    import kernelrepro.diff
    import kernelrepro.errors
    return kernelrepro.image, kernelrepro.check, kernelrepro.diff, kernelrepro.errors


class KernelReproBase(OESelftestTestCase):
    """Helpers shared by the cases: where OE-Core puts each copy of the kernel."""

    def setUpLocal(self):
        super().setUpLocal()
        self.kimage, self.kcheck, self.kdiff, self.kerrors = kernelrepro_modules()

    def kernel_pn(self):
        return get_bb_var("PREFERRED_PROVIDER_virtual/kernel")

    def build_id(self, path):
        try:
            return self.kimage.read_build_id(path)
        except self.kerrors.KernelReproError as e:
            self.fail("cannot read the build-id of %s: %s" % (path, e))

    def deployed_kernel(self, pn):
        """The kernel image do_deploy put in DEPLOY_DIR_IMAGE (symlinks resolved)."""
        v = get_bb_vars(["DEPLOY_DIR_IMAGE", "KERNEL_IMAGETYPE", "KERNEL_IMAGE_LINK_NAME",
                         "KERNEL_IMAGE_BIN_EXT"], pn)
        itype = v["KERNEL_IMAGETYPE"]
        candidates = [os.path.join(v["DEPLOY_DIR_IMAGE"], "%s-%s%s" % (itype, v["KERNEL_IMAGE_LINK_NAME"],
                                                                      v["KERNEL_IMAGE_BIN_EXT"] or "")),
                      os.path.join(v["DEPLOY_DIR_IMAGE"], itype)]
        for c in candidates:
            if os.path.exists(c):
                return os.path.realpath(c)
        held = sorted(os.listdir(v["DEPLOY_DIR_IMAGE"])) if os.path.isdir(v["DEPLOY_DIR_IMAGE"]) else "(no such directory)"
        self.fail("no deployed kernel image: none of %s exists; %s holds: %s"
                  % (", ".join(candidates), v["DEPLOY_DIR_IMAGE"], held))

    def packaged_vmlinux(self, pn):
        """(vmlinux of <kernel>-vmlinux, debug vmlinux of <kernel>-dbg) from PKGDEST.

        When the packages came from sstate (do_package_write_rpm setscene),
        do_package did not run and PKGDEST is empty; `bitbake -c package`
        then restores it from do_package's sstate object (sstate-plaindirs
        PKGD PKGDEST PKGDESTWORK in package.bbclass), i.e. from the same
        build as the package feeds.
        """
        v = get_bb_vars(["PKGDEST", "KERNEL_PACKAGE_NAME"], pn)
        pkgdest, kname = v["PKGDEST"], v["KERNEL_PACKAGE_NAME"] or "kernel"
        if not glob.glob(os.path.join(pkgdest, "%s-vmlinux" % kname, "boot", "vmlinux-*")):
            bitbake("%s -c package" % pn)
        found = {}
        patterns = {
            "vmlinux": ["%s-vmlinux/boot/vmlinux-*" % kname],
            # PACKAGE_DEBUG_SPLIT_STYLE: ".debug" (default) or debug-file-directory
            "dbg": ["%s-dbg/boot/.debug/vmlinux-*" % kname,
                    "%s-dbg/usr/lib/debug/boot/vmlinux-*" % kname],
        }
        for what, pats in patterns.items():
            hits = [p for pat in pats for p in glob.glob(os.path.join(pkgdest, pat))
                    if os.path.isfile(p) and not os.path.islink(p)]
            self.assertEqual(len(hits), 1, "expected one %s vmlinux in %s, found %s" % (what, pkgdest, hits))
            found[what] = hits[0]
        return found["vmlinux"], found["dbg"]

    def rootfs_kernels(self, pn, image):
        """Kernel files the image installed in its rootfs: /boot/<type>-* and /boot/vmlinux-*."""
        rootfs = get_bb_var("IMAGE_ROOTFS", image)
        itype = get_bb_var("KERNEL_IMAGETYPE", pn)
        found = {}
        for what, pat in (("image", "boot/%s-*" % itype), ("vmlinux", "boot/vmlinux-*")):
            hits = [p for p in glob.glob(os.path.join(rootfs, pat)) if not os.path.islink(p)]
            self.assertEqual(len(hits), 1, "expected one %s in the rootfs %s, found %s"
                             % (pat, rootfs, hits))
            found[what] = hits[0]
        return found

    def assert_one_compile(self, pn, image):
        """Deployed kernel == packaged vmlinux == debug vmlinux (== rootfs kernels
        when an image was built) -> {where: build-id}."""
        deployed = self.deployed_kernel(pn)
        vmlinux, dbg = self.packaged_vmlinux(pn)
        ids = {
            "deployed %s" % deployed: self.build_id(deployed),
            "kernel-vmlinux %s" % vmlinux: self.build_id(vmlinux),
            "kernel-dbg %s" % dbg: self.build_id(dbg),
        }
        images = [deployed]
        if image:
            rootfs = self.rootfs_kernels(pn, image)
            ids["rootfs %s" % rootfs["image"]] = self.build_id(rootfs["image"])
            ids["rootfs %s" % rootfs["vmlinux"]] = self.build_id(rootfs["vmlinux"])
            images.append(rootfs["image"])
        self.logger.info("kernel build-ids:\n%s" % "\n".join("  %s  %s" % (b, w) for w, b in ids.items()))
        self.assertEqual(len(set(ids.values())), 1, "the kernel copies come from different compiles:\n%s"
                         % "\n".join("  %s  %s" % (b, w) for w, b in ids.items()))
        # Beyond build-ids: the image's payload against the debug symbols
        # (every allocated section both have bytes for), and the rootfs image.
        # kernel-dbg's vmlinux is `objcopy --only-keep-debug` output
        # (splitdebuginfo in meta/lib/oe/package.py): .text, .rodata ... have
        # no bytes there, so check skips them rather than call them different.
        for image in images:
            r = self.kcheck.check(image, dbg)
            self.assertTrue(r["match"], "%s vs %s: %s" % (image, dbg, r["verdict"]))
            self.assertTrue(r["verdict"].startswith("match:"), r["verdict"])
            sec = r["sections"]
            self.assertIsNotNone(sec, "%s vs %s: no ELF sections compared" % (image, dbg))
            self.assertEqual(sec["differ"], [], "%s vs %s" % (image, dbg))
            self.assertIn(".text", sec["skipped"], "%s: expected an --only-keep-debug file "
                          "(.text without bytes), skipped: %s" % (dbg, sec["skipped"]))
            self.assertGreaterEqual(sec["compared"], 1, "%s vs %s: nothing compared" % (image, dbg))
        return ids


@OETestTag("kernel-repro")
class KernelReproDeployVsDebug(KernelReproBase):

    def test_deployed_kernel_matches_debug_vmlinux(self):
        """Case 1: after one build the deployed bzImage, the kernel-vmlinux and
        kernel-dbg vmlinux and the rootfs kernel share one build-id."""
        self.write_config(ENABLED_CONFIG)
        image = selftest_image()
        bitbake(image or self.kernel_pn())
        self.assert_one_compile(self.kernel_pn(), image)

    def test_deployed_kernel_matches_debug_vmlinux_btf(self):
        """Case 1 with BTF (KERNEL_DEBUG = "True": pahole-native, meta-oe)."""
        if not pahole_native_provided():
            self.skipTest("pahole-native is not provided (add meta-oe for KERNEL_DEBUG = \"True\")")
        self.write_config(ENABLED_CONFIG + BTF_CONFIG)
        image = selftest_image()
        bitbake(image or self.kernel_pn())
        self.assert_one_compile(self.kernel_pn(), image)


@OETestTag("kernel-repro")
class KernelReproSstateMiss(KernelReproBase):

    GROUP = ("deploy", "package", "packagedata", "package_write_rpm")

    def config(self, sstate, parent_sstate, pn, salt, host):
        # A private SSTATE_DIR, so deleting from it never touches a shared
        # cache; everything else may come from the parent one through a
        # mirror, and the salt makes the kernel's signatures unique to this
        # run, so no mirror can hold its objects. OEBasicHash, as
        # sstatetests.py does: no hash equivalence server that could map a
        # rebuilt task to an earlier object. The kernel is made
        # non-reproducible on purpose -- otherwise a broken group would pass
        # unseen: KBUILD_BUILD_HOST (baked into the banner) is taken out of
        # every task hash and changed between builds, so the sstate names stay
        # the same while every compile gives another vmlinux: the 2020 case.
        return ENABLED_CONFIG + textwrap.dedent("""\
            SSTATE_DIR = "%s"
            SSTATE_MIRRORS = "file://.* file://%s/PATH"
            BB_SIGNATURE_HANDLER = "OEBasicHash"
            KERNEL_EXTRA_ARGS:append:pn-%s = " KERNEL_REPRO_SELFTEST_SALT=%s"
            BB_BASEHASH_IGNORE_VARS:append = " KBUILD_BUILD_HOST"
            KBUILD_BUILD_HOST = "%s"
            """ % (sstate, parent_sstate, pn, salt, host))

    def kernel_objects(self, sstate, pn):
        return {t: v for t, v in self.kartifacts.sstate_objects(sstate, pn).items() if t in self.GROUP}

    def test_deploy_sstate_miss(self):
        """Case 2, the 2020 report: the kernel's do_deploy object is missing
        from sstate while its package objects are present, and the kernel is
        not reproducible. The rebuild gives one compile everywhere, the image
        (not cleaned: its stamps current, its object of the first compile) is
        rebuilt from it, the refused objects are replaced, and a build in a
        fresh TMPDIR from the same SSTATE_DIR restores that one compile."""
        import kernelrepro.artifacts
        self.kartifacts = kernelrepro.artifacts
        pn = self.kernel_pn()
        image = selftest_image()
        target = image or pn
        sstate = os.path.join(self.builddir, "kernel-repro-sstate-miss")
        self.track_for_cleanup(sstate)
        parent_sstate, salt = get_bb_var("SSTATE_DIR"), uuid.uuid4().hex

        def config(host):
            return self.config(sstate, parent_sstate, pn, salt, host)

        self.write_config(config("kr-selftest-" + uuid.uuid4().hex[:8]))
        bitbake(target)
        first = set(self.assert_one_compile(pn, image).values())

        # Clean the kernel (keep its sstate objects) and drop only do_deploy's
        # object. The image is left as it is -- stamps current, its sstate
        # object holding the first compile: the layer must see to it that
        # the image is rebuilt from the new compile (the kernel's clean
        # invalidates it, the hash check refuses its object).
        bitbake("-c clean %s" % pn)
        objs = self.kernel_objects(sstate, pn)
        self.assertEqual(sorted(objs), sorted(self.GROUP), "kernel objects in %s: %s" % (sstate, objs))
        for p in objs["deploy"]:
            for f in (p, p + ".siginfo"):
                if os.path.exists(f):
                    os.remove(f)
        # another builder: same task hashes, another vmlinux
        self.write_config(config("kr-selftest-" + uuid.uuid4().hex[:8]))

        result = bitbake(target)
        real, setscene, counts = self.kartifacts.task_runs(result.output, pn)
        self.assertEqual(counts.get("compile"), 1, "expected one kernel compile: %s" % sorted(real))
        self.assertFalse(setscene & set(self.GROUP),
                         "a kernel group member was restored from the cache: %s" % sorted(setscene))
        self.assertTrue(set(self.GROUP) <= real, "group members not rebuilt: %s" % sorted(set(self.GROUP) - real))
        if image:
            self.assertIn("rootfs", self.kartifacts.task_runs(result.output, image)[0],
                          "%s's do_rootfs did not run" % image)
        second = set(self.assert_one_compile(pn, image).values())
        self.assertNotEqual(first, second, "two compiles gave one build-id: the kernel is reproducible "
                            "and this case cannot see a broken group")
        # every kernel object now carries the second compile (replaced, not kept)
        with tempfile.TemporaryDirectory(dir=self.builddir) as work:
            for task, paths in sorted(self.kernel_objects(sstate, pn).items()):
                self.assertEqual(len(paths), 1, "%s objects: %s" % (task, paths))
                ids = set(self.kartifacts.sstate_kernel_ids(paths[0], work).values())
                self.assertEqual(ids, second, "%s object %s holds %s, not the rebuilt kernel %s"
                                 % (task, paths[0], ids, second))

        # a fresh TMPDIR from the same SSTATE_DIR restores that one compile
        fresh = os.path.join(self.builddir, "tmp-kernel-repro-fresh")
        self.track_for_cleanup(fresh)
        self.append_config('TMPDIR = "%s"\n' % fresh)
        result = bitbake(target)
        real, setscene, counts = self.kartifacts.task_runs(result.output, pn)
        self.logger.info("fresh TMPDIR build of %s: real tasks %s, restored %s"
                         % (pn, sorted(real), sorted(setscene)))
        self.assertNotIn("compile", counts, "a fresh TMPDIR recompiled the kernel")
        self.assertEqual(set(self.assert_one_compile(pn, image).values()), second)


@OETestTag("kernel-repro")
class KernelReproReproducible(KernelReproBase):

    def build(self, name, topdir, parent_sstate):
        """Build virtual/kernel in TMPDIR <topdir>/<name>/tmp with its own SSTATE_DIR."""
        tmpdir = os.path.join(topdir, name, "tmp")
        if os.path.exists(tmpdir):
            shutil.rmtree(tmpdir)
        # Like reproducible.py: nothing of the kernel from sstate (private,
        # empty SSTATE_DIR); only -native/-cross objects may come from the
        # parent SSTATE_DIR (the toolchain is not what is tested and is the
        # same for both builds).
        # BTF (pahole) is where reproducibility most often breaks: on when
        # pahole-native is provided (meta-oe), reported when it is not.
        btf = BTF_CONFIG if self.btf else ""
        self.write_config(textwrap.dedent("""\
            MACHINE = "%s"
            INHERIT += "kernel-repro"
            TMPDIR = "%s"
            SSTATE_DIR = "${TMPDIR}/sstate"
            SSTATE_MIRRORS = "file://.*/.*-native.* file://%s/PATH file://.*/.*-cross.* file://%s/PATH"
            """ % (MACHINE, tmpdir, parent_sstate, parent_sstate)) + btf)
        bitbake("--kill-server")
        bitbake("virtual/kernel")
        pn = self.kernel_pn()
        v = get_bb_vars(["DEPLOY_DIR_IMAGE", "PKGDEST", "DEPLOY_DIR_RPM", "KERNEL_PACKAGE_NAME"], pn)
        return tmpdir, v

    def test_kernel_reproducible(self):
        """Case 3: two builds from different TMPDIRs (the second path longer),
        no kernel sstate: deploy output and packages are identical."""
        # Read before any test config: later the SSTATE_DIR is the private one.
        topdir, parent_sstate = get_bb_var("TOPDIR"), get_bb_var("SSTATE_DIR")
        self.btf = pahole_native_provided()
        self.logger.info("BTF (KERNEL_DEBUG = \"True\"): %s" % ("on" if self.btf else
                         "off, pahole-native is not provided"))
        tmp_a, va = self.build("kernel-reproA", topdir, parent_sstate)
        tmp_b, vb = self.build("kernel-reproB-extended", topdir, parent_sstate)

        def files(root):
            out = {}
            for r, _d, fs in os.walk(root):
                for f in fs:
                    p = os.path.join(r, f)
                    if not os.path.islink(p):
                        out[os.path.relpath(p, root)] = p
            return out

        def same_bytes(a, b):
            return runCmd(["cmp", "-s", a, b], ignore_status=True).status == 0

        pairs = []
        # do_deploy output: the kernel recipe's deploy under its stable link
        # names (the files they point at carry a date-time in their names),
        # its packages-split tree (do_package) and its rpm packages.
        def deployed(root):
            return {n: os.path.realpath(os.path.join(root, n)) for n in os.listdir(root)
                    if os.path.islink(os.path.join(root, n)) and os.path.isfile(os.path.join(root, n))}

        da, db = deployed(va["DEPLOY_DIR_IMAGE"]), deployed(vb["DEPLOY_DIR_IMAGE"])
        self.assertTrue(da, "nothing deployed in %s" % va["DEPLOY_DIR_IMAGE"])
        self.assertEqual(sorted(da), sorted(db), "deploy: different file lists")
        pairs += [("deploy", n, da[n], db[n]) for n in sorted(da)]
        fa, fb = files(va["PKGDEST"]), files(vb["PKGDEST"])
        self.assertTrue(fa, "nothing in %s" % va["PKGDEST"])
        self.assertEqual(sorted(fa), sorted(fb), "packages-split: different file lists")
        pairs += [("packages-split", rel, fa[rel], fb[rel]) for rel in sorted(fa)]

        def rpms(v):
            return {os.path.basename(p): p for p in glob.glob(os.path.join(v["DEPLOY_DIR_RPM"], "*", "*.rpm"))
                    if os.path.basename(p).startswith(v["KERNEL_PACKAGE_NAME"] or "kernel")}

        rpms_a, rpms_b = rpms(va), rpms(vb)
        self.assertTrue(rpms_a, "no kernel rpm packages in %s" % va["DEPLOY_DIR_RPM"])
        self.assertEqual(sorted(rpms_a), sorted(rpms_b), "different rpm package lists")
        pairs += [("rpm", n, rpms_a[n], rpms_b[n]) for n in sorted(rpms_a)]

        different = [(w, rel, a, b) for (w, rel, a, b) in pairs if not same_bytes(a, b)]
        if not different:
            self.logger.info("%d files compared, all identical" % len(pairs))
            # Like reproducible.py the trees are kept on failure, for debugging.
            for t in (tmp_a, tmp_b):
                shutil.rmtree(os.path.dirname(t), ignore_errors=True)
            return

        save_root = os.environ.get("OEQA_DEBUGGING_SAVED_OUTPUT") or os.path.join(self.builddir, "kernel-repro-reports")
        os.makedirs(save_root, exist_ok=True)
        save_dir = tempfile.mkdtemp(prefix="kernel-repro-", dir=save_root)
        lines = []
        for what, rel, a, b in different:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", "%s-%s" % (what, rel))
            line = "%s %s" % (what, rel)
            try:
                rep = self.kdiff.diff(a, b)
            except self.kerrors.KernelReproError:
                rep = None  # not a kernel (modules tarball, rpm, ...): bytes only
            if rep is not None:
                path = os.path.join(save_dir, name + ".kernel-repro-diff.json")
                with open(path, "w") as f:
                    json.dump(rep, f, indent=2, default=str)
                line += ": %s [report %s]" % ("; ".join(rep.get("explanation", [])[:3]), path)
            if shutil.which("diffoscope"):
                html = os.path.join(save_dir, name + ".diffoscope")
                runCmd(["diffoscope", "--html-dir", html, a, b], ignore_status=True)
                line += " [diffoscope %s]" % html
            lines.append(line)
        self.fail("virtual/kernel is not reproducible (%s vs %s), %d of %d files differ; reports in %s:\n%s"
                  % (tmp_a, tmp_b, len(different), len(pairs), save_dir, "\n".join(lines)))


@OETestTag("kernel-repro", "runqemu")
class KernelReproRunqemu(KernelReproBase):

    # busybox (core-image-minimal) has xxd and hexdump but an od without
    # -A/-t (CONFIG_DESKTOP is off); coreutils images have od.
    DUMP = ("xxd -p /sys/kernel/notes 2>/dev/null || "
            "hexdump -v -e '1/1 \"%02x\"' /sys/kernel/notes 2>/dev/null || "
            "od -An -v -tx1 /sys/kernel/notes")

    def image_or_skip(self):
        image = selftest_image()
        if not image:
            self.skipTest("KERNEL_REPRO_SELFTEST_IMAGE is empty: no image to boot")
        return image

    def running_build_id(self, image):
        """Boot ``image`` with runqemu; -> (GNU build-id of the running kernel
        from /sys/kernel/notes read over the serial console, uname -r)."""
        with runqemu(image, ssh=False, runqemuparams="nographic") as qemu:
            status, output = qemu.run_serial(self.DUMP)
            self.assertEqual(status, 1, "reading /sys/kernel/notes failed: %s" % output)
            _s, release = qemu.run_serial("uname -r")
        hexdata = "".join(l.strip().replace(" ", "") for l in output.splitlines()
                          if re.fullmatch(r"[0-9a-fA-F ]+", l.strip()))
        self.assertTrue(hexdata and len(hexdata) % 2 == 0, "unexpected dump of /sys/kernel/notes: %r" % output)
        try:
            return self.kimage.notes_data_build_id(bytes.fromhex(hexdata)), release.strip()
        except self.kerrors.KernelReproError as e:
            self.fail("no build-id in the running kernel's notes: %s" % e)

    def test_running_kernel_matches_debug_vmlinux(self):
        """Case 4: the build-id of the running kernel (/sys/kernel/notes,
        read over the serial console) equals the debug vmlinux's."""
        self.write_config(ENABLED_CONFIG)
        image = self.image_or_skip()
        bitbake(image)
        pn = self.kernel_pn()
        _vmlinux, dbg = self.packaged_vmlinux(pn)
        running, release = self.running_build_id(image)
        debug = self.build_id(dbg)
        self.logger.info("running kernel %s: build-id %s; %s: %s" % (release, running, dbg, debug))
        self.assertEqual(running, debug, "the running kernel (%s) is not the one %s describes"
                         % (release, dbg))

    def test_running_kernel_resolves_through_oe_debuginfod(self):
        """Case 6: the running kernel's debug vmlinux is found by build-id
        through OE-Core's debuginfod over this build's rpm feed (what
        scripts/oe-debuginfod serves: elfutils-native's debuginfod -R -U on
        DEPLOY_DIR_RPM), with the debuginfod HTTP protocol, and it is the
        kernel that runs."""
        import socket
        import subprocess
        import time
        import urllib.request
        import kernelrepro.debuginfod as kdebuginfod
        self.write_config(ENABLED_CONFIG + textwrap.dedent("""\
            PACKAGE_CLASSES = "package_rpm"
            PACKAGECONFIG:append:pn-elfutils-native = " debuginfod libdebuginfod"
            """))
        image = self.image_or_skip()
        bitbake(image)
        bitbake("elfutils-native -c addto_recipe_sysroot")
        feed = get_bb_var("DEPLOY_DIR_RPM")
        running, release = self.running_build_id(image)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        work = tempfile.mkdtemp(prefix="kernel-repro-debuginfod-", dir=self.builddir)
        self.track_for_cleanup(work)
        server = subprocess.Popen(["oe-run-native", "elfutils-native", "debuginfod", "-R", "-U", feed,
                                   "-p", str(port), "-d", os.path.join(work, "did.sqlite")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=work)
        url = "http://127.0.0.1:%d" % port
        try:
            found = None
            deadline = time.monotonic() + 600  # indexing a kernel-dbg rpm
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    found = kdebuginfod.fetch(running, [url], work, 4 << 30, environ={})
                    break
                except self.kerrors.KernelReproError:
                    time.sleep(5)
            self.assertIsNotNone(found, "debuginfod at %s (feed %s) had no debug info for the running "
                                 "kernel %s within 10 minutes" % (url, feed, running))
            self.logger.info("running kernel %s (%s): %s" % (release, running, found.where()))
            self.assertEqual(self.build_id(found.path), running)
            self.assertIn("kernel-dbg", found.archive or "", "not served from the kernel-dbg rpm: %s" % found.where())
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


@OETestTag("kernel-repro", "kernel-repro-offline")
class KernelReproSignatures(OESelftestTestCase):

    TARGETS = "%s virtual/kernel" % IMAGE

    def sigs(self, name, bblayers="", extra=""):
        """Task signatures of TARGETS under a config (bitbake -S none, OEBasicHash,
        its own TMPDIR): {stamp path without the hash: (hash, sigdata file)}."""
        tmpdir = os.path.join(self.topdir, "tmp-kernel-repro-sigs-%s" % name)
        self.track_for_cleanup(tmpdir)
        self.write_bblayers_config(bblayers)
        self.write_config(textwrap.dedent("""\
            MACHINE = "%s"
            TMPDIR = "%s"
            BB_SIGNATURE_HANDLER = "OEBasicHash"
            """ % (MACHINE, tmpdir)) + extra)
        bitbake("%s -S none" % self.TARGETS)
        stamps = os.path.join(tmpdir, "stamps")
        out = {}
        for root, _dirs, files in os.walk(stamps):
            for f in files:
                if ".sigdata." in f:
                    key, h = f.rsplit(".sigdata.", 1)
                    out[os.path.join(os.path.relpath(root, stamps), key)] = (h, os.path.join(root, f))
        self.assertTrue(out, "bitbake -S none wrote no sigdata in %s" % stamps)
        return out

    @staticmethod
    def basehash(sigfile):
        import bb.compress.zstd
        import bb.siggen
        with bb.compress.zstd.open(sigfile, "rt", encoding="utf-8", num_threads=1) as f:
            return json.load(f, object_hook=bb.siggen.SetDecoder)["basehash"]

    def sigdiff(self, a, b, keys, limit=5):
        import bb.siggen
        text = []
        for k in sorted(keys)[:limit]:
            if k in a and k in b:
                text.append("%s:\n  %s" % (k, "\n  ".join(bb.siggen.compare_sigfiles(a[k][1], b[k][1]))))
            else:
                text.append("%s: only %s" % (k, "with" if k in b else "without"))
        return "\n".join(text)

    def test_signatures(self):
        """Case 5: adding the layer changes no task signature; enabling it
        (INHERIT += "kernel-repro") changes the signatures of kernel recipes
        only -- other recipes' tasks change only through their dependencies
        on the kernel, never their own basehash."""
        self.topdir = get_bb_var("TOPDIR")
        layers = get_bb_var("BBLAYERS").split()
        entry = [l for l in layers if os.path.realpath(l) == os.path.realpath(LAYER_DIR)]
        if not entry:
            self.skipTest("meta-kernel-repro (%s) is not in BBLAYERS" % LAYER_DIR)
        # A layer that needs this one (the project's offline tier-3 layer)
        # makes the configuration without it unparsable.
        dependents = [c for c in (get_bb_var("BBFILE_COLLECTIONS") or "").split()
                      if c != "kernel-repro"
                      and "kernel-repro" in (get_bb_var("LAYERDEPENDS_%s" % c) or "").split()]
        if dependents:
            self.skipTest("layer %s depends on kernel-repro: no configuration without it parses "
                          "here (tier 2 and yocto-check-layer compare these signatures)"
                          % " ".join(dependents))

        without = self.sigs("without", 'BBLAYERS:remove = "%s"\n' % entry[0])
        added = self.sigs("added")
        changed = sorted(k for k in set(without) | set(added)
                         if without.get(k, (None,))[0] != added.get(k, (None,))[0])
        self.assertFalse(changed, "adding the layer changed %d task signature(s):\n%s"
                         % (len(changed), self.sigdiff(without, added, changed)))

        enabled = self.sigs("enabled", extra='INHERIT += "kernel-repro"\n')
        changed = sorted(k for k in set(added) | set(enabled)
                         if added.get(k, (None,))[0] != enabled.get(k, (None,))[0])
        # Keys: <MULTIMACH_TARGET_SYS>/<PN>/<PV>-<PR>.<task>, or
        # work-shared/<BP>.<task> for shared source trees (gcc-source, ...).
        own = {}
        for k in changed:
            if k not in added or k not in enabled or self.basehash(added[k][1]) != self.basehash(enabled[k][1]):
                parts = k.split(os.sep)
                own.setdefault(parts[1] if len(parts) == 3 else k, []).append(k)
        kernel_pn = get_bb_var("PREFERRED_PROVIDER_virtual/kernel")
        self.assertIn(kernel_pn, own, "enabling the layer changed no signature of %s" % kernel_pn)
        self.assertTrue(any(k.endswith(".do_compile") for k in own[kernel_pn]),
                        "enabling the layer did not change %s's do_compile" % kernel_pn)
        not_kernel = []
        for pn in sorted(own):
            if os.sep in pn:  # a work-shared stamp: not a kernel recipe
                not_kernel.append(pn)
                continue
            included = get_bb_var("BBINCLUDED", pn) or ""
            if not any(i.endswith("/kernel.bbclass") for i in included.split()):
                not_kernel.append(pn)
        self.assertFalse(not_kernel, "enabling the layer changed the signatures of recipes that do not "
                         "inherit kernel: %s\n%s" % (", ".join(not_kernel),
                                                    self.sigdiff(added, enabled, [k for pn in not_kernel for k in own[pn]])))
        self.logger.info("enabling changed %d task signature(s); own changes only in %s: %s"
                         % (len(changed), ", ".join(sorted(own)), ", ".join(sorted(os.path.basename(k) for k in own[kernel_pn]))))
