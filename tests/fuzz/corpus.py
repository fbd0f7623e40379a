# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Seed corpus for the fuzzers: small inputs of every format the readers take.

Seeds are cut from the fixture kernels where they are built (a real ELF
reduced to its .notes, real modules, the notes file, the real bzImage setup
header around a small payload, the arm64 Image head and its vDSO, the zboot
header) and crafted otherwise; each is then compressed with the real tools.
Kept small (a few KiB to ~100 KiB) so that the fuzzer mutates structure
rather than spending its time in bulk data.

    python tests/fuzz/corpus.py DIR     # writes DIR/seed-*
"""

import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "lib"))

ARM64_HEAD = b"\0" * 0x38 + b"ARM\x64" + b"\0" * 8
BID = bytes(range(1, 21))
#: Larger seeds are left out (compressed variants of them stay).
MAX_SEED = 64 << 10

COMPRESSORS = {
    "gz": ["gzip", "-c", "-n"], "bz2": ["bzip2", "-c"], "xz": ["xz", "-c", "--check=crc32"],
    "lzma": ["xz", "-c", "--format=lzma"], "zst": ["zstd", "-q", "-c"],
    "lz4": ["lz4", "-q", "-c"], "lz4l": ["lz4", "-q", "-l", "-c"], "lzo": ["lzop", "-c"],
}


def note(bid=BID):
    return struct.pack("<III", 4, len(bid), 3) + b"GNU\0" + bid


def crafted_elf(bid=BID, cls=2, endian="<"):
    """A minimal ELF whose PT_NOTE and SHT_NOTE both hold a build-id note."""
    n = note(bid) if endian == "<" else struct.pack(">III", 4, len(bid), 3) + b"GNU\0" + bid
    if cls == 2:
        ehdr, phdr, shdr = 64, 56, 64
        noff = ehdr + phdr
        shoff = noff + len(n)
        h = b"\x7fELF" + bytes([2, 1 if endian == "<" else 2, 1]) + bytes(9)
        h += struct.pack(endian + "HHIQQQIHHHHHH", 2, 62, 1, 0, ehdr, shoff, 0, ehdr, phdr, 1,
                         shdr, 2, 0)
        ph = struct.pack(endian + "IIQQQQQQ", 4, 4, noff, 0, 0, len(n), len(n), 4)
        sh = bytes(shdr) + struct.pack(endian + "IIQQQQIIQQ", 0, 7, 2, 0, noff, len(n), 0, 0, 4, 0)
    else:
        ehdr, phdr, shdr = 52, 32, 40
        noff = ehdr + phdr
        shoff = noff + len(n)
        h = b"\x7fELF" + bytes([1, 1 if endian == "<" else 2, 1]) + bytes(9)
        h += struct.pack(endian + "HHIIIIIHHHHHH", 2, 3, 1, 0, ehdr, shoff, 0, ehdr, phdr, 1,
                         shdr, 2, 0)
        ph = struct.pack(endian + "IIIIIIII", 4, noff, 0, 0, len(n), len(n), 4, 4)
        sh = bytes(shdr) + struct.pack(endian + "IIIIIIIIII", 0, 7, 2, 0, noff, len(n), 0, 0, 4, 0)
    return h + ph + n + sh


def crafted_raw(vdso=None):
    """arm64-Image-like: header, an embedded ELF with its own note (vDSO), the image's note."""
    vdso = vdso or crafted_elf(b"\xee" * 20)
    return ARM64_HEAD + bytes(200) + vdso + bytes(300) + note() + bytes(64)


def bzimage_around(setup, payload):
    """A bzImage: the real (or a crafted) setup header, payload_offset/length set."""
    setup = bytearray(setup)
    struct.pack_into("<II", setup, 0x248, 0, len(payload))
    return bytes(setup) + payload


def crafted_setup():
    s = bytearray(4 * 512 + 512)
    s[0x1f1] = 4
    s[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", s, 0x206, 0x20f)
    return bytes(s)


def zboot_around(payload, method=b"gzip"):
    h = bytearray(0x40)
    h[0:2] = b"MZ"
    h[4:8] = b"zimg"
    struct.pack_into("<II", h, 8, 0x40, len(payload))
    h[24:24 + len(method)] = method
    return bytes(h) + payload


def compress(data, argv):
    if not shutil.which(argv[0]):
        return None
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, check=True).stdout


