# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""sstateshare: builders sharing one SSTATE_DIR publish one compile per
kernel group. Real processes race on a real directory with OE-Core's
object rule (os.link: the first object written under a name is kept) and
bb.utils.lockfile; the control runs the same race without settling and
shows the mixed complete group."""

import io
import multiprocessing
import os
import random
import tarfile
import time

import pytest

pytest.importorskip("bb.utils", reason="needs bitbake-setup's bb package (bb.utils.lockfile)")

from kernelrepro import fingerprint as fp  # noqa: E402
from kernelrepro import sstategroup as sg  # noqa: E402
from kernelrepro import sstateshare  # noqa: E402

MEMBERS = ("deploy", "package", "packagedata", "package_write_rpm")
HASH = "c" * 64


def make_object(path, build_id, source=""):
    """A tar (sstate objects may be zstd, gzip, xz or plain tar) holding a
    build-id record, as the layer's group objects do."""
    data = fp.format_record(build_id, "linux-test", source).encode()
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("./kernel-repro/linux-test.buildid")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def oe_create(obj, build_id):
    """sstate_create_and_sign_package: write beside, link into place; an
    existing object is kept (first writer wins)."""
    tmp = "%s.%d.tmp" % (obj, os.getpid())
    make_object(tmp, build_id)
    try:
        os.link(tmp, obj)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def builder(cache, build_id, settle, seed, start):
    rnd = random.Random(seed)
    while time.time() < start:
        time.sleep(0.001)
    sstateshare.drop_claim(cache, HASH)            # this build compiled (do_compile postfunc)
    for m in rnd.sample(MEMBERS, len(MEMBERS)):   # tasks finish in any order
        time.sleep(rnd.random() * 0.02)
        obj = os.path.join(cache, "sstate:linux-test:%s_%s.tar" % (HASH[:8], m))
        oe_create(obj, build_id)
        if settle:
            sstateshare.settle(obj, build_id, HASH, cache, "linux-test",
                               create=lambda path: make_object(path, build_id))


def held(cache):
    out = {}
    for m in MEMBERS:
        obj = os.path.join(cache, "sstate:linux-test:%s_%s.tar" % (HASH[:8], m))
        out[m] = sstateshare.object_compiles(obj) if os.path.exists(obj) else set()
    return out


def race(tmp_path, settle, rounds):
    """``rounds`` races of two builders (compiles a*40, b*40) on a fresh
    cache each -> list of {member: build-ids held} at the end."""
    ctx = multiprocessing.get_context("fork")
    results = []
    for r in range(rounds):
        cache = str(tmp_path / ("%s-%d" % (settle, r)))
        os.makedirs(cache)
        start = time.time() + 0.05
        procs = [ctx.Process(target=builder, args=(cache, bid, settle, r * 2 + i, start))
                 for i, bid in enumerate(("a" * 40, "b" * 40))]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        results.append(held(cache))
    return results


def mixed(result):
    ids = set().union(*result.values())
    complete = all(result[m] for m in MEMBERS)
    return complete and len(ids) > 1


def test_control_two_builders_without_settling_leave_a_mixed_complete_group(tmp_path):
    results = race(tmp_path, settle=False, rounds=20)
    assert any(mixed(r) for r in results), "the race never mixed: the test cannot show the fix"


def test_two_builders_settle_one_compile(tmp_path):
    results = race(tmp_path, settle=True, rounds=20)
    for r in results:
        ids = set().union(*r.values())
        assert len(ids) == 1, r                     # one compile in the cache
        assert all(len(v) == 1 for v in r.values()), r


@pytest.mark.parametrize("claim, ours, held_ids, want", [
    ("x", "x", {"x"}, "keep"),
    ("x", "x", {"y"}, "replace"),
    ("x", "x", set(), "replace"),
    ("x", "y", {"y"}, "remove"),
    ("x", "y", {"x"}, "keep"),
    ("x", "y", set(), "keep"),
])
def test_decide(claim, ours, held_ids, want):
    assert sstateshare.decide(claim, ours, held_ids) == want


