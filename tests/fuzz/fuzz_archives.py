# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Coverage-guided fuzzing of the archive readers (lib/kernelrepro/artifacts.py).

Every input is read as each archive the toolkit opens -- an rpm
(package_files), an sstate object (sstate_members, sstate_kernel_ids), an
initramfs image (cpio_members, image_kernel_ids) -- with a 16 MiB limit,
extracting into a scratch directory. The contract: a KernelReproError (one
line for the user) or a result, and nothing written but regular files
inside the destination; anything else is a crash, and libFuzzer's
-timeout / -rss_limit_mb turn a hang or a memory blow-up into one too.

Seeds (python tests/fuzz/fuzz_archives.py --seeds DIR): a tiny rpm built
by rpmbuild when it is installed (plain and gzip payloads) and crafted
rpms, tar / tar.gz / tar.zst (one frame, pzstd-like) sstate-like objects
with a fake vmlinux ELF, a fingerprint record and a kernel rpm inside,
newc cpio and cpio.gz.

Short run (what tests/test_hostile_archives.py does):

    python tests/fuzz/fuzz_archives.py --seeds /tmp/kra-corpus
    python tests/fuzz/fuzz_archives.py -max_total_time=60 -timeout=20 \\
        -rss_limit_mb=2048 /tmp/kra-work /tmp/kra-corpus

Scratch files go to $KERNEL_REPRO_FUZZ_TMP (default: /dev/shm when it
exists). Replay one input: python tests/fuzz/fuzz_archives.py crash-XXXX.
Every crash found becomes a case in tests/test_hostile_archives.py.

The builders here (newc, rpm_bytes, tar_bytes, zstd_rle_tar, ...) are the
ones the hostile tests use: everything is crafted, nothing stored.
"""

import gzip
import io
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib"))
sys.path.insert(0, HERE)

LIMIT = 16 << 20


# ---------------------------------------------------------------- builders

def newc(entries):
    """A newc cpio archive + trailer. ``entries``: (name, mode, data) or
    (name, mode, data, ino, nlink); mode 0o100644 is a file, 0o120777 a
    link (data: its target), 0o040755 a directory."""
    out = []
    for i, e in enumerate(list(entries) + [("TRAILER!!!", 0, b"")]):
        name, mode, data = e[:3]
        ino = e[3] if len(e) > 3 else i + 1
        nlink = e[4] if len(e) > 4 else 1
        n = (name.encode() if isinstance(name, str) else name) + b"\0"
        fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(n), 0]
        head = b"070701" + b"".join(b"%08X" % v for v in fields)
        out += [head, n, b"\0" * ((-(len(head) + len(n))) % 4), data, b"\0" * ((-len(data)) % 4)]
    return b"".join(out)


def _rpm_header(tags, region):
    """An rpm header structure (magic, counts, index, store) of ``tags``
    [(tag, type, count, bytes)], with its region tag first as rpm writes it."""
    store, index = b"", []
    for tag, typ, count, data in tags:
        store += b"\0" * ((-len(store)) % {3: 2, 4: 4, 5: 8}.get(typ, 1))
        index.append(struct.pack(">iiii", tag, typ, len(store), count))
        store += data
    il = len(tags) + 1
    roff = len(store)
    store += struct.pack(">iiii", region, 7, -il * 16, 16)
    index.insert(0, struct.pack(">iiii", region, 7, roff, 16))
    return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">ii", il, len(store)) + b"".join(index) + store


def rpm_bytes(payload, compressor="gzip", name="kernel-image-evil"):
    """A binary rpm around ``payload`` (a cpio archive, compressed as
    ``compressor`` says): what rpm2cpio and rpm -qp accept."""
    lead = (b"\xed\xab\xee\xdb\x03\x00" + struct.pack(">hh", 0, 1) + name.encode()[:65].ljust(66, b"\0")
            + struct.pack(">hh", 1, 5) + b"\0" * 16)
    sig = _rpm_header([(1000, 4, 1, struct.pack(">i", 0))], 62)
    sig += b"\0" * ((-len(sig)) % 8)

    def s(x):
        return x.encode() + b"\0"
    head = _rpm_header([(1000, 6, 1, s(name)), (1001, 6, 1, s("1.0")), (1002, 6, 1, s("1")),
                        (1124, 6, 1, s("cpio")), (1125, 6, 1, s(compressor))], 63)
    return lead + sig + head + payload


def tar_bytes(members, fmt=tarfile.GNU_FORMAT):
    """A tar archive of ``members``: (name, bytes) for files, (name, None,
    target) for symbolic links, (name, None, None) for directories."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as tf:
        for m in members:
            ti = tarfile.TarInfo(m[0])
            ti.mtime = 0
            if m[1] is not None:
                ti.size = len(m[1])
                tf.addfile(ti, io.BytesIO(m[1]))
            elif len(m) > 2 and m[2] is not None:
                ti.type, ti.linkname = tarfile.SYMTYPE, m[2]
                tf.addfile(ti)
            else:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
    return bio.getvalue()


