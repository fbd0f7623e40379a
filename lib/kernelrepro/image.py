# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Find the kernel inside any kernel image format, and its GNU build-id.

Images are only ever read: headers are parsed with bounds checks, payloads
are decompressed through kernelrepro.decompress (bounded, streaming), and
nothing in an image is executed.

Supported layers (they nest; at most MAX_DEPTH deep):

* ELF (vmlinux, debug vmlinux, modules): 32/64-bit, either endianness;
* x86 bzImage (boot protocol >= 2.08: payload_offset/payload_length from
  the setup header), also when it is an EFI/PE image, signed or not;
* PE images with a ``.linux`` section (unified kernel images);
* EFI zboot images (``MZ`` + ``zimg``: arm64/riscv/loongarch vmlinuz.efi);
* arm64 / riscv ``Image`` (raw, no ELF): the build-id note is found in the bytes;
* gzip, bzip2, xz, lzma, zstd, lz4, legacy lz4, lzo streams (Image.gz, vmlinux.xz ...);
* the raw contents of /sys/kernel/notes (a sequence of ELF notes).
"""

import bisect
import contextlib
import os
import stat
import struct
import sys

from . import decompress
from .errors import FormatError, KernelReproError, NoBuildIdError

MAX_DEPTH = 6
HEAD = 4096
NT_GNU_BUILD_ID = 3
PT_NOTE = 4
SHT_NOTE = 7
#: Extended numbering (gABI): e_shnum 0 -> the count is section 0's sh_size,
#: e_shstrndx SHN_XINDEX -> the index is its sh_link, e_phnum PN_XNUM -> the
#: count is its sh_info (objects and modules with more than 0xff00 sections).
SHN_XINDEX = 0xffff
PN_XNUM = 0xffff


# --------------------------------------------------------------------------
# Byte sources: a seekable file window, or a decompressed stream spooled on
# demand (so that reading stops as soon as the caller has what it needs).

class _WindowBlob:
    """Random-access bytes of known length: ``read_at`` is all a subclass needs."""

    length = 0

    def size(self):
        return self.length

    def copy_to(self, out, chunk=decompress.CHUNK):
        pos = 0
        while pos < self.length:
            b = self.read_at(pos, chunk)
            if not b:
                break
            out.write(b)
            pos += len(b)


class FileBlob(_WindowBlob):
    def __init__(self, f, base=0, length=None):
        self.f = f
        self.base = base
        if length is None:
            f.seek(0, os.SEEK_END)
            length = f.tell() - base
        self.length = length

    def read_at(self, offset, size):
        if offset >= self.length or size <= 0:
            return b""
        size = min(size, self.length - offset)
        self.f.seek(self.base + offset)
        return self.f.read(size)


class _Rewind(Exception):
    """A look-up needs bytes a StreamBlob in look-up mode has dropped: start again
    keeping everything (see StreamBlob)."""


#: Look-up mode keeps this much of the start of a stream (in memory) ...
LOOKUP_KEEP = 64 << 20
#: ... and at least this much of its most recent output.
LOOKUP_TAIL = 4 << 20


#: The temporary file that holds a payload past what is kept in memory, for check.
PAYLOAD_PREFIX = "kernel-repro-payload-"


class _Spool:
    """Bytes appended in order, then read at random.

    The first SPOOL_MEM bytes stay in memory as the decoder's own chunks:
    nothing is copied on the way in, and a read of one whole chunk returns
    that chunk itself. The rest goes to a temporary file: a named one
    (``prefix`` + random, in TMPDIR) when ``prefix`` is given, else an
    unnamed one. ``close()`` removes it.
    """

    def __init__(self, prefix=None):
        self.chunks, self.starts = [], []
        self.mem = 0            # bytes [0, mem) are in chunks, [mem, size) in the file
        self.size = 0
        self.file = None
        self.prefix = prefix

    def append(self, b):
        if not b:
            return
        if self.file is None and self.mem + len(b) <= SPOOL_MEM:
            self.chunks.append(b)
            self.starts.append(self.mem)
            self.mem += len(b)
        else:
            if self.file is None:
                import tempfile  # here: most inputs never need it (start-up time)
                held = _hold_signals()
                try:
                    self.file = (tempfile.NamedTemporaryFile(prefix=self.prefix) if self.prefix
                                 else tempfile.TemporaryFile())
                finally:
                    _release_signals(held)  # self.file is set: close() removes it
            self.file.seek(self.size - self.mem)
            self.file.write(b)
        self.size += len(b)

    def iter_range(self, off, n, chunk=decompress.CHUNK):
        """Bytes [off, off + n) (clipped to what is held) as pieces: a whole chunk as it
        is, part of one as a copy of that part, from the file ``chunk`` at a time."""
        end = min(off + n, self.size)
        if off < 0:
            return
        if off < self.mem:
            i = bisect.bisect_right(self.starts, off) - 1
            stop = min(end, self.mem)
            while off < stop:
                c, s = self.chunks[i], self.starts[i]
                lo, hi = off - s, min(len(c), stop - s)
                yield c if lo == 0 and hi == len(c) else c[lo:hi]
                off = s + hi
                i += 1
        while off < end:
            self.file.seek(off - self.mem)
            b = self.file.read(min(chunk, end - off))
            if not b:
                return
            yield b
            off += len(b)

    def read(self, off, n):
        parts = list(self.iter_range(off, n))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def copy_to(self, out, chunk=decompress.CHUNK):
        for b in self.iter_range(0, self.size, chunk):
            out.write(b)

    def close(self):
        self.chunks, self.starts = [], []
        if self.file is not None:
            self.file.close()


#: A spool keeps this much in memory (see _Spool).
SPOOL_MEM = 64 << 20


class _Spools:
    """How the StreamBlobs of one input keep their bytes, and closing them all."""

    def __init__(self, prefix=None):
        self.prefix = prefix
        self.spools = []

    def new(self):
        s = _Spool(self.prefix)
        self.spools.append(s)
        return s

    def close(self):
        for s in self.spools:
            s.close()


class StreamBlob:
    """A decompressed stream, buffered as far as it has been read.

    ``keep=None``: everything read is kept (in memory, in a temporary file
    past 64 MiB; see _Spool), for extraction. ``keep=N`` (look-up mode, for a build-id): only
    the first N bytes and the last LOOKUP_TAIL are kept, so a header that
    sends the reader far into a stream (a note or table claimed near the
    --max-size cap) costs decompression time, neither memory nor disk; a
    read of dropped bytes raises _Rewind and the caller starts again in
    full mode. ``spools``: a _Spools that names and closes the spool.
    """

    def __init__(self, chunks, cap=None, keep=None, spools=None):
        self.chunks = iter(chunks)
        self.cap = cap          # at most this many bytes (the --max-size budget)
        self.keep = keep
        self.buf = spools.new() if spools is not None else _Spool()
        self.have = 0
        self.done = False
        self.consumed = False
        self.kept = 0           # bytes [0, kept) are in buf
        self.tail = []          # (offset, chunk) of the newest output past ``kept``

    def _fill(self, upto):
        if self.consumed:
            raise RuntimeError("internal error: random access to a consumed stream")
        while not self.done and self.have < upto:
            try:
                c = next(self.chunks)
            except StopIteration:
                self.done = True
                break
            if self.keep is None or self.have + len(c) <= self.keep:
                self.buf.append(c)
                self.kept = self.have + len(c)
            else:
                self.tail.append((self.have, c))
                while len(self.tail) > 1 and \
                        self.have + len(c) - self.tail[1][0] >= LOOKUP_TAIL:
                    self.tail.pop(0)
            self.have += len(c)

    def read_at(self, offset, size):
        self._fill(offset + size)
        if offset >= self.have or size <= 0:
            return b""
        size = min(size, self.have - offset)
        if offset + size <= self.kept:
            return self.buf.read(offset, size)
        if not self.tail or offset < self.tail[0][0] or (offset < self.kept):
            raise _Rewind()
        start = self.tail[0][0]
        data = b"".join(c for _o, c in self.tail)
        return data[offset - start:offset - start + size]

    def iter_range(self, offset, size, chunk=decompress.CHUNK):
        """Bytes [offset, offset + size) in pieces, without copying whole chunks
        (the stream is decoded that far first; see _Spool.iter_range)."""
        self._fill(offset + size)
        if offset + min(size, self.have - offset) > self.kept:
            raise _Rewind()
        return self.buf.iter_range(offset, size, chunk)

    def size(self):
        self._fill(float("inf"))
        return self.have

    def next_chunk(self):
        """Decode one more chunk, kept as _fill keeps it, and return it (b"" at the end)."""
        before = self.have
        self._fill(before + 1)
        if self.have == before:
            return b""
        if self.tail and self.tail[-1][0] == before:
            return self.tail[-1][1]
        return self.buf.read(before, self.have - before)

    def copy_to(self, out, chunk=decompress.CHUNK):
        if self.kept < self.have:
            raise _Rewind()
        self.buf.copy_to(out, chunk)
        for c in self.chunks:
            out.write(c)
        self.done = True

    def close(self):
        self.buf.close()


class _StreamTail:
    """Sequential reader of a StreamBlob from ``offset`` on that keeps nothing.

    When a decompressed stream is itself compressed (nested layers), the
    inner decoder reads it once, front to back: what was already buffered
    (the head used to identify it) is served from the buffer, the rest
    straight from the decoder, so an intermediate layer is never spooled.
    The blob is then consumed: it must not be read at random again.
    """

    def __init__(self, blob, offset, length=None):
        self.blob = blob
        self.pos = offset
        self.left = (1 << 62) if length is None else length
        self.pending = b""

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        n = min(n, self.left)
        if n <= 0:
            return b""
        blob = self.blob
        if self.pos < blob.have:
            b = blob.read_at(self.pos, min(n, blob.have - self.pos))
        else:
            if not self.pending:
                blob.consumed = True
                self.pending = next(blob.chunks, b"")
                if not self.pending:
                    blob.done = True
            b, self.pending = self.pending[:n], self.pending[n:]
        self.pos += len(b)
        self.left -= len(b)
        return b

    def readable(self):
        return True


def _reader(blob, offset, length=None):
    """A sequential reader over ``blob`` for a decoder (see _StreamTail)."""
    if isinstance(blob, StreamBlob):
        return _StreamTail(blob, offset, length)
    return BlobReader(blob, offset, length)


class BlobReader:
    """A file-like sequential reader over a window of a blob (for decompressors)."""

    def __init__(self, blob, offset, length=None):
        self.blob = blob
        self.pos = offset
        self.end = None if length is None else offset + length

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        if self.end is not None:
            n = min(n, self.end - self.pos)
        b = self.blob.read_at(self.pos, n) if n > 0 else b""
        self.pos += len(b)
        return b

    def readinto(self, buf):
        b = self.read(len(buf))
        buf[:len(b)] = b
        return len(b)

    def readable(self):
        return True


# --------------------------------------------------------------------------
# Layer detection

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
    ``keep``, ``spools``: how decompressed layers are kept (see StreamBlob).
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
            blob = StreamBlob(decompress.stream(_reader(blob, off, size), method, budget),
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
            blob = _SubBlob(blob, off, size)
            continue
        method = decompress.detect(head)
        if method:
            layers.append(Layer(method))
            blob = StreamBlob(decompress.stream(_reader(blob, 0), method, budget), budget.limit,
                              keep, spools)
            continue
        if _looks_like_notes(blob.read_at(0, 1 << 16)):
            layers.append(Layer("ELF notes", "as in /sys/kernel/notes"))
            return "notes", blob, layers
        raise FormatError("%s: not a kernel image (unknown format, starts with %s)"
                          % (name, head[:8].hex()))
    raise FormatError("%s: more than %d nested layers; refusing" % (name, MAX_DEPTH))


class _SubBlob(_WindowBlob):
    def __init__(self, blob, off, size):
        self.blob, self.off, self.length = blob, off, size

    def read_at(self, offset, size):
        if offset >= self.length:
            return b""
        return self.blob.read_at(self.off + offset, min(size, self.length - offset))


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
            return _SubBlob(blob, start, payload_len)
        raise FormatError("%s: bzImage payload has an unknown compression (starts with %s)"
                          % (name, phead[:6].hex()))
    layers.append(Layer("bzImage" + pe, "protocol %d.%02d, %s payload at 0x%x, %d bytes"
                        % (version >> 8, version & 0xff, method, start, payload_len)))
    return StreamBlob(decompress.stream(_reader(blob, start, payload_len), method, limit),
                      limit.limit, keep, spools)


# --------------------------------------------------------------------------
# ELF notes

def _elf_desc(head):
    cls = {1: "32-bit", 2: "64-bit"}.get(head[4], "?")
    end = {1: "LSB", 2: "MSB"}.get(head[5], "?")
    return "%s %s" % (cls, end)


def elf_header(head):
    """Parse the ELF header bytes -> dict (bounds-checked).

    The fields as they are in the header: extended numbering (e_shnum 0,
    e_shstrndx SHN_XINDEX, e_phnum PN_XNUM) is resolved by the readers of
    the tables (see _section_zero).
    """
    if len(head) < 0x34 or head[:4] != b"\x7fELF":
        raise FormatError("not an ELF file")
    cls, data = head[4], head[5]
    if cls not in (1, 2) or data not in (1, 2):
        raise FormatError("corrupt ELF header (class %d, data %d)" % (cls, data))
    e = "<" if data == 1 else ">"
    if cls == 2:
        if len(head) < 0x40:
            raise FormatError("truncated ELF header")
        etype, = struct.unpack_from(e + "H", head, 0x10)
        phoff, shoff = struct.unpack_from(e + "QQ", head, 0x20)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(e + "HHHHH", head, 0x36)
    else:
        etype, = struct.unpack_from(e + "H", head, 0x10)
        phoff, shoff = struct.unpack_from(e + "II", head, 0x1c)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(e + "HHHHH", head, 0x2a)
    return {"class": cls, "endian": e, "type": etype, "phoff": phoff, "shoff": shoff,
            "phentsize": phentsize, "phnum": phnum, "shentsize": shentsize,
            "shnum": shnum, "shstrndx": shstrndx}


def _extent(blob):
    """(most bytes ``blob`` can hold, whether that is its real size).

    A file window knows its size; a decompressed stream not read to its end
    is bounded by the --max-size budget.
    """
    if isinstance(blob, StreamBlob):
        if blob.done:
            return blob.have, True
        return (blob.cap if blob.cap is not None else decompress.DEFAULT_LIMIT), False
    return blob.length, True


def _header_table(blob, h, prefix, what, std, fmt):
    """Entries of the program or section header table, read a piece at a time.

    The table's claimed extent (e_phnum x e_phentsize at e_phoff) is checked
    against the input's real size, or the --max-size budget for a stream,
    before anything is read, and then read 64 KiB at a time: a header
    claiming 0xffff entries of 0xffff bytes costs neither memory nor time.
    """
    num, entsize, off = h[prefix + "num"], h[prefix + "entsize"], h[prefix + "off"]
    if not num:
        return
    if not std <= entsize <= 4096:
        raise FormatError("corrupt ELF header: %s table entries of %d bytes (expected %d)"
                          % (what, entsize, std))
    end = off + num * entsize
    avail, real = _extent(blob)
    if end > avail:
        raise FormatError("corrupt or truncated ELF: the %s table (%d entries of %d bytes at "
                          "offset 0x%x) runs past the end of the %s (%d bytes)"
                          % (what, num, entsize, off, "data" if real else "--max-size limit",
                             avail))
    per = max(1, (64 << 10) // entsize)
    for first in range(0, num, per):
        n = min(per, num - first)
        table = blob.read_at(off + first * entsize, n * entsize)
        if len(table) < n * entsize:
            raise FormatError("truncated ELF: the %s table at offset 0x%x runs past the end "
                              "of the data" % (what, off))
        for i in range(n):
            yield struct.unpack_from(fmt, table, i * entsize)


def _section_zero(blob, h):
    """(sh_size, sh_link, sh_info) of section 0, where extended numbering keeps
    the real e_shnum, e_shstrndx and e_phnum; None when there is no section
    table or its first entry cannot be read (the header's own values stand)."""
    if not h["shoff"]:
        return None
    is64 = h["class"] == 2
    try:
        for ent in _header_table(blob, dict(h, shnum=1), "sh", "section header",
                                 64 if is64 else 40,
                                 h["endian"] + ("IIQQQQII" if is64 else "IIIIIIII")):
            return ent[5], ent[6], ent[7]
    except FormatError:
        return None
    return None


def program_headers(blob, h):
    """(p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align) of each
    program header of the ELF whose header is ``h`` (elf_header), read a piece
    at a time (_header_table); e_phnum PN_XNUM takes the count from section 0."""
    is64 = h["class"] == 2
    if h["phnum"] == PN_XNUM:
        zero = _section_zero(blob, h)
        if zero is not None:
            h = dict(h, phnum=zero[2])
    for ent in _header_table(blob, h, "ph", "program header", 56 if is64 else 32,
                             h["endian"] + ("IIQQQQQQ" if is64 else "IIIIIIII")):
        if is64:
            ptype, _f, off, vaddr, paddr, filesz, memsz, align = ent
        else:
            ptype, off, vaddr, paddr, filesz, memsz, _f, align = ent
        yield ptype, off, vaddr, paddr, filesz, memsz, align


def _note_regions(blob, h):
    """(offset, size, align) of PT_NOTE segments, then SHT_NOTE sections.

    A generator: the section header table sits at the end of the file, so it
    is only read (and a compressed stream only decompressed that far) when
    the program headers did not lead to a build-id. Extended numbering is
    followed as readelf does: e_phnum PN_XNUM and e_shnum 0 take the counts
    from section 0.
    """
    e, is64 = h["endian"], h["class"] == 2
    seen = set()
    for ptype, off, _va, _pa, filesz, _ms, align in program_headers(blob, h):
        if ptype == PT_NOTE and filesz:
            r = (off, filesz, 8 if align == 8 else 4)
            seen.add(r)
            yield r
    sh = h
    if h["shnum"] == 0:
        zero = _section_zero(blob, h)
        if zero is not None:
            sh = dict(h, shnum=zero[0])
    for ent in _header_table(blob, sh, "sh", "section header", 64 if is64 else 40,
                             e + ("IIQQQQIIQ" if is64 else "IIIIIIIII")):
        _n, stype, _fl, _a, off, size, _l, _i, align = ent
        r = (off, size, 8 if align == 8 else 4)
        if stype == SHT_NOTE and size and r not in seen:
            yield r


def parse_notes(data, endian="<", align=4, strict=False):
    """Parse a sequence of ELF notes -> [(name, type, desc_bytes)].

    ``strict``: every byte must belong to a well-formed note (used to
    recognise raw /sys/kernel/notes); otherwise stop at the first bad one.
    """
    notes = []
    pos, n = 0, len(data)

    def up(x):
        return (x + align - 1) & ~(align - 1)
    while pos + 12 <= n:
        namesz, descsz, ntype = struct.unpack_from(endian + "III", data, pos)
        if namesz > 256 or descsz > (1 << 20):
            if strict:
                raise FormatError("bad note header")
            break
        name_end = pos + 12 + namesz
        desc_start = pos + 12 + up(namesz)
        desc_end = desc_start + descsz
        if desc_end > n:
            if strict:
                raise FormatError("truncated note")
            break
        name = data[pos + 12:name_end].rstrip(b"\0").decode("ascii", "replace")
        if strict and (namesz == 0 or not name.isprintable()):
            raise FormatError("bad note name")
        notes.append((name, ntype, bytes(data[desc_start:desc_end])))
        pos = up(desc_end)
    if strict and data[pos:].strip(b"\0"):
        raise FormatError("trailing bytes after notes")
    return notes


def _gnu_build_id(notes):
    for name, ntype, desc in notes:
        if name == "GNU" and ntype == NT_GNU_BUILD_ID and desc:
            return desc.hex()
    return None


def elf_build_id(blob):
    """Build-id of an ELF blob, reading only the headers and note regions."""
    h = elf_header(blob.read_at(0, 64))
    avail, _real = _extent(blob)
    for off, size, align in _note_regions(blob, h):
        if size > (1 << 20) or off + size > avail:
            continue
        bid = _gnu_build_id(parse_notes(blob.read_at(off, size), h["endian"], align))
        if bid:
            return bid
    return None


class _BytesBlob(_WindowBlob):
    def __init__(self, data, base=0):
        self.data, self.base, self.length = data, base, len(data) - base

    def read_at(self, offset, size):
        if offset < 0 or offset >= self.length or size <= 0:
            return b""
        start = self.base + offset
        return bytes(self.data[start:start + size])


EMBEDDED_ELF_LOOKBEHIND = 1 << 17
# An embedded ELF object worth skipping is a vDSO: a handful of program
# headers and a few dozen sections. Larger tables are not looked at, which
# bounds the work per header.
_EMBEDDED_MAX_PHNUM = 32
_EMBEDDED_MAX_SHNUM = 128
_ELF_START = None


def _elf_starts(data):
    """Offsets of plausible ELF headers (magic, valid class and byte order) in ``data``."""
    global _ELF_START
    if _ELF_START is None:
        import re
        _ELF_START = re.compile(b"\x7fELF[\x01\x02][\x01\x02]")
    return [m.start() for m in _ELF_START.finditer(data)]


def _embedded_note_regions(data, e):
    """[(start, end)] of the note regions of the ELF object whose header is at ``e``.

    Only tables lying wholly inside ``data`` and no larger than a vDSO's are
    read, so one call costs O(_EMBEDDED_MAX_PHNUM + _EMBEDDED_MAX_SHNUM).
    """
    try:
        h = elf_header(bytes(data[e:e + 64]))
    except (FormatError, struct.error):
        return []
    en, is64 = h["endian"], h["class"] == 2
    if h["shnum"] == 0 or h["phnum"] == PN_XNUM:    # extended numbering: see _section_zero
        fmt = en + ("IIQQQQII" if is64 else "IIIIIIII")
        at = e + h["shoff"]
        if h["shoff"] and h["shentsize"] == (64 if is64 else 40) and \
                at + struct.calcsize(fmt) <= len(data):
            zero = struct.unpack_from(fmt, data, at)
            h = dict(h, shnum=zero[5] if h["shnum"] == 0 else h["shnum"],
                     phnum=zero[7] if h["phnum"] == PN_XNUM else h["phnum"])
    out = []
    for num, entsize, off, cap, fmt, want, (ti, oi, si) in (
            (h["phnum"], h["phentsize"], h["phoff"], _EMBEDDED_MAX_PHNUM,
             "IIQQQQQQ" if is64 else "IIIIIIII", PT_NOTE, (0, 2, 5) if is64 else (0, 1, 4)),
            (h["shnum"], h["shentsize"], h["shoff"], _EMBEDDED_MAX_SHNUM,
             "IIQQQQIIQQ" if is64 else "IIIIIIIIII", SHT_NOTE, (1, 4, 5))):
        size = struct.calcsize(en + fmt)
        if not num or num > cap or entsize != size or e + off + num * size > len(data):
            continue
        table = data[e + off:e + off + num * size]
        for ent in struct.iter_unpack(en + fmt, table):
            if ent[ti] == want and ent[si]:
                out.append((e + ent[oi], e + ent[oi] + ent[si]))
    return out


class _EmbeddedIndex:
    """Answers "is the note at n inside an ELF object embedded before it?" for one window.

    The ELF header positions are found once (one regex pass); a note is
    tested against the nearest plausible header before it, within the
    look-behind, whose note regions are parsed once and cached. Work is
    linear in the window, however many headers and notes it holds.
    """

    def __init__(self, data):
        self.data = data
        self.starts = _elf_starts(data)
        self.regions = {}
        self.elf = None     # the header of the last covered_until() that covered

    def covers(self, n):
        return self.covered_until(n) is not None

    def covered_until(self, n):
        """None when the note at ``n`` is not inside an embedded ELF object; else
        where the run of notes it covers ends: every note starting in [n, end)
        has the same nearest header (``self.elf``) and lies in the same region."""
        i = bisect.bisect_left(self.starts, n) - 1
        if i < 0:
            return None
        e = self.starts[i]
        if e < n - EMBEDDED_ELF_LOOKBEHIND:
            return None
        regions = self.regions.get(e)
        if regions is None:
            regions = self.regions[e] = _embedded_note_regions(self.data, e)
        for lo, hi in regions:
            if lo <= n < hi:
                self.elf = e
                nxt = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.data)
                return min(hi, nxt, e + EMBEDDED_ELF_LOOKBEHIND + 1)
        return None


