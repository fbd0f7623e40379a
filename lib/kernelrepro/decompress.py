# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Bounded, streaming decompression of every format the kernel uses.

``stream(fileobj, method, limit)`` yields decompressed chunks and never holds
more than one chunk of output at a time; it raises LimitExceeded as soon as
the output would pass ``limit`` bytes (a decompression bomb cannot fill
memory or disk) and FormatError for corrupt input. Trailing bytes after the
end of the compressed stream (the kernel appends the uncompressed size;
images are padded) are ignored.

Formats: gzip, bzip2, xz, lzma (legacy .lzma), zstd, lz4 (frame) and the
legacy lz4 format the kernel's ``lz4 -l`` produces, lzo (lzop).
"""

import bz2
import lzma
import struct
import zlib

from .errors import FormatError, KernelReproError, LimitExceeded

CHUNK = 1 << 20

#: Default cap on decompressed output; override with --max-size or
#: $KERNEL_REPRO_MAX_SIZE. A full debug vmlinux of a distro kernel can
#: reach several hundred MiB.
DEFAULT_LIMIT = 2 << 30

MAGICS = (
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x02\x21\x4c\x18", "lz4-legacy"),
    (b"\x89LZO\x00\r\n\x1a\n", "lzo"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
)

LZ4_LEGACY_MAGIC = 0x184C2102
LZ4_LEGACY_BLOCK = 8 << 20


def detect(head):
    """The compression method whose magic starts ``head``, or None."""
    for magic, name in MAGICS:
        if head.startswith(magic):
            if name == "bzip2" and not (len(head) > 3 and head[3:4] in b"123456789"):
                continue
            return name
    return None


def parse_limit(text):
    """'512M', '2G', '1048576' -> bytes."""
    s = str(text).strip().upper()
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)):
        if s.endswith(suffix) or s.endswith(suffix + "B") or s.endswith(suffix + "IB"):
            s = s[:s.index(suffix)]
            mult = m
            break
    try:
        value = int(float(s) * mult)
    except ValueError:
        raise KernelReproError("bad size %r (use e.g. 512M or 2G)" % (text,))
    if value <= 0:
        raise KernelReproError("size must be positive, got %r" % (text,))
    return value


class _Bounded:
    """Counts output and enforces the cap."""

    def __init__(self, limit, method):
        self.limit = limit
        self.total = 0
        self.method = method

    def add(self, n):
        self.total += n
        if self.total > self.limit:
            raise LimitExceeded(
                "%s data expands beyond the %d-byte limit (decompression bomb or very "
                "large image; raise it with --max-size)" % (self.method, self.limit))


def _stream_obj(f, method, bound, make):
    """gzip/bzip2/xz/lzma/lz4-frame: objects with decompress(data, max_length).

    Output is pulled CHUNK bytes at a time, so a bomb never materialises.
    """
    d = make()
    while not d.eof:
        data = d.unconsumed_tail if hasattr(d, "unconsumed_tail") else b""
        if not data and getattr(d, "needs_input", True):
            data = f.read(CHUNK)
            if not data:
                raise FormatError("truncated %s data: the stream ends before its end marker" % method)
        try:
            out = d.decompress(data, CHUNK)
        except (zlib.error, OSError, lzma.LZMAError, EOFError, RuntimeError, ValueError) as e:
            raise FormatError("corrupt %s data: %s" % (method, e))
        if out:
            bound.add(len(out))
            yield out


def _gzip(f, bound):
    class Z:
        def __init__(self):
            self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)

        @property
        def eof(self):
            return self.z.eof

        @property
        def unconsumed_tail(self):
            return self.z.unconsumed_tail

        def decompress(self, data, n):
            return self.z.decompress(data, n)
    return _stream_obj(f, "gzip", bound, Z)


def _bz2(f, bound):
    return _stream_obj(f, "bzip2", bound, bz2.BZ2Decompressor)


def _xz(f, bound):
    return _stream_obj(f, "xz", bound, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ))


def _lzma(f, bound):
    return _stream_obj(f, "lzma", bound, lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE))


def _lz4(f, bound):
    import lz4.frame
    return _stream_obj(f, "lz4", bound, lz4.frame.LZ4FrameDecompressor)


def _zstd(f, bound):
    import zstandard
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    try:
        reader = dctx.stream_reader(f, read_size=CHUNK, read_across_frames=False)
        while True:
            out = reader.read(CHUNK)
            if not out:
                return
            bound.add(len(out))
            yield out
    except zstandard.ZstdError as e:
        raise FormatError("corrupt zstd data: %s" % e)


def _lz4_legacy(f, bound):
    import lz4.block
    head = f.read(4)
    if len(head) < 4 or struct.unpack("<I", head)[0] != LZ4_LEGACY_MAGIC:
        raise FormatError("not legacy lz4 data")
    max_block = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16
    produced_any = False
    while True:
        hdr = f.read(4)
        if len(hdr) < 4:
            break
        (size,) = struct.unpack("<I", hdr)
        if size == LZ4_LEGACY_MAGIC:
            continue
        if size == 0 or size > max_block:
            # The kernel appends the uncompressed size after the last block.
            if produced_any:
                break
            raise FormatError("corrupt legacy lz4 data: bad block size %d" % size)
        block = f.read(size)
        if len(block) < size:
            if produced_any and not block.strip(b"\0"):
                break
            raise FormatError("truncated legacy lz4 data")
        try:
            out = lz4.block.decompress(block, uncompressed_size=LZ4_LEGACY_BLOCK)
        except lz4.block.LZ4BlockError as e:
            if produced_any and len(block) < 16:
                break
            raise FormatError("corrupt legacy lz4 data: %s" % e)
        produced_any = True
        bound.add(len(out))
        yield out
    if not produced_any:
        raise FormatError("truncated legacy lz4 data: no blocks")


# lzop header flags
_F_ADLER32_D, _F_ADLER32_C, _F_H_EXTRA_FIELD = 0x1, 0x2, 0x40
_F_CRC32_D, _F_CRC32_C, _F_H_FILTER = 0x100, 0x200, 0x800
_LZO_MAX_BLOCK = 64 << 20


def _lzo(f, bound):
    try:
        import lzo
    except ImportError:
        raise KernelReproError("lzo-compressed image: install python-lzo "
                               "(apt-get install liblzo2-dev; pip install python-lzo)")

    def need(n):
        b = f.read(n)
        if len(b) < n:
            raise FormatError("truncated lzo data")
        return b
    need(9)
    version, _lib, = struct.unpack(">HH", need(4))
    if version >= 0x0940:
        need(2)
    method = need(1)[0]
    if version >= 0x0940:
        need(1)
    (flags,) = struct.unpack(">I", need(4))
    if flags & _F_H_FILTER:
        need(4)
    need(8)  # mode, mtime_low
    if version >= 0x0940:
        need(4)
    need(need(1)[0])  # name
    need(4)  # header checksum
    if flags & _F_H_EXTRA_FIELD:
        (n,) = struct.unpack(">I", need(4))
        need(n + 4)
    if method not in (1, 2, 3):
        raise FormatError("unsupported lzo method %d" % method)
    while True:
        (dst_len,) = struct.unpack(">I", need(4))
        if dst_len == 0:
            return
        if dst_len > _LZO_MAX_BLOCK:
            raise FormatError("corrupt lzo data: block of %d bytes" % dst_len)
        (src_len,) = struct.unpack(">I", need(4))
        if src_len == 0 or src_len > dst_len:
            raise FormatError("corrupt lzo data: bad block sizes")
        if flags & (_F_ADLER32_D | _F_CRC32_D):
            need(4 * (bool(flags & _F_ADLER32_D) + bool(flags & _F_CRC32_D)))
        if src_len < dst_len and flags & (_F_ADLER32_C | _F_CRC32_C):
            need(4 * (bool(flags & _F_ADLER32_C) + bool(flags & _F_CRC32_C)))
        data = need(src_len)
        if src_len == dst_len:
            out = data
        else:
            try:
                out = lzo.decompress(data, False, dst_len)
            except lzo.error as e:
                raise FormatError("corrupt lzo data: %s" % e)
        bound.add(len(out))
        yield out


_METHODS = {"gzip": _gzip, "bzip2": _bz2, "xz": _xz, "lzma": _lzma, "zstd": _zstd,
            "lz4": _lz4, "lz4-legacy": _lz4_legacy, "lzo": _lzo}


def stream(fileobj, method, limit=DEFAULT_LIMIT):
    """Yield decompressed chunks of ``fileobj`` (positioned at the stream)."""
    try:
        fn = _METHODS[method]
    except KeyError:
        raise FormatError("unknown compression %r" % (method,))
    return fn(fileobj, _Bounded(limit, method))
