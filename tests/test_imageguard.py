# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The image level (lib/kernelrepro/imageguard.py and its use in the sstate
hash check): consumers of a rebuilt kernel are not restored, images hold a
record of their kernel, a kernel's clean invalidates the images that held
it. Each safety test has its control: the same inputs without the kernel
rebuild (or without the mark) keep the consumer."""

import os

import pytest

from kernelrepro import fingerprint, imageguard as ig, sstategroup as sg
from test_sstategroup import FakeD, KERNELS, LY, BUSY, MOD, all_tids, group_of, make_siggen, sq

IMG = "/src/meta/recipes-core/images/core-image-minimal.bb"
IMG_TASKS = ["do_rootfs", "do_image", "do_image_cpio", "do_image_complete", "do_populate_lic_deploy"]


def graph():
    """A task graph like BitBake's (siggen.runtaskdeps: (pnid, tid) pairs):
    the image's rootfs needs every package feed, the module's do_package
    needs the kernel's pkgdata, busybox needs nothing of the kernel."""
    deps = {}
    for tid in all_tids():
        deps.setdefault(tid, [])
    feeds = [LY + ":do_package_write_rpm", BUSY + ":do_package_write_rpm", MOD + ":do_package_write_rpm"]
    deps[MOD + ":do_package"] = [("linux-yocto:do_packagedata", LY + ":do_packagedata")]
    deps[MOD + ":do_package_write_rpm"] = [("hello-mod:do_package", MOD + ":do_package")]
    deps[MOD + ":do_packagedata"] = [("hello-mod:do_package", MOD + ":do_package")]
    deps[IMG + ":do_rootfs"] = [("x", f) for f in feeds]
    deps[IMG + ":do_image"] = [("x", IMG + ":do_rootfs")]
    deps[IMG + ":do_image_cpio"] = [("x", IMG + ":do_image")]
    deps[IMG + ":do_image_complete"] = [("x", IMG + ":do_image_cpio")]
    deps[IMG + ":do_populate_lic_deploy"] = []
    return deps


def known_tids():
    return all_tids() | {IMG + ":" + t for t in IMG_TASKS}


def siggen_with_graph():
    known = known_tids()
    s = make_siggen(known, KERNELS)
    s.runtaskdeps = graph()
    return s


def test_downstream_follows_the_graph_both_tuple_and_plain():
    deps = graph()
    down = ig.downstream({LY + ":do_package_write_rpm"}, deps)
    assert IMG + ":do_image_complete" in down and IMG + ":do_rootfs" in down
    assert IMG + ":do_populate_lic_deploy" not in down
    assert not any(t.startswith(BUSY) for t in down)
    plain = {t: [d[1] for d in v] for t, v in deps.items()}
    assert ig.downstream({LY + ":do_package_write_rpm"}, plain) == down
    assert MOD + ":do_package_write_rpm" in ig.downstream({LY + ":do_packagedata"}, deps)


def _orig(present):
    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}
    return orig


def test_consumers_of_a_rebuilt_kernel_are_not_restored(tmp_path):
    """The kernel's deploy object is lost: the group is rebuilt (one new
    compile) and the image and module objects, which hold the old compile,
    are refused and marked stale -- listed in the stale index."""
    known = known_tids()
    present = known - {LY + ":do_deploy"}
    paths = {}
    for i, tid in enumerate(sorted(present)):
        p = tmp_path / ("o%d.tar.zst" % i)
        p.write_bytes(b"x")
        paths[tid] = str(p)
    index = str(tmp_path / sg.STALE_INDEX)
    notes = []
    got = sg.checkhashes_with_groups(_orig(present), sq(known), FakeD(), siggen_with_graph(),
                                     log=notes.append, local_path=lambda t, d: paths.get(t),
                                     index_dir=index)
    consumers = {IMG + ":do_image_complete", IMG + ":do_rootfs", IMG + ":do_image",
                 IMG + ":do_image_cpio", MOD + ":do_package", MOD + ":do_package_write_rpm",
                 MOD + ":do_packagedata"}
    assert not (got & consumers)
    assert IMG + ":do_populate_lic_deploy" in got and BUSY + ":do_package_write_rpm" in got
    assert sg.is_marked_stale(paths[IMG + ":do_image_complete"])
    assert os.path.basename(paths[IMG + ":do_image_complete"]) in os.listdir(index)
    assert any("core-image-minimal.bb: not restoring" in n and "do_image_complete" in n
               and "rebuilt in this build" in n for n in notes), notes


def test_control_complete_kernel_group_keeps_consumers(tmp_path):
    """Control: the same cache with the kernel group whole restores everything."""
    known = known_tids()
    got = sg.checkhashes_with_groups(_orig(known), sq(known), FakeD(), siggen_with_graph(),
                                     local_path=lambda t, d: None, index_dir=str(tmp_path / "i"))
    assert got == known


def test_stale_listed_image_object_is_refused_next_time(tmp_path):
    """An image object marked by the image check (kernel not rebuilt this
    time): refused, so do_rootfs runs again; once the mark is cleared (the
    replacement), it is restored again."""
    known = known_tids()
    obj = tmp_path / "img.tar.zst"
    obj.write_bytes(b"x")
    index = str(tmp_path / sg.STALE_INDEX)
    local = {IMG + ":do_image_complete": str(obj)}
    assert sg.mark_stale(str(obj), index) is None
    run = lambda: sg.checkhashes_with_groups(_orig(known), sq(known), FakeD(), siggen_with_graph(),
                                             local_path=lambda t, d: local.get(t), index_dir=index)
    assert IMG + ":do_image_complete" not in run()
    assert sg.clear_stale(str(obj), index) is None
    assert os.listdir(index) == []
    assert IMG + ":do_image_complete" in run()