def test_settle_replaces_a_stale_member_and_clears_its_mark(tmp_path):
    """The single-builder case the stale marks were made for: the hash
    check refused an object of an older compile; this compile replaces it."""
    cache = str(tmp_path)
    obj = os.path.join(cache, "sstate:linux-test:x_deploy.tar")
    make_object(obj, "a" * 40)
    sg.mark_stale(obj)
    got = sstateshare.settle(obj, "b" * 40, HASH, cache, "linux-test",
                             create=lambda path: make_object(path, "b" * 40))
    assert got == "replace"
    assert sstateshare.object_compiles(obj) == {"b" * 40}
    assert not sg.is_marked_stale(obj)


def test_object_without_a_record_is_left_alone(tmp_path):
    obj = str(tmp_path / "sstate:linux-test:x_create_spdx.tar")
    with tarfile.open(obj, "w") as tf:
        info = tarfile.TarInfo("./spdx/linux-test.spdx.json")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"{}"))
    got = sstateshare.settle(obj, "b" * 40, HASH, str(tmp_path), "linux-test",
                             create=lambda path: pytest.fail("must not rewrite it"))
    assert got == "skip"


def test_bundle_record_is_not_a_compile(tmp_path):
    obj = str(tmp_path / "o.tar")
    data = [fp.format_record("a" * 40, "linux-test"),
            fp.format_record("e" * 40, "linux-test", "bundle-of:" + "a" * 40)]
    with tarfile.open(obj, "w") as tf:
        for i, text in enumerate(data):
            info = tarfile.TarInfo("./r%d.buildid" % i)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text.encode()))
    assert sstateshare.object_compiles(obj) == {"a" * 40}


def test_bundled_kernel_files_are_not_the_compiles_kernel():
    """The sstate audit and the settling read compiles from the same files:
    a bundled initramfs kernel (another build-id by design) is not one."""
    from kernelrepro import artifacts
    assert artifacts.is_kernel_file("./deploy/bzImage-6.1-r0-qemux86-64.bin")
    assert not artifacts.is_kernel_file("./deploy/bzImage-initramfs-6.1-r0-qemux86-64.bin")
    assert not artifacts.is_kernel_file("./deploy/vmlinux-initramfs-qemux86-64.bin")
    assert artifacts.is_kernel_file("./x/kernel-dbg-6.1-r0.qemux86_64.rpm")


def _reader(path, stop, seen):
    """A third build reading the cache: open the object again and again."""
    missing = broken = reads = 0
    while not stop.is_set():
        try:
            sstateshare.object_compiles(path)
            reads += 1
        except FileNotFoundError:
            missing += 1
        except Exception:      # noqa: BLE001 -- a torn archive
            broken += 1
    seen.put((reads, missing, broken))


def _replace_while_read(tmp_path, replace, rounds=200):
    ctx = multiprocessing.get_context("fork")
    obj = str(tmp_path / ("sstate:linux-test:%s_deploy.tar" % HASH[:8]))
    make_object(obj, "a" * 40)
    stop, seen = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_reader, args=(obj, stop, seen))
    reader.start()
    try:
        time.sleep(0.05)
        for i in range(rounds):
            replace(obj, ("b" if i % 2 else "a") * 40)
            time.sleep(0.0005)
    finally:
        stop.set()
    result = seen.get(timeout=30)
    reader.join(30)
    return result


def test_a_third_build_reading_during_replacement_never_misses_the_object(tmp_path):
    """replace_object (write beside, rename into place), used by settling and
    by the stale replacement, while another process reads the object: it
    always finds a whole archive, old or new. Control: replacing by removing
    and writing again (what a naive replacement does) lets the reader miss
    it or read it half written."""
    def ours(obj, bid):
        assert sstateshare.replace_object(obj, lambda path: make_object(path, bid))

    os.makedirs(tmp_path / "ours")
    reads, missing, broken = _replace_while_read(tmp_path / "ours", ours)
    assert reads > 0 and missing == 0 and broken == 0, (reads, missing, broken)

    def naive(obj, bid):
        os.unlink(obj)
        time.sleep(0.0005)
        make_object(obj, bid)

    os.makedirs(tmp_path / "naive")
    reads, missing, broken = _replace_while_read(tmp_path / "naive", naive)
    assert missing + broken > 0, "control: the naive replacement was never caught (%d reads)" % reads