def _fixture_dirs():
    cache = os.environ.get("KERNEL_REPRO_CACHE", os.path.expanduser("~/.cache/kernel-repro"))
    return sorted(d for d in glob.glob(os.path.join(cache, "fixtures", "*"))
                  if os.path.isdir(d) and not d.endswith(".tmp"))


def from_fixtures():
    """Seeds cut from the fixture kernels that are built (none: {})."""
    seeds = {}
    for d in _fixture_dirs():
        tag = os.path.basename(d).split("-")[0]
        vmlinux = os.path.join(d, "vmlinux")
        with tempfile.TemporaryDirectory() as t:
            if os.path.exists(vmlinux) and shutil.which("objcopy"):
                small = os.path.join(t, "notes.elf")
                if subprocess.run(["objcopy", "--only-section=.notes", vmlinux, small],
                                  stderr=subprocess.DEVNULL).returncode == 0:
                    seeds["%s-vmlinux-notes.elf" % tag] = open(small, "rb").read()
                raw = os.path.join(t, "notes")
                if subprocess.run(["objcopy", "-O", "binary", "--only-section=.notes", vmlinux,
                                   raw], stderr=subprocess.DEVNULL).returncode == 0:
                    seeds["%s-sys-kernel-notes" % tag] = open(raw, "rb").read()
        mods = sorted(glob.glob(os.path.join(d, "modules", "**", "*.ko"), recursive=True),
                      key=os.path.getsize)
        for m in mods[:2]:
            seeds["%s-%s" % (tag, os.path.basename(m))] = open(m, "rb").read()
        bz = os.path.join(d, "bzImage")
        if os.path.exists(bz):
            with open(bz, "rb") as f:
                head = f.read(1 << 16)
            setup = head[:(head[0x1f1] + 1) * 512]
            small = seeds.get("%s-vmlinux-notes.elf" % tag)
            if small:
                xz = compress(small, ["xz", "-c", "--check=crc32"])
                if xz:
                    seeds["%s-bzImage-small" % tag] = bzimage_around(setup, xz)
        img = os.path.join(d, "Image")
        if os.path.exists(img):
            with open(img, "rb") as f:
                data = f.read()
            v = data.find(b"\x7fELF\x02\x01")
            vdso = data[v:v + 8192] if v > 0 else b""
            seeds["%s-Image-head-vdso" % tag] = data[:4096] + vdso + note()
        efi = os.path.join(d, "vmlinuz.efi")
        if os.path.exists(efi):
            with open(efi, "rb") as f:
                head = f.read(4096)
            gz = compress(seeds.get("%s-Image-head-vdso" % tag, crafted_raw()), ["gzip", "-c", "-n"])
            if gz and head[4:8] == b"zimg":
                h = bytearray(head[:0x40])
                struct.pack_into("<II", h, 8, 0x40, len(gz))
                seeds["%s-zboot-small" % tag] = bytes(h) + gz
    return seeds


def crafted():
    seeds = {
        "elf64-lsb": crafted_elf(), "elf64-msb": crafted_elf(endian=">"),
        "elf32-lsb": crafted_elf(cls=1), "elf32-msb": crafted_elf(cls=1, endian=">"),
        "notes": note() + struct.pack("<III", 4, 4, 1) + b"Xen\0" + b"abcd",
        "raw-image": crafted_raw(),
    }
    seeds["bzImage-elf"] = bzimage_around(crafted_setup(), crafted_elf())
    xz = compress(crafted_elf(), ["xz", "-c", "--check=crc32"])
    if xz:
        seeds["bzImage-xz"] = bzimage_around(crafted_setup(), xz)
    gz = compress(crafted_raw(), ["gzip", "-c", "-n"])
    if gz:
        seeds["zboot-gzip"] = zboot_around(gz)
    return seeds


def build(directory):
    os.makedirs(directory, exist_ok=True)
    seeds = crafted()
    seeds.update(from_fixtures())
    for name, data in list(seeds.items()):
        if name.startswith(("raw-image", "elf64-lsb")) or name.endswith(("Image-head-vdso",
                                                                        "vmlinux-notes.elf")):
            for suffix, argv in COMPRESSORS.items():
                c = compress(data, argv)
                if c:
                    seeds["%s.%s" % (name, suffix)] = c
    seeds = {k: v for k, v in seeds.items() if len(v) <= MAX_SEED}
    for name, data in seeds.items():
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)
    return sorted(seeds)


if __name__ == "__main__":
    names = build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus"))
    print("%d seeds: %s" % (len(names), " ".join(names)))
