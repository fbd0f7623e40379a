# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3: a kernel with a bundled initramfs (INITRAMFS_IMAGE_BUNDLE).

kernel.bbclass's do_bundle_initramfs links the initramfs image
(tests/tier3/layer's kr-t3-initramfs, made by OE-Core's real do_rootfs and
do_image_cpio) into vmlinux again and deploys the result as
bzImage-initramfs-*.bin -- what the device boots -- and, with vmlinux
among KERNEL_IMAGETYPES, the relinked vmlinux as vmlinux-initramfs-*.bin.
kernel-dbg holds the vmlinux *before* the relink: another ELF, so another
build-id. These tests show what that means on real files and what the
layer records and checks (docs/layer.md, "A bundled initramfs").

The kernel is non-reproducible on purpose (KR_T3_NONREPRODUCIBLE: each
compile's banner names another build host), so the banner tells compiles
apart where the build-id cannot (the relink changes it anyway):

  u0  without the layer (the control): the deploy object lost and the
      kernel cleaned: deploy and its bundle come from a new compile while
      kernel-dbg and kernel-vmlinux are restored from the old one
  u1  with the layer: one compile; the bundled kernel's build-id differs
      from kernel-dbg's and its later sections sit at other addresses
      (so kernel-dbg is not its debug file); vmlinux-initramfs is, and the
      layer's bundle record names the relink and the compile it came from
  u2  with the layer, the same loss as u0: one compile everywhere, the
      bundle included
"""

import glob
import os
import re

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import PN

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

STATE = t3env.Carried()
HOST = re.compile(rb"kr-t3-[0-9a-f]{12}")


def deployed(pattern):
    deploy = t3env.paths()["deploy"]
    found = [p for p in glob.glob(os.path.join(deploy, pattern)) if not os.path.islink(p)]
    assert len(found) == 1, (pattern, sorted(os.listdir(deploy)))
    return found[0]


def build_host(path):
    """The build host in the kernel's banner (one per compile, the recipe's
    KR_T3_NONREPRODUCIBLE): read from the uncompressed ELF."""
    with open(path, "rb") as f:
        hosts = set(HOST.findall(f.read()))
    assert len(hosts) == 1, (path, hosts)
    return hosts.pop().decode()


def layout(path):
    """{allocated section: (address, size)} of an ELF (pyelftools: the test's
    own reader, not the library's)."""
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return {s.name: (s["sh_addr"], s["sh_size"]) for s in elf.iter_sections()
                if s["sh_flags"] & 0x2}


def copies(work):
    """The kernel recipe's outputs (t3env.output_ids) and the bundle's."""
    ids = t3env.output_ids(work)
    bz = deployed("bzImage-initramfs-*.bin")
    vm = deployed("vmlinux-initramfs-*.bin")
    out = {"ids": t3env.build_ids(ids), "paths": {k: v[1] for k, v in ids.items()},
           "bundle bzImage": t3env.image.read_build_id(bz), "bundle vmlinux": t3env.image.read_build_id(vm),
           "bz": bz, "vm": vm}
    dbg = [k for k in ids if k.startswith("kernel-dbg rpm")]
    vml = [k for k in ids if k.startswith("kernel-vmlinux rpm")]
    out["dbg"], out["dbg_path"] = ids[dbg[0]][0], ids[dbg[0]][1]
    out["vmlinux_path"] = ids[vml[0]][1]
    return out


def fresh(sstate):
    t3env.empty_dir("sstate", sstate)
    t3env.empty_dir("sstate-mirror", "none")
    t3env.fresh_tmpdir()


def lose_deploy_and_rebuild(conf, what):
    assert t3env.delete_objects(["deploy"])
    t3env.bitbake("-c clean %s" % PN, conf, what="%s: -c clean" % what)
    return t3env.bitbake(PN, conf, what="%s: rebuild" % what)


def test_u0_control_bundle_of_another_compile_without_the_layer(work):
    fresh("bundle-plain")
    b = t3env.bitbake(PN, "bundle-plain", what="u0: bundled kernel, layer not enabled")
    assert b.compiles == 1
    assert "bundle_initramfs" in b.real, sorted(b.real)
    first = copies(work)
    assert first["bundle bzImage"] == first["bundle vmlinux"]
    assert build_host(first["vm"]) == build_host(first["vmlinux_path"]), "one build: one banner"
    b = lose_deploy_and_rebuild("bundle-plain", "u0 {deploy}")
    assert b.compiles == 1
    assert "package_write_rpm" in b.setscene or "package" in b.setscene, sorted(b.setscene)
    now = copies(work)
    # the mix: what boots (the new bundle) is another compile than the
    # packaged kernel (restored), and nothing said so
    assert not b.errors()
    assert build_host(now["vm"]) != build_host(now["vmlinux_path"]), \
        "control: without the layer the bundle and the packaged kernel come from two compiles"
    assert now["dbg"] == first["dbg"], "kernel-dbg was restored from the first compile"


def test_u1_bundle_with_the_layer(work):
    fresh("bundle")
    b = t3env.bitbake(PN, "bundle", what="u1: bundled kernel, layer enabled")
    assert b.compiles == 1
    assert "bundle_initramfs" in b.real and "kernel_repro_verify" in b.real, sorted(b.real)
    c = copies(work)
    compile_id = t3env.one_compile({k: (v, None) for k, v in c["ids"].items()}, "u1")
    # the relink: another ELF, another build-id, and the bundled image is it
    assert c["bundle bzImage"] == c["bundle vmlinux"]
    assert c["bundle vmlinux"] != compile_id, "the bundle has the compile's build-id?"
    # same compile: the same banner as the packaged (unbundled) vmlinux
    assert build_host(c["vm"]) == build_host(c["vmlinux_path"])
    # kernel-dbg is not the bundle's debug file: sections at other addresses
    a, d = layout(c["vm"]), layout(c["dbg_path"])
    moved = sorted(n for n in set(a) & set(d) if a[n][0] != d[n][0])
    grown = sorted(n for n in set(a) & set(d) if a[n][1] != d[n][1])
    print("\nu1: sections at another address in the bundle: %s; of another size: %s" % (moved, grown))
    assert moved, "the bundle's layout equals kernel-dbg's: the layer's warning would be wrong"
    assert ".bss" in moved, moved
    # the layer's record of the bundle, deployed beside it
    rec = deployed("bzImage-initramfs-*.buildid")
    r = t3env.fingerprint.read_record(rec)
    assert r["build_id"] == c["bundle bzImage"], r
    assert r.get("source") == "bundle-of:" + compile_id, r
    # the library's own check: the bundle against vmlinux-initramfs matches,
    # against kernel-dbg it does not
    from kernelrepro import check
    assert check.check(c["bz"], c["vm"])["match"]
    assert not check.check(c["bz"], c["dbg_path"])["match"]
    STATE["u1"] = compile_id


def test_u2_deploy_lost_with_the_layer(work):
    first = STATE["u1"]
    b = lose_deploy_and_rebuild("bundle", "u2 {deploy}")
    assert b.compiles == 1
    assert not (b.setscene & set(t3env.BINARY_TASKS)), sorted(b.setscene)
    c = copies(work)
    now = t3env.one_compile({k: (v, None) for k, v in c["ids"].items()}, "u2")
    assert now != first, "two compiles gave one build-id: the scenario proves nothing"
    assert build_host(c["vm"]) == build_host(c["vmlinux_path"]), "bundle and packages: one compile"
    r = t3env.fingerprint.read_record(deployed("bzImage-initramfs-*.buildid"))
    assert r["build_id"] == c["bundle bzImage"] and r.get("source") == "bundle-of:" + now, r
