# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Hostile archives (issue 21): the readers of lib/kernelrepro/artifacts.py.

rpm packages (package_files), sstate objects (sstate_members,
sstate_kernel_ids) and initramfs images (cpio_members, image_kernel_ids)
come from build directories and caches that may not be trustworthy. The
contract: nothing is written outside the destination, everything is
bounded by the --max-size limit ($KERNEL_REPRO_MAX_SIZE, default 2 GiB),
member handling is linear, and a truncated, corrupt, foreign or hostile
archive is one KernelReproError line -- exit 2 in the one-line driver
below, which stands in for a command line (none reaches these readers yet).

Every archive is crafted here (tests/fuzz/fuzz_archives.py has the
builders) or built with the real rpmbuild; the runs that could hang, fill
the disk or the memory run in a subprocess bounded by a timeout,
RLIMIT_FSIZE and RLIMIT_AS (run_bounded of test_hostile.py).
"""

import gzip
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile

import pytest

from conftest import LIB
from test_hostile import assert_error, run_bounded

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fuzz"))

import fuzz_archives as fa  # noqa: E402
from fuzz_archives import newc, rpm_bytes, tar_bytes, zstd, zstd_rle_tar  # noqa: E402
from kernelrepro import artifacts, errors  # noqa: E402
from kernelrepro.errors import KernelReproError  # noqa: E402

FILE, LINK, DIR = 0o100644, 0o120777, 0o040755
ELF = fa.crafted_elf()
ELF_ID = bytes(range(1, 21)).hex()

#: `python -c DRIVER EXPR ARGS...`: EXPR evaluated with artifacts and sys.argv;
#: a KernelReproError is one line and exit 2, as the command line does it.
DRIVER = r"""
import sys
sys.path.insert(0, %r)
from kernelrepro import artifacts
from kernelrepro.errors import KernelReproError
try:
    r = eval(sys.argv[1])
except KernelReproError as e:
    sys.stderr.write("kernel-repro: error: %%s\n" %% e)
    sys.exit(2)
