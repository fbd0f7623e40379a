# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Recognise a kernel image format and find the layer inside it.

Supported layers (they nest; at most MAX_DEPTH deep):

* ELF (vmlinux, debug vmlinux, modules): 32/64-bit, either endianness;
* x86 bzImage (boot protocol >= 2.08: payload_offset/payload_length from
  the setup header), also when it is an EFI/PE image, signed or not;
* PE images with a ``.linux`` section (unified kernel images);
* EFI zboot images (``MZ`` + ``zimg``: arm64/riscv/loongarch vmlinuz.efi);
* arm64 / riscv ``Image`` (raw, no ELF): the build-id note is found in the bytes;
* gzip, bzip2, xz, lzma, zstd, lz4, legacy lz4, lzo streams (Image.gz, vmlinux.xz ...);
* the raw contents of /sys/kernel/notes (a sequence of ELF notes).

Headers are parsed with bounds checks; payloads are decompressed through
kernelrepro.decompress (bounded, streaming).
"""

import struct

from . import decompress
from .elfread import parse_notes
from .errors import FormatError
from .stream import StreamBlob, SubBlob, reader

MAX_DEPTH = 6
HEAD = 4096


def _u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def _u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def _is_bzimage(head):
    return len(head) >= 0x250 and head[0x202:0x206] == b"HdrS"


def _is_arm64_image(head):
    return len(head) >= 0x40 and head[0x38:0x3c] == b"ARM\x64"


def _is_riscv_image(head):
    return len(head) >= 0x40 and head[0x34:0x38] == b"RSC\x05"


def _is_zboot(head):
    return len(head) >= 0x38 and head[:2] == b"MZ" and head[4:8] == b"zimg"


def _pe_sections(blob, head):
    """Section table of a PE image: [(name, offset, size)], or None if not PE."""
    if len(head) < 0x40 or head[:2] != b"MZ":
        return None
    pe = _u32(head, 0x3c)
    hdr = blob.read_at(pe, 24)
    if len(hdr) < 24 or hdr[:4] != b"PE\0\0":
        return None
    nsec = _u16(hdr, 6)
    opt_size = _u16(hdr, 20)
    table = blob.read_at(pe + 24 + opt_size, 40 * min(nsec, 96))
    out = []
    for i in range(len(table) // 40):
        s = table[i * 40:(i + 1) * 40]
        name = s[:8].rstrip(b"\0").decode("ascii", "replace")
        raw_size, raw_ptr = _u32(s, 16), _u32(s, 20)
        out.append((name, raw_ptr, raw_size))
    return out


def _looks_like_notes(data):
    try:
        notes = parse_notes(data, "<", align=4, strict=True)
    except FormatError:
        return False
    return bool(notes)


class Layer:
    """One step from the file to the kernel: what it is and where it led."""

    def __init__(self, kind, detail=""):
        self.kind = kind
        self.detail = detail

    def __str__(self):
        return "%s (%s)" % (self.kind, self.detail) if self.detail else self.kind


def resolve(blob, limit=decompress.DEFAULT_LIMIT, name="input", keep=None, spools=None):
    """Peel container layers off ``blob``.

    Returns ``(kind, blob, layers)`` where kind is 'elf', 'image' (raw
    arm64/riscv Image) or 'notes', and layers describes the path taken.
    ``keep``, ``spools``: how decompressed layers are kept (see stream.StreamBlob).
    """
    layers = []
    # one cap for all layers: nesting compressors must not multiply it
    budget = limit if isinstance(limit, decompress.Budget) else decompress.Budget(limit, name)
    for _depth in range(MAX_DEPTH):
        head = blob.read_at(0, HEAD)
        if len(head) < 4:
            raise FormatError("%s: too short to be a kernel image (%d bytes)" % (name, len(head)))
        if head[:4] == b"\x7fELF":
            if len(head) < 0x34:
                raise FormatError("%s: truncated ELF header (%d bytes)" % (name, len(head)))
            layers.append(Layer("ELF", _elf_desc(head)))
            return "elf", blob, layers
        if _is_zboot(head):
            off, size = _u32(head, 8), _u32(head, 12)
            method = head[24:56].split(b"\0")[0].decode("ascii", "replace")
            if method not in decompress._METHODS:
                raise FormatError("%s: EFI zboot image with unknown compression %r" % (name, method))
            layers.append(Layer("EFI zboot", "%s payload at 0x%x, %d bytes" % (method, off, size)))
            blob = StreamBlob(decompress.stream(reader(blob, off, size), method, budget),
                              budget.limit, keep, spools)
            continue
        if _is_arm64_image(head) or _is_riscv_image(head):
            layers.append(Layer("arm64 Image" if _is_arm64_image(head) else "riscv Image",
                                "raw, EFI stub" if head[:2] == b"MZ" else "raw"))
            return "image", blob, layers
        if _is_bzimage(head):
            blob = _bzimage_payload(blob, head, layers, budget, name, keep, spools)
            continue
        secs = _pe_sections(blob, head)
        if secs is not None:
            linux = [s for s in secs if s[0] == ".linux"]
            if not linux:
                raise FormatError("%s: a PE/EFI image without a kernel in it (no .linux "
                                  "section, not a bzImage or zboot image)" % name)
            _n, off, size = linux[0]
            layers.append(Layer("PE unified kernel image", ".linux at 0x%x, %d bytes" % (off, size)))
            blob = SubBlob(blob, off, size)
            continue
        method = decompress.detect(head)
        if method:
            layers.append(Layer(method))
            blob = StreamBlob(decompress.stream(reader(blob, 0), method, budget), budget.limit,
                              keep, spools)
            continue
        if _looks_like_notes(blob.read_at(0, 1 << 16)):
            layers.append(Layer("ELF notes", "as in /sys/kernel/notes"))
            return "notes", blob, layers
        raise FormatError("%s: not a kernel image (unknown format, starts with %s)"
                          % (name, head[:8].hex()))
    raise FormatError("%s: more than %d nested layers; refusing" % (name, MAX_DEPTH))


def _bzimage_payload(blob, head, layers, limit, name, keep=None, spools=None):
    version = _u16(head, 0x206)
    if version < 0x208:
        raise FormatError("%s: bzImage boot protocol %d.%02d is older than 2.08 and "
                          "does not say where its payload is" % (name, version >> 8, version & 0xff))
    setup_sects = head[0x1f1] or 4
    payload_off = _u32(head, 0x248)
    payload_len = _u32(head, 0x24c)
    start = (setup_sects + 1) * 512 + payload_off
    total = blob.size()
    if payload_len == 0 or start + payload_len > total:
        raise FormatError("%s: truncated bzImage: payload at 0x%x+%d runs past the end "
                          "of the file (%d bytes)" % (name, start, payload_len, total))
    phead = blob.read_at(start, 16)
    method = decompress.detect(phead)
    pe = " EFI/PE" if head[:2] == b"MZ" else ""
    if method is None:
        if phead[:4] == b"\x7fELF":
            layers.append(Layer("bzImage" + pe, "protocol %d.%02d, uncompressed payload"
                                % (version >> 8, version & 0xff)))
            return SubBlob(blob, start, payload_len)
        raise FormatError("%s: bzImage payload has an unknown compression (starts with %s)"
                          % (name, phead[:6].hex()))
    layers.append(Layer("bzImage" + pe, "protocol %d.%02d, %s payload at 0x%x, %d bytes"
                        % (version >> 8, version & 0xff, method, start, payload_len)))
    return StreamBlob(decompress.stream(reader(blob, start, payload_len), method, limit),
                      limit.limit, keep, spools)


def _elf_desc(head):
    cls = {1: "32-bit", 2: "64-bit"}.get(head[4], "?")
    end = {1: "LSB", 2: "MSB"}.get(head[5], "?")
    return "%s %s" % (cls, end)