def _inside_embedded_elf(data, note_at, index=None):
    """Is the note at ``note_at`` part of an ELF object embedded in the image?

    Kernels carry whole ELF files in their data -- the vDSO (and compat vDSO)
    with a build-id of its own. Its note lies inside that ELF's PT_NOTE (or
    SHT_NOTE section), and that ELF's header is the nearest one before it.
    """
    return (index or _EmbeddedIndex(data)).covers(note_at)


#: A kernel embeds an ELF object or two with a build-id of its own (vDSO,
#: compat vDSO). Past this many before the image's own note the scan stops:
#: each costs Python work, and such an input is no kernel.
MAX_EMBEDDED_ELFS = 4096
_NOTE_RE = None


def _note_headers():
    """Two regular expressions (little, big endian) matching the end of a GNU
    build-id note header -- type NT_GNU_BUILD_ID and the name "GNU\\0" -- with
    the rest checked behind it: namesz 4, descsz 8, 16, 20, 32 or 64. Each
    starts with a literal beginning with the type's \\x03, which sre finds
    fast; the search stays in C however many "GNU" strings, zeros or other
    notes the data holds."""
    global _NOTE_RE
    if _NOTE_RE is None:
        import re
        desc = rb"[\x08\x10\x14\x20\x40]"
        _NOTE_RE = (
            re.compile(rb"\x03\x00\x00\x00GNU\x00(?<=\x04\x00\x00\x00" + desc +
                       rb"\x00\x00\x00\x03\x00\x00\x00GNU\x00)"),
            re.compile(rb"\x03GNU\x00(?<=\x00\x00\x00\x04\x00\x00\x00" + desc +
                       rb"\x00\x00\x00\x03GNU\x00)"))
    return _NOTE_RE