print(len(r))
""" % LIB


def run_lib(expr, *args, timeout=60, mem_mib=None, fsize_mib=None, env=None):
    """EXPR in a fresh interpreter, bounded in time, memory and file size
    (with SIGXFSZ ignored a write past the size is EFBIG, not a kill)."""
    def limits():
        if fsize_mib:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mib << 20, fsize_mib << 20))
    return run_bounded(expr, *args, cmd=[sys.executable, "-c", DRIVER], timeout=timeout,
                       mem_mib=mem_mib, preexec=limits,
                       env=dict(os.environ, **(env or {})))


def one_line(e):
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    return msg


def tree(d):
    """{relative path: 'dir' | 'link' | size} under ``d``."""
    out = {}
    for dirpath, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, d)
            out[rel] = "link" if os.path.islink(p) else "dir" if os.path.isdir(p) else os.path.getsize(p)
    return out


@pytest.fixture
def outside(tmp_path):
    """A directory the archives aim at: it must stay empty."""
    d = tmp_path / "outside"
    d.mkdir()
    yield d
    assert tree(d) == {}, "written outside the destination: %s" % tree(d)


def write(path, data):
    path.write_bytes(data)
    return str(path)


def evil_rpm(target, inner="file", compressor="gzip"):
    """Finding 1: a link member 'lnk' (to ``target``), then 'lnk/<inner>'."""
    cp = newc([("./lnk", LINK, str(target).encode()), ("./lnk/" + inner, FILE, b"pwned\n")])
    return rpm_bytes(gzip.compress(cp, mtime=0) if compressor == "gzip" else cp, compressor)


# ====================================================== 1. outside the destination

@pytest.mark.parametrize("relative", [False, True], ids=["absolute-target", "relative-target"])
def test_rpm_link_then_member_under_it_writes_nothing_outside(tmp_path, outside, relative):
    """rpm2cpio | cpio made 'lnk' a link out of the destination and wrote
    'lnk/file' through it. Now no link is created, and a member under a link
    member is refused."""
    dest = tmp_path / "dest"
    target = os.path.relpath(outside, dest) if relative else outside
    rpm = write(tmp_path / "evil.rpm", evil_rpm(target))
    with pytest.raises(KernelReproError) as e:
        artifacts.package_files(rpm, str(dest))
    assert "lies under the symbolic link member lnk" in one_line(e) and rpm in str(e.value)
    assert tree(dest) == {}


@pytest.mark.parametrize("inner", ["file", "vmlinux-6.1"])
def test_sstate_object_with_such_rpm_writes_nothing_outside(tmp_path, outside, inner):
    """The same rpm inside an sstate object: sstate_kernel_ids unpacks the
    kernel rpms it carries. Only kernel files are taken from it now, and
    never through a link ('lnk/vmlinux-6.1' is one: refused)."""
    obj = write(tmp_path / "sstate:linux-kr-t3:x:1:2:3:4:5_package_write_rpm.tar.zst",
                zstd(tar_bytes([("./rpm/kernel-image-bzimage-6.1.rpm", evil_rpm(outside, inner))])))
    work = tmp_path / "work"
    if inner == "file":
        assert artifacts.sstate_kernel_ids(obj, str(work)) == {}
    else:
        with pytest.raises(KernelReproError) as e:
            artifacts.sstate_kernel_ids(obj, str(work))
        assert "symbolic link member lnk" in one_line(e)
    assert not [p for p, kind in tree(work).items() if kind == "link"]


@pytest.mark.parametrize("name", ["./../../outside/escape", "../outside/escape", "ABS/escape",
                                  "./a/../../outside/escape"])
def test_rpm_member_names_climbing_out_are_refused(tmp_path, outside, name):
    name = name.replace("ABS", str(outside))
    rpm = write(tmp_path / "t.rpm", rpm_bytes(gzip.compress(newc([(name, FILE, b"x")]), mtime=0)))
    dest = tmp_path / "d" / "dest"
    with pytest.raises(KernelReproError) as e:
        artifacts.package_files(rpm, str(dest))
    assert ("absolute name" if name.startswith("/") else "'..' component") in one_line(e)
    assert tree(tmp_path / "d") == {"dest": "dir"}


@pytest.mark.parametrize("name", ["../vmlinux", "./deploy/../../vmlinux", "/boot/vmlinux"])
def test_tar_member_names_climbing_out_are_refused(tmp_path, name):
    obj = write(tmp_path / "o.tar.zst", zstd(tar_bytes([(name, ELF)])))
    with pytest.raises(KernelReproError) as e:
        artifacts.sstate_members(obj, str(tmp_path / "dest"), artifacts.is_kernel_file)
    assert "absolute name" in one_line(e) or "'..' component" in str(e.value)
    assert tree(tmp_path / "dest") == {}


def test_links_already_in_the_destination_are_not_written_through(tmp_path, outside):
    """A destination that holds links (a reused directory): a dangling
    link named like a member, a link where a directory is needed."""
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside / "created", dest / "vmlinux")          # dangling: open() would create it
    obj = write(tmp_path / "o.tar.zst", zstd(tar_bytes([("./deploy/vmlinux", ELF)])))
    got = artifacts.sstate_members(obj, str(dest), artifacts.is_kernel_file)
    assert got == {"./deploy/vmlinux": str(dest / "1-vmlinux")}
    os.symlink(outside, dest / "boot")
    rpm = write(tmp_path / "k.rpm", rpm_bytes(gzip.compress(newc([("./boot/vmlinux-6.1", FILE, ELF)]))))
    with pytest.raises(KernelReproError) as e:
        artifacts.package_files(rpm, str(dest))
    assert "nothing is written through" in one_line(e)


# ====================================================== 2. bounded by --max-size

def test_98k_tar_zst_claiming_3g_is_refused_before_writing(tmp_path):
    """Finding 2: 98 KB of zstd RLE blocks, one member 'vmlinux' of 3 GiB of
    zeros. The default limit (2 GiB) refuses it from its header. The run is
    held to 64 MiB of file size, so a regression cannot fill the disk."""
    data = zstd_rle_tar("vmlinux", 3 << 30)
    assert len(data) < 100 << 10
    obj = write(tmp_path / "bomb.tar.zst", data)
    dest = tmp_path / "dest"
    for expr in ("artifacts.sstate_members(sys.argv[2], sys.argv[3], artifacts.is_kernel_file)",
                 "artifacts.sstate_kernel_ids(sys.argv[2], sys.argv[3])"):
        r = run_lib(expr, obj, dest, fsize_mib=64, timeout=60, env={"KERNEL_REPRO_MAX_SIZE": ""})
        assert_error(r, obj, "vmlinux", "%d-byte limit" % (2 << 30))
        assert sum(s for s in tree(dest).values() if isinstance(s, int)) == 0, tree(dest)


def test_members_under_the_limit_but_not_in_total(tmp_path):
    """Three 5 MiB members with a 12M limit ($KERNEL_REPRO_MAX_SIZE, as the
    command line's --max-size): the third is refused, in one line."""
    obj = write(tmp_path / "o.tar.zst", zstd(tar_bytes(
        [("d%d/vmlinux-%d" % (i, i), bytes(5 << 20)) for i in range(3)])))
    r = run_lib("artifacts.sstate_members(sys.argv[2], sys.argv[3], artifacts.is_kernel_file)",
                obj, tmp_path / "dest", fsize_mib=64, env={"KERNEL_REPRO_MAX_SIZE": "12M"})
    assert_error(r, obj, "vmlinux-2", "limit")
    with pytest.raises(errors.LimitExceeded):
        artifacts.sstate_members(obj, str(tmp_path / "d2"), artifacts.is_kernel_file, limit=12 << 20)


def test_unwanted_bomb_member_is_bounded_too(tmp_path):
    """A member nobody wants still decompresses while it is skipped: 3 GiB
    of zeros against a 64M limit is refused, in seconds."""
    obj = write(tmp_path / "o.tar.zst", zstd_rle_tar("junk", 3 << 30))
    r = run_lib("artifacts.sstate_members(sys.argv[2], sys.argv[3], artifacts.is_kernel_file)",
                obj, tmp_path / "dest", timeout=60, env={"KERNEL_REPRO_MAX_SIZE": "64M"})
    assert_error(r, obj, "limit")


def test_rpm_payload_bomb_is_bounded(tmp_path):
    """An rpm whose zstd payload claims a 3 GiB vmlinux (98 KB of RLE blocks)."""
    size = 3 << 30
    n = b"./boot/vmlinux-6.1\0"
    head = b"070701" + b"".join(b"%08X" % v for v in [1, FILE, 0, 0, 1, 0, size, 0, 0, 0, 0, len(n), 0])
    head += n + b"\0" * ((-(len(head) + len(n))) % 4)
    rpm = write(tmp_path / "k.rpm", rpm_bytes(fa.zstd_frame([head, (0, size)]), "zstd"))
    r = run_lib("artifacts.package_files(sys.argv[2], sys.argv[3])", rpm, tmp_path / "dest",
                fsize_mib=64, env={"KERNEL_REPRO_MAX_SIZE": ""})
    assert_error(r, rpm, "vmlinux-6.1", "limit")


def test_cpio_name_is_bounded(tmp_path):
    """A name is at most PATH_MAX (4096 bytes with its NUL), as the kernel takes it."""
    p = write(tmp_path / "i.cpio", newc([("./boot/" + "v" * 5000, FILE, b"x")]))
    with pytest.raises(KernelReproError) as e:
        artifacts.cpio_members(p, lambda n: True)
    assert "name of 5008 bytes" in one_line(e)


def test_tar_long_name_bomb_costs_no_memory(tmp_path):
    """A GNU long-name header claiming 1.5 GiB: tarfile would read it into
    memory (MemoryError under a 1 GiB address space). Refused from its header."""
    obj = write(tmp_path / "o.tar.zst", zstd_rle_tar("././@LongLink", 3 << 29, typ=tarfile.GNUTYPE_LONGNAME))
    r = run_lib("artifacts.sstate_members(sys.argv[2], sys.argv[3], artifacts.is_kernel_file)",
                obj, tmp_path / "dest", mem_mib=1024, timeout=60)
    assert_error(r, obj, "extended tar header")


# ====================================================== 3. linear

def test_ten_thousand_members_named_vmlinux_take_linear_time(tmp_path):
    """Finding 3: 10,000 members named vmlinux took 113 s (each name probed
    every earlier one). Now a counter per name: well within the timeout."""
    n = 10000
    obj = write(tmp_path / "o.tar.zst", zstd(tar_bytes([("d%d/vmlinux" % i, b"x") for i in range(n)])))
    dest = tmp_path / "dest"
    r = run_lib("artifacts.sstate_members(sys.argv[2], sys.argv[3], artifacts.is_kernel_file)",
                obj, dest, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == [str(n)], r
    names = set(os.listdir(dest))
    assert len(names) == n and "vmlinux" in names and "%d-vmlinux" % (n - 1) in names


# ====================================================== 4. truncated, corrupt, foreign

def _archives(tmp_path):
    cp = newc([("./boot/vmlinux-6.1", FILE, ELF), ("./boot/bzImage", LINK, b"vmlinux-6.1"),
               ("./usr/share/kernel-repro/linux-kr-t3.buildid", FILE, fa.record())])
    tar = tar_bytes([("./deploy/vmlinux-6.1", ELF), ("./deploy/x.buildid", fa.record()),
                     ("./deploy/" + "long/" * 30 + "vmlinux-2", ELF)])
    return {
        "rpm-gzip": ("package_files", rpm_bytes(gzip.compress(cp, mtime=0))),
        "rpm-zstd": ("package_files", rpm_bytes(zstd(cp), "zstd")),
        "rpm-plain": ("package_files", rpm_bytes(cp, "none")),
        "tar.zst": ("sstate_kernel_ids", zstd(tar)),
        "tgz": ("sstate_kernel_ids", gzip.compress(tar, mtime=0)),
        "tar": ("sstate_kernel_ids", tar),
        "cpio.gz": ("image_kernel_ids", gzip.compress(cp, mtime=0)),
        "cpio": ("image_kernel_ids", cp),
    }


def _tar_end(data):
    """Where the end-of-archive blocks of tar ``data`` end."""
    import io
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        last = tf.getmembers()[-1]
    return last.offset_data + -(-last.size // 512) * 512 + 1024


def _call(fn, path, dest):
    if fn == "cpio_members":
        return artifacts.cpio_members(path, lambda n: True)
    return getattr(artifacts, fn)(path, dest)


@pytest.mark.parametrize("kind", ["rpm-gzip", "rpm-zstd", "rpm-plain", "tar.zst", "tgz", "tar",
                                  "cpio.gz", "cpio"])
def test_truncated_archives_are_one_error(tmp_path, kind):
    """Cut anywhere -- in the lead or headers, in a member, before the end
    marker -- an archive is one KernelReproError, never a traceback (the
    readers raised EOFError, zstd errors, IndexError) nor a silent success."""
    fn, data = _archives(tmp_path)[kind]
    whole = write(tmp_path / ("whole." + kind), data)
    assert _call(fn, whole, str(tmp_path / "ok")), "the uncut archive reads"
    cuts = sorted({1, 50, 97, 120, len(data) // 3, len(data) // 2, len(data) - 600, len(data) - 30,
                   len(data) - 1} - {0})
    for i, cut in enumerate(c for c in cuts if 0 < c < len(data)):
        if kind == "tar" and cut >= _tar_end(data):
            continue                    # past the end-of-archive blocks: complete
        p = write(tmp_path / ("cut%d.%s" % (i, kind)), data[:cut])
        with pytest.raises(KernelReproError) as e:
            _call(fn, p, str(tmp_path / ("d%d" % i)))
        assert p in one_line(e), (cut, str(e.value))


@pytest.mark.parametrize("fn", ["package_files", "sstate_members", "sstate_kernel_ids",
                                "cpio_members", "image_kernel_ids"])
@pytest.mark.parametrize("what", ["empty", "text", "zeros", "random", "gzip-of-text", "zstd-of-zeros",
                                  "bad-zstd", "xz-of-random"])
def test_garbage_is_one_error(tmp_path, fn, what):
    rnd = os.urandom(4096)
    data = {"empty": b"", "text": b"not an archive at all\n" * 20, "zeros": bytes(8192),
            "random": rnd, "gzip-of-text": gzip.compress(b"hello\n" * 100),
            "zstd-of-zeros": zstd(bytes(1 << 16)), "bad-zstd": zstd(rnd)[:40] + rnd[:200],
            "xz-of-random": subprocess.run(["xz", "-c"], input=rnd, stdout=subprocess.PIPE).stdout}[what]
    p = write(tmp_path / "g", data)
    if fn == "sstate_members":
        call = lambda: artifacts.sstate_members(p, str(tmp_path / "d"), lambda n: True)  # noqa: E731
    else:
        call = lambda: _call(fn, p, str(tmp_path / "d"))  # noqa: E731
    if what in ("zeros", "zstd-of-zeros") and fn in ("sstate_members", "sstate_kernel_ids"):
        assert not call()               # zero blocks: an empty tar archive
        return
    with pytest.raises(KernelReproError) as e:
        call()
    assert p in one_line(e)


def test_missing_and_unreadable_archives_are_one_error(tmp_path):
    for fn in ("package_files", "sstate_kernel_ids", "cpio_members", "image_kernel_ids"):
        with pytest.raises(KernelReproError) as e:
            _call(fn, str(tmp_path / "missing"), str(tmp_path / "d"))
        assert "No such file" in one_line(e)
        with pytest.raises(KernelReproError):
            _call(fn, str(tmp_path), str(tmp_path / "d"))


def test_truncated_sparse_header_is_one_error(tmp_path):
    """An old-GNU sparse member whose extension block is missing: tarfile
    raised IndexError."""
    ti = tarfile.TarInfo("vmlinux")
    ti.type, ti.size = tarfile.GNUTYPE_SPARSE, 0
    buf = bytearray(ti.tobuf(tarfile.GNU_FORMAT))
    buf[482] = 1                                        # isextended
    buf[148:156] = b"        "
    buf[148:155] = b"%06o\0" % sum(buf)
    obj = write(tmp_path / "s.tar.zst", zstd(bytes(buf)))
    with pytest.raises(KernelReproError) as e:
        artifacts.sstate_members(obj, str(tmp_path / "d"), lambda n: True)
    assert obj in one_line(e)


def test_corrupt_pax_header_mid_archive_is_an_error_not_the_end(tmp_path):
    """tarfile ends the archive silently at a corrupt extended header after
    the first member: the kernels after it went missing without a word."""
    data = bytearray(tar_bytes([("vmlinux-1", ELF), ("d/" + "x" * 120 + "/vmlinux-2", ELF)],
                               tarfile.PAX_FORMAT))
    i = data.find(b"142 path=")
    data[i:i + 3] = b"999"                              # a record longer than its header
    obj = write(tmp_path / "o.tar.zst", zstd(bytes(data)))
    with pytest.raises(KernelReproError) as e:
        artifacts.sstate_members(obj, str(tmp_path / "d"), lambda n: True)
    assert "bad extended tar header" in one_line(e)


def test_garbage_fingerprint_record_is_one_error(tmp_path):
    """A *.buildid member that is not UTF-8 text (was UnicodeDecodeError)."""
    obj = write(tmp_path / "o.tar.zst", zstd(tar_bytes([("./deploy/bzImage.buildid", b"\xff\xfe" * 10)])))
    with pytest.raises(KernelReproError) as e:
        artifacts.sstate_kernel_ids(obj, str(tmp_path / "w"))
    assert "not a fingerprint record" in one_line(e)


# ====================================================== what must keep working

@pytest.mark.parametrize("payload", ["w9.gzdio", "w19.zstdio", "w6.xzdio", "w9.bzdio", "w0.ufdio"])
def test_rpms_built_by_rpmbuild_read_as_rpm2cpio_cpio_does(tmp_path, payload):
    if not (shutil.which("rpmbuild") and shutil.which("rpm2cpio") and shutil.which("cpio")):
        pytest.skip("needs rpmbuild, rpm2cpio and cpio")
    rpm = fa.built_rpm(str(tmp_path), payload)
    if rpm is None:
        pytest.skip("rpmbuild cannot build with payload %s here" % payload)
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run("rpm2cpio '%s' | cpio -idm --quiet --no-absolute-filenames" % rpm, shell=True,
                   cwd=str(ref), check=True)
    dest = tmp_path / "dest"
    files = artifacts.package_files(rpm, str(dest))

    def regular(d):
        out = {}
        for rel, kind in tree(d).items():
            p = os.path.join(d, rel)
            if isinstance(kind, int):
                st = os.stat(p)
                out[rel] = (open(p, "rb").read(), st.st_mode & 0o111, st.st_nlink)
        return out
    assert regular(dest) == regular(ref)
    assert files == sorted(os.path.join(str(dest), r) for r in regular(ref))
    assert os.stat(dest / "usr/bin/a").st_ino == os.stat(dest / "usr/bin/b").st_ino
    assert artifacts.kernel_ids_in_files([rpm], str(tmp_path / "w")) == {
        rpm + "!boot/vmlinux-1.0": "cd" * 20, rpm + "!usr/share/kernel-repro/tiny.buildid": "cd" * 20}


def test_sstate_object_kernel_ids(tmp_path):
    """An sstate object with a vmlinux, a record, a link, a directory and a
    kernel rpm (plain cpio payload) inside: every kernel, labelled as before."""
    rpm = rpm_bytes(newc([("./boot/vmlinux-6.1", FILE, ELF)]), "none", "kernel-vmlinux-6.1")
    obj = write(tmp_path / "sstate:linux-kr-t3:x:1:2:3:4:5_deploy.tar.zst", zstd(tar_bytes([
        ("./deploy/", None), ("./deploy/vmlinux-6.1", ELF), ("./deploy/vmlinux", None, "vmlinux-6.1"),
        ("./deploy/bzImage.buildid", fa.record()), ("./deploy/kernel-vmlinux-6.1.rpm", rpm),
        ("./deploy/modules.tgz", b"not a kernel")])))
    assert artifacts.sstate_kernel_ids(obj, str(tmp_path / "w")) == {
        "./deploy/vmlinux-6.1": ELF_ID, "./deploy/bzImage.buildid": "ab" * 20,
        "./deploy/kernel-vmlinux-6.1.rpm!boot/vmlinux-6.1": ELF_ID}
    got = artifacts.sstate_members(obj, str(tmp_path / "m"), lambda n: os.path.basename(n).startswith("vmlinux"))
    assert got == {"./deploy/vmlinux-6.1": str(tmp_path / "m" / "vmlinux-6.1")}


def test_sstate_objects_of_pzstd_and_of_several_frames(tmp_path):
    """OE's older releases compress sstate objects with pzstd: skippable
    frames (holding the next frame's size) before each zstd frame."""
    tar = tar_bytes([("./deploy/vmlinux-6.1", ELF), ("./deploy/big", os.urandom(300 << 10))])
    frames = [zstd(tar[:200 << 10]), zstd(tar[200 << 10:])]
    pz = b"".join(b"\x50\x2a\x4d\x18\x04\0\0\0" + len(f).to_bytes(4, "little") + f for f in frames)
    for name, data in (("pzstd-like", pz), ("two-frames", b"".join(frames))):
        obj = write(tmp_path / (name + ".tar.zst"), data)
        assert artifacts.sstate_kernel_ids(obj, str(tmp_path / name)) == {"./deploy/vmlinux-6.1": ELF_ID}
    if shutil.which("pzstd"):
        src = tmp_path / "src" / "deploy"
        src.mkdir(parents=True)
        (src / "vmlinux-6.1").write_bytes(ELF)
        (src / "bzImage-6.1").write_bytes(os.urandom(3 << 20))
        obj = str(tmp_path / "real.tar.zst")
        subprocess.run(["tar", "-I", "pzstd -p 2", "-cS", "-p", "-f", obj, "deploy"], cwd=str(src.parent),
                       check=True, stderr=subprocess.DEVNULL)
        with open(obj, "rb") as f:
            assert f.read(4) == b"\x50\x2a\x4d\x18"
        assert artifacts.sstate_kernel_ids(obj, str(tmp_path / "real")) == {"deploy/vmlinux-6.1": ELF_ID}


def test_hard_linked_cpio_members_carry_their_data(tmp_path):
    """newc hard links: GNU cpio puts the data on the last name, the kernel
    reads it from the first; either way every name has it (the first name
    used to read as empty)."""
    data = ELF
    last = newc([("./boot/vmlinux-a", FILE, b"", 9, 2), ("./boot/vmlinux-b", FILE, data, 9, 2)])
    first = newc([("./boot/vmlinux-a", FILE, data, 9, 2), ("./boot/vmlinux-b", FILE, b"", 9, 2)])
    for arc in (last, first):
        p = write(tmp_path / "i.cpio", arc)
        assert artifacts.cpio_members(p, lambda n: True) == {"./boot/vmlinux-a": data,
                                                            "./boot/vmlinux-b": data}
        rpm = write(tmp_path / "k.rpm", rpm_bytes(arc, "none"))
        dest = tmp_path / ("d%d" % (arc is first))
        artifacts.package_files(rpm, str(dest))
        assert (dest / "boot/vmlinux-a").read_bytes() == data == (dest / "boot/vmlinux-b").read_bytes()


def test_package_files_want_takes_only_what_it_names(tmp_path):
    cp = newc([("./boot/vmlinux-6.1", FILE, ELF), ("./lib/modules/x.ko", FILE, b"m" * 100)])
    rpm = write(tmp_path / "k.rpm", rpm_bytes(gzip.compress(cp)))
    got = artifacts.package_files(rpm, str(tmp_path / "d"), want=artifacts.is_kernel_file)
    assert got == [str(tmp_path / "d" / "boot" / "vmlinux-6.1")]
    assert tree(tmp_path / "d") == {"boot": "dir", "boot/vmlinux-6.1": len(ELF)}


# ====================================================== fuzzing

def test_fuzz_target_holds_on_its_seeds(tmp_path):
    seeds = tmp_path / "seeds"
    names = fa.seeds(str(seeds))
    work = tmp_path / "work"
    work.mkdir()
    for n in names:
        fa.one_input((seeds / ("seed-" + n)).read_bytes(), artifacts, errors, str(work))


def test_fuzz_archives_bounded_run(tmp_path):
    """A short atheris run of tests/fuzz/fuzz_archives.py from its seeds
    ($KERNEL_REPRO_FUZZ_SECONDS, default 60; 0 skips it)."""
    from test_fuzz import fuzz_run, fuzz_seconds
    seconds = fuzz_seconds(60)
    seeds = tmp_path / "seeds"
    names = fa.seeds(str(seeds))
    (tmp_path / "corpus").mkdir()
    r, crashes, text, runs = fuzz_run("fuzz_archives.py", tmp_path / "corpus", seeds, tmp_path,
                                      seconds, 20,
                                      env=dict(os.environ, KERNEL_REPRO_FUZZ_TMP=str(tmp_path)))
    assert r.returncode == 0 and not crashes, (
        "fuzzing broke the contract; input(s) %s in %s; log tail:\n%s" % (crashes, tmp_path, text[-3000:]))
    sys.stderr.write("\n[fuzz archives] %d seeds, %s inputs in %ds, no crash\n"
                     % (len(names), runs if runs is not None else "?", seconds))
    assert runs and runs > 0