def test_image_record_check_names_every_copy():
    a, b = "aa" * 20, "bb" * 20
    ids = ig.image_ids("core-image-minimal", "linux-yocto", a, b, b, "deploy bzImage")
    with pytest.raises(fingerprint.FingerprintMismatch) as e:
        ig.check_image("core-image-minimal", "linux-yocto", ids)
    msg = str(e.value)
    assert "image core-image-minimal rootfs=%s" % a in msg
    assert "linux-yocto pkgdata/kernel-dbg=%s" % b in msg and "linux-yocto deploy bzImage=%s" % b in msg
    assert "run `bitbake core-image-minimal` again" in msg
    assert ig.check_image("x", "k", ig.image_ids("x", "k", a, a.upper(), None)) == a
    assert ig.check_image("x", "k", ig.image_ids("x", "k", a, None, None)) is None


def test_stamps_of_the_rootfs_and_image_tasks_only(tmp_path):
    stamp = str(tmp_path / "core-image-minimal" / "1.0-r0")
    os.makedirs(os.path.dirname(stamp))
    names = ["do_rootfs.abc", "do_rootfs.sigdata.abc", "do_image.abc", "do_image_cpio.abc",
             "do_image_complete_setscene.abc", "do_image_complete.abc", "do_fetch.abc",
             "do_populate_lic_deploy.abc", "do_image_qa.abc.taint"]
    for n in names:
        open(stamp + "." + n, "w").close()
    gone = ig.remove_stamps(stamp)
    assert sorted(os.path.basename(p)[len("1.0-r0."):] for p in gone) == sorted(
        ["do_rootfs.abc", "do_image.abc", "do_image_cpio.abc", "do_image_complete_setscene.abc",
         "do_image_complete.abc"])
    left = sorted(os.listdir(os.path.dirname(stamp)))
    assert "1.0-r0.do_fetch.abc" in left and "1.0-r0.do_rootfs.sigdata.abc" in left


def test_clean_of_the_kernel_invalidates_registered_images(tmp_path):
    reg = str(tmp_path / "consumers")
    stamp = str(tmp_path / "stamps" / "img" / "1.0-r0")
    os.makedirs(os.path.dirname(stamp))
    open(stamp + ".do_rootfs.h", "w").close()
    open(stamp + ".do_image_complete_setscene.h", "w").close()
    ig.register_consumer(reg, "linux-yocto", "img", stamp)
    ig.register_consumer(reg, "linux-yocto", "img", stamp)  # idempotent
    assert ig.consumers(reg, "linux-yocto") == {"img": stamp}
    assert ig.invalidate_consumers(reg, "linux-other") == {}
    gone = ig.invalidate_consumers(reg, "linux-yocto")
    assert len(gone["img"]) == 2 and os.listdir(os.path.dirname(stamp)) == []


# ------------------------------------------------------------ image files

def _newc(members):
    """A newc cpio archive of {name: bytes} (regular files) + trailer."""
    out = b""
    for ino, (name, data) in enumerate(list(members.items()) + [("TRAILER!!!", b"")]):
        n = name.encode() + b"\0"
        mode = 0o100644 if name != "TRAILER!!!" else 0
        fields = [ino + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0]
        head = b"070701" + b"".join(b"%08X" % v for v in fields)
        out += head + n + b"\0" * ((-(len(head) + len(n))) % 4) + data + b"\0" * ((-len(data)) % 4)
    return out


def test_cpio_members_reads_what_is_wanted_and_writes_nothing(tmp_path):
    import gzip
    from kernelrepro import artifacts
    rec = fingerprint.format_record("ab" * 20, "linux-kr-t3").encode()
    img = tmp_path / "image.cpio.gz"
    img.write_bytes(gzip.compress(_newc({"./usr/share/kernel-repro/linux-kr-t3.buildid": rec,
                                         "../../escape": b"x", "./bin/busybox": b"y" * 1000})))
    before = set(os.listdir(tmp_path))
    got = artifacts.cpio_members(str(img), lambda n: n.endswith(".buildid") or "escape" in n)
    assert got == {"./usr/share/kernel-repro/linux-kr-t3.buildid": rec, "../../escape": b"x"}
    assert set(os.listdir(tmp_path)) == before and not (tmp_path.parent / "escape").exists()
    ids = artifacts.image_kernel_ids(str(img), str(tmp_path / "w"))
    assert list(ids.values()) == ["ab" * 20]
    assert list(ids) == ["./usr/share/kernel-repro/linux-kr-t3.buildid"]


@pytest.mark.parametrize("cut", [50, 200, -20])
def test_cpio_members_truncated_or_foreign_is_one_error(tmp_path, cut):
    from kernelrepro import artifacts
    from kernelrepro.errors import KernelReproError
    data = _newc({"./boot/x.buildid": b"z" * 300})
    p = tmp_path / "t.cpio"
    p.write_bytes(data[:cut])
    with pytest.raises(KernelReproError):
        artifacts.cpio_members(str(p), lambda n: True)
    p.write_bytes(b"not a cpio archive at all, no no no" * 4)
    with pytest.raises(KernelReproError, match="not a newc cpio"):
        artifacts.cpio_members(str(p), lambda n: True)