def _find_note_in(data, start=12, base=0, embedded=None):
    """Earliest GNU build-id note in ``data`` that is the image's own -> (offset, hex).

    Candidates come from _note_headers() (well-formed build-id note headers
    only, the next one of each byte order kept until passed); notes of
    embedded ELF objects (vDSO) are skipped, a run of them covered by one
    object in one step. ``embedded``: a set collecting the offsets (``base``
    + offset in ``data``) of the objects skipped, across calls; past
    MAX_EMBEDDED_ELFS of them, FormatError. ``start``: the least offset of a
    note's name.
    """
    index = None
    searches = [r.search for r in _note_headers()]
    pos = max(start, 12)
    found = [None, None]    # the next match of each byte order at or after pos; False: none
    while True:
        for i in (0, 1):
            if found[i] is not False and (found[i] is None or found[i].end() - 4 < pos):
                found[i] = searches[i](data, pos - (4, 1)[i]) or False
        ks = [m.end() - 4 for m in found if m is not False]
        if not ks:
            return None
        k = min(ks)
        (descsz,) = struct.unpack_from("<I" if data[k - 12] == 4 else ">I", data, k - 8)
        if k + 4 + descsz > len(data):
            pos = k + 1     # cut by the end of the window (re-read with the next one)
            continue
        if index is None:
            index = _EmbeddedIndex(data)
        end = index.covered_until(k - 12)
        if end is None:
            return k, data[k + 4:k + 4 + descsz].hex()
        if embedded is not None:
            embedded.add(base + index.elf)
            if len(embedded) > MAX_EMBEDDED_ELFS:
                raise FormatError("more than %d embedded ELF objects with build-id notes of "
                                  "their own before the image's note (a kernel has a vDSO or "
                                  "two): not a kernel image" % MAX_EMBEDDED_ELFS)
        pos = max(k + 1, end + 12)