def zstd(data):
    """``data`` as one zstd frame (the zstandard module, else the zstd command)."""
    try:
        import zstandard
        return zstandard.ZstdCompressor(level=3).compress(data)
    except ImportError:
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout


def zstd_frame(pieces):
    """One zstd frame, crafted: ``pieces`` are bytes (raw blocks) or
    (byte, count) (RLE blocks: ``count`` copies of ``byte`` in 4 bytes per
    128 KiB). No content size, no checksum; a 128 KiB window."""
    blocks = []
    for p in pieces:
        if isinstance(p, tuple):
            value, count = p
            while count:
                n = min(count, 128 << 10)
                blocks.append((1, n, bytes([value])))
                count -= n
        else:
            for i in range(0, len(p), 128 << 10):
                chunk = p[i:i + (128 << 10)]
                blocks.append((0, len(chunk), chunk))
    out = [b"\x28\xb5\x2f\xfd", b"\x00", b"\x38"]
    for i, (typ, size, content) in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        out.append(struct.pack("<I", last | (typ << 1) | (size << 3))[:3] + content)
    return b"".join(out)


def zstd_rle_tar(name, size, fmt=tarfile.GNU_FORMAT, typ=tarfile.REGTYPE):
    """A .tar.zst of one member ``name`` claiming ``size`` bytes of zeros:
    about 4 bytes per 128 KiB (3 GiB: a 98 KB file)."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mtime = size, typ, 0
    head = ti.tobuf(fmt)
    zeros = size + (-size) % 512 + 2 * 512
    return zstd_frame([head, (0, zeros)])


def crafted_elf(bid=bytes(range(1, 21))):
    import corpus
    return corpus.crafted_elf(bid)


def record(bid="ab" * 20, recipe="linux-kr-t3"):
    from kernelrepro import fingerprint
    return fingerprint.format_record(bid, recipe).encode()


def built_rpm(workdir, payload="w9.gzdio"):
    """A tiny kernel rpm made by the real rpmbuild (None without it): a fake
    vmlinux ELF, a link to it, a fingerprint record, a hard-linked pair."""
    if not shutil.which("rpmbuild"):
        return None
    top = os.path.join(workdir, "rpmbuild-" + payload)
    src = os.path.join(workdir, "rpmsrc")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "vmlinux"), "wb") as f:
        f.write(crafted_elf(b"\xcd" * 20))
    with open(os.path.join(src, "rec"), "wb") as f:
        f.write(record("cd" * 20))
    spec = os.path.join(workdir, "tiny.spec")
    with open(spec, "w") as f:
        f.write("""Name: kernel-image-tiny
