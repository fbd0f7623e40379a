# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The kernel build-id fingerprint (lib/kernelrepro/fingerprint.py).

Unit tests over records and messages, the ELF fallback reader against
readelf on a small compiled program, and (marker "kernel") the check on two
real, different builds of the same kernel from the fixture builder.
"""

import os
import shutil
import subprocess

import pytest

from kernelrepro import fingerprint as fp
from kernelrepro.errors import KernelReproError

from conftest import readelf_build_id

A = "0123456789abcdef0123456789abcdef01234567"
B = "fedcba9876543210fedcba9876543210fedcba98"


def test_record_roundtrip(tmp_path):
    p = fp.write_record(str(tmp_path / "k" / "linux-yocto.buildid"), A.upper(), "linux-yocto",
                        source="compile:abc")
    rec = fp.read_record(p)
    assert rec == {"build_id": A, "recipe": "linux-yocto", "source": "compile:abc"}
    assert not os.path.exists(p + ".tmp")


def test_read_record_missing_is_none(tmp_path):
    assert fp.read_record(str(tmp_path / "nope")) is None


@pytest.mark.parametrize("text", ["", "something else\nbuild_id=" + A,
                                  fp.FORMAT + "\nbuild_id=xyz\n"])
def test_parse_record_rejects(text):
    with pytest.raises(KernelReproError):
        fp.parse_record(text)


def test_format_record_rejects_non_hex():
    with pytest.raises(KernelReproError):
        fp.format_record("not-a-build-id", "linux-yocto")


def test_deploy_names():
    assert fp.deploy_names("bzImage", "qemux86-64-20260101") == \
        ("bzImage-qemux86-64-20260101.buildid", "bzImage.buildid")
    assert fp.deploy_names("bzImage", "x", "qemux86-64") == \
        ("bzImage-x.buildid", "bzImage-qemux86-64.buildid")


def test_pkgdata_path():
    assert fp.pkgdata_path("/p", "linux-yocto") == "/p/kernel-repro/linux-yocto.buildid"


def test_check_pair_equal_and_absent():
    assert fp.check_pair("linux-yocto", [("deploy", A), ("pkgdata", A.upper())]) == A
    assert fp.check_pair("linux-yocto", [("deploy", A), ("pkgdata", None)]) == A
    assert fp.check_pair("linux-yocto", []) is None


def test_check_pair_mismatch_message():
    with pytest.raises(fp.FingerprintMismatch) as ei:
        fp.check_pair("linux-yocto", [("deploy", A), ("pkgdata", B)], "core-image-minimal")
    msg = str(ei.value)
    assert "linux-yocto" in msg and A in msg and B in msg
    assert "bitbake -c cleansstate linux-yocto && bitbake core-image-minimal" in msg
    assert "mirror" in msg
    assert ei.value.recipe == "linux-yocto"
    assert ei.value.ids == {"deploy": A, "pkgdata": B}


def _compile(tmp_path, build_id_opt):
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    src = tmp_path / "x.c"
    src.write_text("int main(void){return 0;}\n")
    out = tmp_path / "x"
    subprocess.run(["gcc", "-o", str(out), str(src), "-Wl,--build-id=" + build_id_opt],
                   check=True)
    return str(out)


def test_read_build_id_matches_readelf(tmp_path):
    exe = _compile(tmp_path, "sha1")
    assert fp.read_build_id(exe) == readelf_build_id(exe)


def test_read_build_id_without_one(tmp_path):
    from kernelrepro.errors import KernelReproError
    exe = _compile(tmp_path, "none")
    with pytest.raises(KernelReproError):
        fp.read_build_id(exe)
    with pytest.raises(KernelReproError):
        fp.read_build_id(__file__)  # not ELF


def test_read_build_id_needs_only_the_standard_library(tmp_path):
    """The build host's python may lack pyelftools/zstandard/lz4: ELF still reads."""
    import subprocess
    import sys
    exe = _compile(tmp_path, "sha1")
    lib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")
    code = ("import sys; sys.modules['elftools'] = None; sys.modules['zstandard'] = None; "
            "sys.modules['lz4'] = None; sys.path.insert(0, %r); "
            "from kernelrepro import fingerprint; print(fingerprint.read_build_id(%r))" % (lib, exe))
    out = subprocess.run([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE, text=True, check=True)
    assert out.stdout.strip() == readelf_build_id(exe)


# ---------------------------------------------------------------- real kernels

@pytest.mark.kernel
def test_fingerprint_matching_deploy_and_debug_pair(plain_a, tmp_path):
    """Deployed bzImage and packaged vmlinux of one compile: the check passes."""
    vmlinux = plain_a.path("vmlinux")
    bzimage = plain_a.path("bzImage")
    bid = fp.read_build_id(vmlinux)
    assert bid == readelf_build_id(vmlinux)
    # what the class does: record at compile, carry to deploy and pkgdata
    rec = fp.write_record(str(tmp_path / "kernel-repro.buildid"), bid, "linux-yocto")
    deployed = fp.read_record(rec)["build_id"]
    assert fp.check_pair("linux-yocto", [("deploy", deployed),
                                         ("deploy bzImage", fp.read_build_id(bzimage)),
                                         ("packaged vmlinux", fp.read_build_id(vmlinux))]) == bid


@pytest.mark.kernel
def test_fingerprint_mixed_pair_from_two_builds_fails(plain_a, plain_b):
    """bzImage of build a deployed, vmlinux of build b packaged: the error names both ids."""
    deploy = fp.read_build_id(plain_a.path("bzImage"))
    debug = fp.read_build_id(plain_b.path("vmlinux"))
    assert deploy != debug, "the two fixture builds are expected to differ"
    with pytest.raises(fp.FingerprintMismatch) as ei:
        fp.check_pair("linux-yocto", [("deploy", deploy), ("kernel-vmlinux", debug)],
                      "core-image-minimal")
    msg = str(ei.value)
    assert deploy in msg and debug in msg and "linux-yocto" in msg
    assert "bitbake -c cleansstate linux-yocto" in msg


def test_task_runs_reads_real_and_setscene_tasks_of_one_recipe():
    """The bitbake console lines tier 3 and the selftests count compiles with."""
    from kernelrepro import artifacts
    out = "\n".join([
        "NOTE: Running setscene task 3 of 9 (/l/recipes-kernel/linux/linux-yocto_6.18.bb:do_package_write_rpm_setscene)",
        "NOTE: Running task 10 of 28 (/l/recipes-kernel/linux/linux-yocto_6.18.bb:do_compile)",
        "NOTE: Running task 11 of 28 (/l/recipes-kernel/linux/linux-yocto_6.18.bb:do_deploy)",
        "NOTE: Running task 12 of 28 (/l/recipes-kernel/linux/linux-yocto-rt_6.18.bb:do_compile)",
        "NOTE: Running task 13 of 28 (virtual:native:/l/x/linux-yocto-tools.bb:do_compile)",
        "NOTE: recipe linux-yocto-6.18-r0: task do_compile: Started",
    ])
    real, setscene, counts = artifacts.task_runs(out, "linux-yocto")
    assert real == {"compile", "deploy"} and setscene == {"package_write_rpm"}
    assert counts == {"compile": 1, "deploy": 1}
    assert artifacts.task_runs(out, "linux-yocto-rt")[2] == {"compile": 1}
    assert artifacts.task_runs("", "linux-yocto") == (set(), set(), {})
    # multiconfig: one recipe, two configurations
    mc = out + "\n" + "\n".join([
        "NOTE: Running task 30 of 40 (mc:krmc:/l/recipes-kernel/linux/linux-yocto_6.18.bb:do_compile)",
        "NOTE: Running setscene task 31 of 40 (mc:krmc:/l/recipes-kernel/linux/linux-yocto_6.18.bb:do_deploy_setscene)",
    ])
    assert artifacts.task_runs(mc, "linux-yocto")[2] == {"compile": 2, "deploy": 1}
    assert artifacts.task_runs(mc, "linux-yocto", mc="")[2] == {"compile": 1, "deploy": 1}
    assert artifacts.task_runs(mc, "linux-yocto", mc="krmc") == ({"compile"}, {"deploy"}, {"compile": 1})


def test_sstate_object_names_give_recipe_and_task():
    from kernelrepro import artifacts
    h = "06f485ee1356677e66776c4d8be1a8570bc553aed906c7eb4710750ae95531b7"
    base = "sstate:linux-kr-t3:qemux86_64-oe-linux:6.1:r0:qemux86_64:14:" + h
    assert artifacts.sstate_task(base + "_package_write_rpm.tar.zst") == ("linux-kr-t3", "package_write_rpm")
    assert artifacts.sstate_task(base + "_create_package_spdx.tar.zst") == ("linux-kr-t3", "create_package_spdx")
    assert artifacts.sstate_task(base + "_deploy.tar.zst") == ("linux-kr-t3", "deploy")
    assert artifacts.sstate_task(base + "_deploy.tar.zst.siginfo") is None
    assert artifacts.sstate_task(base + "_deploy.tar.zst.kernel-repro-stale") is None


# ---------------------------------------------------------------- a second kernel

def _pkgdata_two_kernels(root):
    """pkgdata as kernel.bbclass leaves it for two kernel recipes (the
    preferred linux-yocto, KERNEL_PACKAGE_NAME "kernel"; linux-alt,
    KERNEL_PACKAGE_NAME "altkernel"): <name>-depmod/<name>-abiversion."""
    for pn, name, release in (("linux-yocto", "kernel", "6.1.192"),
                              ("linux-alt", "altkernel", "6.1.192-alt")):
        (root / pn).write_text("PACKAGES: %s-buildid %s %s-base %s-vmlinux %s-dbg\n"
                               "PV: 6.1\n" % ((pn,) + (name,) * 4))
        (root / (name + "-depmod")).mkdir()
        (root / (name + "-depmod") / (name + "-abiversion")).write_text(release + "\n")
    return root


def test_kernel_release_of_each_kernel_recipe(tmp_path):
    pkgdata = _pkgdata_two_kernels(tmp_path)
    assert fp.kernel_release(str(pkgdata), "linux-yocto") == "6.1.192"
    assert fp.kernel_release(str(pkgdata), "linux-alt") == "6.1.192-alt"
    assert fp.kernel_release(str(pkgdata), "busybox") is None
    (pkgdata / "kernel-depmod" / "kernel-abiversion").write_text("\n")
    assert fp.kernel_release(str(pkgdata), "linux-yocto") is None


@pytest.mark.kernel
def test_rootfs_with_a_second_kernel_checks_the_preferred_one_only(plain_a, plain_b, tmp_path):
    """Issue 13 item 7: a rootfs holding the preferred kernel (compile a)
    and a second kernel recipe's files (compile b): only the preferred
    kernel's release is compared with its pkgdata -- no false error. What
    the check did before (every /boot/vmlinux-*) mixes the two."""
    (tmp_path / "pkgdata").mkdir()
    pkgdata = _pkgdata_two_kernels(tmp_path / "pkgdata")
    boot = tmp_path / "rootfs" / "boot"
    boot.mkdir(parents=True)
    for name, src in (("vmlinux-6.1.192", plain_a.path("vmlinux")),
                      ("bzImage-6.1.192", plain_a.path("bzImage")),
                      ("vmlinux-6.1.192-alt", plain_b.path("vmlinux")),
                      ("bzImage-6.1.192-alt", plain_b.path("bzImage"))):
        shutil.copyfile(src, str(boot / name))
    os.symlink("bzImage-6.1.192", str(boot / "bzImage"))
    a = fp.read_build_id(plain_a.path("vmlinux"))
    b = fp.read_build_id(plain_b.path("vmlinux"))
    assert a != b
    rootfs = str(tmp_path / "rootfs")

    def ids(release):
        return [("pkgdata", a)] + [("rootfs " + where, fp.read_build_id(path))
                                   for where, path in fp.rootfs_kernel_files(rootfs, "bzImage", release)]

    release = fp.kernel_release(str(pkgdata), "linux-yocto")
    got = ids(release)
    assert [w for w, _ in got] == ["pkgdata", "rootfs /boot/vmlinux-6.1.192", "rootfs /boot/bzImage-6.1.192"]
    assert fp.check_pair("linux-yocto", got) == a
    # the second kernel's own files, against its own compile
    alt = fp.rootfs_kernel_files(rootfs, "bzImage", fp.kernel_release(str(pkgdata), "linux-alt"))
    assert [w for w, _ in alt] == ["/boot/vmlinux-6.1.192-alt", "/boot/bzImage-6.1.192-alt"]
    # without the release (the old behaviour): both kernels, a false error
    with pytest.raises(fp.FingerprintMismatch):
        fp.check_pair("linux-yocto", ids(None))