def scan_build_id(blob, chunk=decompress.CHUNK):
    """Find the image's own GNU build-id note in raw bytes (arm64 Image).

    Stops at the first. Keeps a lookbehind window so a note's embedded-ELF
    check (vDSO) sees the ELF header before it. On a decompressed stream
    nothing older than that window is kept, so memory and disk use stay
    constant however long it is.
    """
    keep = EMBEDDED_ELF_LOOKBEHIND + 128
    embedded = set()
    if isinstance(blob, StreamBlob):
        data = blob.read_at(0, blob.have)   # what identification already read
        base = 0
        found = _find_note_in(data, 12, base, embedded)
        if found:
            return found[1]
        # through the blob, not around it: what is decoded here stays
        # readable (check compares the same decoded bytes afterwards)
        while True:
            c = blob.next_chunk()
            if not c:
                return None
            tail = data[-keep:]
            base += len(data) - len(tail)
            data = tail + c
            found = _find_note_in(data, max(12, len(tail) - 128), base, embedded)
            if found:
                return found[1]
    pos = 0
    while True:
        back = min(pos, keep)   # bytes before ``pos`` re-read for the lookbehind
        data = blob.read_at(pos - back, back + chunk)
        if len(data) < 16:
            return None
        found = _find_note_in(data, max(12, back - 128), pos - back, embedded)
        if found:
            return found[1]
        if len(data) < back + chunk:
            return None
        pos += chunk