Version: 1.0
Release: 1
Summary: tiny
License: MIT
BuildArch: noarch
%%description
tiny
%%install
mkdir -p %%{buildroot}/boot %%{buildroot}/usr/share/kernel-repro %%{buildroot}/usr/bin
cp %(src)s/vmlinux %%{buildroot}/boot/vmlinux-1.0
ln -s vmlinux-1.0 %%{buildroot}/boot/vmlinux
cp %(src)s/rec %%{buildroot}/usr/share/kernel-repro/tiny.buildid
printf data > %%{buildroot}/usr/bin/a
ln %%{buildroot}/usr/bin/a %%{buildroot}/usr/bin/b
printf '#!/bin/sh\\n' > %%{buildroot}/usr/bin/x
chmod 755 %%{buildroot}/usr/bin/x
%%files
/boot/vmlinux-1.0
/boot/vmlinux
/usr/share/kernel-repro/tiny.buildid
/usr/bin/a
/usr/bin/b
/usr/bin/x
""" % {"src": src})
    r = subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", "_topdir " + top,
                        "--define", "_binary_payload " + payload,
                        "--define", "__os_install_post %{nil}", spec],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return None
    for dirpath, _dirs, files in os.walk(os.path.join(top, "RPMS")):
        for fn in files:
            if fn.endswith(".rpm"):
                return os.path.join(dirpath, fn)
    return None


def seeds(directory):
    """Write the seed corpus into ``directory`` -> names."""
    os.makedirs(directory, exist_ok=True)
    elf = crafted_elf()
    cp = newc([("./boot", 0o040755, b""), ("./boot/vmlinux-1.0", 0o100644, elf),
               ("./boot/vmlinux", 0o120777, b"vmlinux-1.0"),
               ("./usr/share/kernel-repro/linux-kr-t3.buildid", 0o100644, record()),
               ("./usr/bin/a", 0o100644, b"", 7, 2), ("./usr/bin/b", 0o100644, b"data", 7, 2)])
    out = {
        "cpio": cp, "cpio.gz": gzip.compress(cp, mtime=0),
        "rpm-plain": rpm_bytes(cp, "none"), "rpm-gzip": rpm_bytes(gzip.compress(cp, mtime=0)),
        "rpm-zstd": rpm_bytes(zstd(cp), "zstd"),
    }
    tar = tar_bytes([("./deploy/", None), ("./deploy/vmlinux-1.0", elf),
                     ("./deploy/vmlinux", None, "vmlinux-1.0"),
                     ("./deploy/bzImage.buildid", record()),
                     ("./deploy/kernel-image-1.0.rpm", out["rpm-plain"]),
                     ("./deploy/" + "long" * 30 + "/vmlinux-2", elf)])
    out.update({"tar": tar, "tar.gz": gzip.compress(tar, mtime=0), "tar.zst": zstd(tar),
                "tar-pax": tar_bytes([("./deploy/vmlinux-1.0", elf)], tarfile.PAX_FORMAT),
                "tar.zst-rle": zstd_rle_tar("vmlinux", 300 << 10),
                "tar.pzstd": b"".join(b"\x50\x2a\x4d\x18\x04\0\0\0" + len(f).to_bytes(4, "little") + f
                                      for f in (zstd(tar[:4096]), zstd(tar[4096:])))})
    with tempfile.TemporaryDirectory() as t:
        for payload in ("w0.ufdio", "w9.gzdio"):
            p = built_rpm(t, payload)
            if p:
                with open(p, "rb") as f:
                    out["rpmbuild-" + payload] = f.read()
    for name, data in out.items():
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)
    return sorted(out)


# ---------------------------------------------------------------- the target

def _check_tree(dest):
    """Only directories and regular files under ``dest``."""
    for dirpath, dirs, files in os.walk(dest):
        for n in dirs + files:
            mode = os.lstat(os.path.join(dirpath, n)).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise AssertionError("%s written under %s" % (oct(mode), dest))


def one_input(data, artifacts, errors, work):
    """The property: only KernelReproError escapes, and nothing but regular
    files is written, only into the destination, whatever ``data`` is."""
    E = errors.KernelReproError
    src = os.path.join(work, "input")
    out = os.path.join(work, "out")
    with open(src, "wb") as f:
        f.write(data)
    calls = (
        lambda: artifacts.package_files(src, os.path.join(out, "rpm"), limit=LIMIT),
        lambda: artifacts.sstate_members(src, os.path.join(out, "tar"), lambda n: True, limit=LIMIT),
        lambda: artifacts.sstate_kernel_ids(src, os.path.join(out, "ids"), limit=LIMIT),
        lambda: artifacts.cpio_members(src, lambda n: True, limit=LIMIT),
        lambda: artifacts.image_kernel_ids(src, os.path.join(out, "img"), limit=LIMIT),
    )
    try:
        for call in calls:
            try:
                call()
            except E as e:
                if "\n" in str(e):
                    raise AssertionError("a message of more than one line: %r" % str(e))
        if sorted(os.listdir(work)) != ["input", "out"] and sorted(os.listdir(work)) != ["input"]:
            raise AssertionError("written outside the destinations: %s" % os.listdir(work))
        _check_tree(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def scratch():
    base = os.environ.get("KERNEL_REPRO_FUZZ_TMP") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    return tempfile.mkdtemp(prefix="kr-fuzz-archives-", dir=base)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        print("%d seeds: %s" % (len(n := seeds(sys.argv[2])), " ".join(n)))
        return
    import atheris
    with atheris.instrument_imports(include=["kernelrepro"]):
        from kernelrepro import artifacts, decompress, errors, image  # noqa: F401
    work = scratch()

    def test_one(data):
        one_input(data, artifacts, errors, work)
    try:
        atheris.Setup(sys.argv, test_one)
        atheris.Fuzz()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