# --------------------------------------------------------------------------
# Public entry points

@contextlib.contextmanager
def open_image(path, limit=decompress.DEFAULT_LIMIT, keep=None, spools=None):
    """Open ``path`` and resolve it: yields (kind, blob, layers).

    ``keep``: look-up mode for decompressed streams (see StreamBlob);
    ``spools``: where they keep their bytes (see open_payload).
    """
    f = _open_input(path)
    with f:
        yield resolve(FileBlob(f), limit, name=path, keep=keep, spools=spools)


def _look_up(path, limit, fn):
    """fn(kind, blob, layers) on ``path`` opened in look-up mode; again keeping
    everything if the look-up needed bytes that mode dropped."""
    for keep in (LOOKUP_KEEP, None):
        try:
            with open_image(path, limit, keep) as (kind, blob, layers):
                return fn(kind, blob, layers)
        except _Rewind:
            continue
    raise RuntimeError("internal error: look-up did not finish")


_NOT_REGULAR = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
                (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                (stat.S_ISSOCK, "socket"))


def _kind_of(mode):
    for test, name in _NOT_REGULAR:
        if test(mode):
            return name
    return "special file"


def _hold_signals():
    """Hold SIGTERM, SIGHUP and SIGINT (-> the old mask, for _release_signals)
    while a temporary file is created and handed to its cleanup: a signal
    arriving in between (Python runs handlers between bytecodes, also inside
    tempfile) would otherwise leave the file behind. A held signal is
    delivered at _release_signals, when the cleanup already owns the file."""
    import signal
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP, signal.SIGINT})


def _release_signals(old):
    import signal
    signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _not_regular(path, mode):
    kind = _kind_of(mode)
    if kind == "directory":
        return KernelReproError("%s: is a directory, not a kernel image" % path)
    return KernelReproError("%s: is a %s, not a regular file; kernel-repro reads only regular "
                            "files (copy the data to a file first)" % (path, kind))


def _open_input(path):
    """Open a regular file for reading, never blocking on what is not one.

    A FIFO, socket or device would make open() or read() wait forever (or
    read without end): the file is opened with O_NONBLOCK, which returns at
    once even for a FIFO without a writer, and anything but a regular file
    is refused after fstat(). Regular files then read as usual.
    """
    if not path:
        raise KernelReproError("empty file name")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise KernelReproError("%s: no such file" % path)
    except PermissionError:
        raise KernelReproError("%s: permission denied" % path)
    except OSError as e:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
        if mode and not stat.S_ISREG(mode):
            raise _not_regular(path, mode)   # a socket: ENXIO
        raise KernelReproError("%s: cannot open: %s" % (path, e.strerror or e))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def _naming(name):
    """Prefix the input's name to an error raised inside, if it lacks it."""
    try:
        yield
    except KernelReproError as e:
        msg = str(e)
        if name and not msg.startswith(name + ": "):
            raise type(e)("%s: %s" % (name, msg)) from None
        raise


def build_id_of(kind, blob, name="input"):
    with _naming(name):
        if kind == "elf":
            bid = elf_build_id(blob)
        elif kind == "notes":
            bid = _gnu_build_id(parse_notes(blob.read_at(0, 1 << 16), "<", 4))
        else:
            bid = scan_build_id(blob)
    if not bid:
        raise NoBuildIdError("%s: no GNU build-id note (was it linked without --build-id?)" % name)
    return bid


def read_build_id(path, limit=decompress.DEFAULT_LIMIT):
    """The GNU build-id (hex) of any kernel image; decompresses only as far as needed."""
    return _look_up(path, limit, lambda kind, blob, _layers: build_id_of(kind, blob, path))


def notes_build_id(path):
    """Build-id from a /sys/kernel/notes-style file (a running kernel's notes)."""
    f = _open_input(path)
    with f:
        try:
            data = f.read((1 << 16) + 1)
        except OSError as e:
            raise KernelReproError("%s: cannot read: %s" % (path, e.strerror or e))
    if len(data) > (1 << 16):
        raise FormatError("%s: too large for kernel notes (> 64 KiB); is it /sys/kernel/notes?" % path)
    return notes_data_build_id(data, path)


def notes_data_build_id(data, name="kernel notes"):
    """Build-id from the bytes of /sys/kernel/notes (strictly parsed, either byte order).

    The notes carry no byte-order mark: both orders are tried and the one
    that parses and holds a GNU build-id wins (a big-endian kernel's notes
    may parse as little-endian garbage without one). Where both do and
    disagree, the machine's own order wins: /sys/kernel/notes is the running
    kernel's, in the order of the machine reading it.
    """
    parsed = {}
    for order in ("<", ">"):
        try:
            parsed[order] = parse_notes(data, order, 4, strict=True)
        except FormatError:
            pass
    if not parsed:
        raise FormatError("%s: not ELF notes (expected the contents of /sys/kernel/notes)" % name)
    ids = {order: _gnu_build_id(notes) for order, notes in parsed.items()}
    found = [order for order in ("<", ">") if ids.get(order)]
    if not found:
        notes = next(iter(parsed.values()))
        raise NoBuildIdError("%s: the kernel notes hold no GNU build-id note (%d other notes)"
                             % (name, len(notes)))
    native = "<" if sys.byteorder == "little" else ">"
    return ids[native] if native in found else ids[found[0]]


def describe(path, limit=decompress.DEFAULT_LIMIT):
    """Build-id and the layers of an image, as a dict."""
    return _look_up(path, limit, lambda kind, blob, layers: {
        "file": path, "kind": kind, "layers": [str(x) for x in layers],
        "build_id": build_id_of(kind, blob, path)})


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_output(out, path, force):
    """Refuse an output that is anything but a new name or (with --force) a regular file.

    Never replaced, even with --force: devices (``-o /dev/null`` as root
    would swap the device node for a file), FIFOs, sockets, directories and
    symbolic links (``/dev/stdout``, or a link the user keeps): the
    replacement would be a rename over the name, not a write through it.
    """
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise KernelReproError("%s: cannot use as output: %s" % (out, e.strerror or e))
    if stat.S_ISLNK(st.st_mode):
        raise KernelReproError("%s: is a symbolic link; not replacing it (give the path of a "
                               "regular file, or -o - for standard output)" % out)
    if stat.S_ISDIR(st.st_mode):
        raise KernelReproError("%s: is a directory; give a file name for the output" % out)
    if not stat.S_ISREG(st.st_mode):
        raise KernelReproError("%s: is a %s; extract only creates or replaces regular files "
                               "(write to standard output with -o -)" % (out, _kind_of(st.st_mode)))
    if not force:
        raise KernelReproError("%s: already exists; not overwriting it (use --force)" % out)
    with contextlib.suppress(OSError):
        if os.path.samefile(out, path):
            raise KernelReproError("%s: output is the input file" % out)
    return True


def _extract_to_stdout(path, limit, stdout=None):
    import sys
    o = stdout or sys.stdout.buffer
    if o.isatty():
        raise KernelReproError("not writing a kernel image to a terminal (redirect standard "
                               "output, or give -o FILE)")
    with open_image(path, limit) as (kind, blob, layers):
        if kind == "notes":
            raise KernelReproError("%s: holds only ELF notes, no kernel to extract" % path)
        size = _copy_counted(blob, o, "standard output", path)
    return kind, layers, size


class _OutputError(Exception):
    """A write to the output failed (kept apart from errors reading the input)."""


class _Counter:
    def __init__(self, f):
        self.f, self.n = f, 0

    def write(self, b):
        try:
            self.f.write(b)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputError(e) from None
        self.n += len(b)


def _copy_counted(blob, o, out_name, path):
    """Copy ``blob`` to ``o``; errors name the input (reading) or the output (writing)."""
    c = _Counter(o)
    try:
        with _naming(path):
            blob.copy_to(c)
        try:
            o.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputError(e) from None
    except _OutputError as e:
        e = e.args[0]
        raise KernelReproError("%s: cannot write: %s" % (out_name, e.strerror or e)) from None
    return c.n


def extract(path, out, force=False, limit=decompress.DEFAULT_LIMIT, stdout=None):
    """Write the innermost kernel payload of ``path`` to ``out`` ('-': standard output).

    Atomic: written to a temporary file beside ``out`` (mode 0666 less the
    umask) and moved into place only when complete; an existing ``out`` is
    left alone unless ``force``, and only a regular file is ever replaced
    (see _check_output). Returns (kind, layers, bytes written).
    """
    if out == "-":
        return _extract_to_stdout(path, limit, stdout)
    if not out:
        raise KernelReproError("empty output file name")
    out_dir = os.path.dirname(os.path.abspath(out)) or "."
    _check_output(out, path, force)
    if not os.path.isdir(out_dir):
        raise KernelReproError("%s: output directory does not exist" % out_dir)
    with open_image(path, limit) as (kind, blob, layers):
        if kind == "notes":
            raise KernelReproError("%s: holds only ELF notes, no kernel to extract" % path)
        import tempfile
        tmp = None
        held = _hold_signals()
        try:
            try:
                fd, tmp = tempfile.mkstemp(prefix=".kernel-repro-", dir=out_dir)
            except OSError as e:
                raise KernelReproError("%s: cannot write: %s" % (out_dir, e.strerror))
            finally:
                _release_signals(held)  # a held signal lands here, with tmp known below
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as o:
                size = _copy_counted(blob, o, out, path)
            # the name may have changed since the check: look again just before
            if _check_output(out, path, force):
                os.replace(tmp, out)
            else:
                os.link(tmp, out)  # fails if out appeared meanwhile: never clobber
                os.unlink(tmp)
        except FileExistsError:
            os.unlink(tmp)
            raise KernelReproError("%s: already exists; not overwriting it (use --force)" % out)
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
    return kind, layers, size


@contextlib.contextmanager
def open_payload(path, limit=decompress.DEFAULT_LIMIT):
    """Open and resolve ``path`` for one pass that needs the whole payload: yields
    (kind, blob, layers).

    A compressed payload is decoded once, as far as it is read: the build-id
    look-up and then a read of every section (check) share the decoded
    bytes, kept as the decoder's chunks in memory up to 64 MiB and past that
    in a temporary file ``kernel-repro-payload-*`` in TMPDIR, removed on
    the way out (error and signal included).
    """
    spools = _Spools(PAYLOAD_PREFIX)
    try:
        with open_image(path, limit, spools=spools) as opened:
            yield opened
    finally:
        spools.close()


@contextlib.contextmanager
def payload_file(path, limit=decompress.DEFAULT_LIMIT):
    """Yield (kind, layers, filename) of the innermost payload as a real file.

    The input itself when it is already ELF; else a temporary file that is
    removed afterwards.
    """
    with open_image(path, limit) as (kind, blob, layers):
        if isinstance(blob, FileBlob) and blob.base == 0:
            yield kind, layers, path
            return
        import tempfile
        held = _hold_signals()
        try:
            t = tempfile.NamedTemporaryFile(prefix=PAYLOAD_PREFIX)
        finally:
            _release_signals(held)  # t is set: its close (with, or collection) removes it
        with t:
            _copy_counted(blob, t, "temporary copy of the payload of %s in %s (set TMPDIR "
                          "to a directory with room)" % (path, os.path.dirname(t.name)), path)
            yield kind, layers, t.name


def sha256_file(path, chunk=decompress.CHUNK):
    import hashlib  # here: buildid's start-up does not pay for it
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(chunk), b""):
            h.update(b)
    return h.hexdigest()
