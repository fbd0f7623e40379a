# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Bounded, streaming decompression of every format the kernel uses.

``stream(fileobj, method, limit)`` yields decompressed chunks and never holds
more than a bounded amount of output at a time; it raises LimitExceeded as
soon as the output would pass ``limit`` bytes (a decompression bomb cannot
fill memory or disk) and FormatError for corrupt input. ``limit`` may be a
Budget shared by every layer of one input, so that nesting compressors does
not multiply the cap.

Like ``gzip -dc``, ``xz -dc``, ``bzip2 -dc``, ``lz4 -dc``, ``zstd -dc`` and
``lzop -dc``, every member / stream / frame of a concatenated file is decoded
(``cat a.gz b.gz``, pbzip2 output, ``cat a.lzo b.lzo``), and the checksums a
format carries are verified (lzop's adler32/crc32 included).

After the last member, one rule for every format: what kernel builds append
-- up to 4 bytes, the uncompressed size (scripts/Makefile.lib
``size_append``) -- and zero padding (PE sections, alignment) end the stream
quietly; anything else is a FormatError. Such bytes may be a member whose
header is damaged, so ignoring them would hand out a payload cut short
without a word (xz, zstd and lz4 -dc refuse them too; gzip and lzop -dc warn
and exit 2). A build-id look-up that finds its note earlier never reads that
far. .lzma has no magic to chain members on: a second .lzma stream is such
bytes (xz --format=lzma -dc refuses it too).

Formats: gzip, bzip2, xz, lzma (legacy .lzma), zstd, lz4 (frame) and the
legacy lz4 format the kernel's ``lz4 -l`` produces, lzo (lzop).
"""

import lzma
import os
import struct
import zlib
from os import read as os_read, set_blocking as os_set_blocking, write as os_write

from .errors import FormatError, KernelReproError, LimitExceeded

CHUNK = 1 << 20
#: Compressed bytes handed to a decoder per call.
IN_CHUNK = 256 << 10

#: Default cap on decompressed output; override with --max-size or
#: $KERNEL_REPRO_MAX_SIZE. A full debug vmlinux of a distro kernel can
#: reach several hundred MiB.
DEFAULT_LIMIT = 2 << 30
#: Largest cap accepted (8 EiB would overflow file offsets).
MAX_LIMIT = 1 << 60

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
    bad = KernelReproError("bad size %r (use e.g. 512M or 2G)" % (text,))
    try:
        f = float(s)
    except ValueError:
        raise bad from None
    if f != f or f in (float("inf"), float("-inf")):
        raise bad
    if f > MAX_LIMIT / mult:        # before multiplying: 1e308T is no longer a number
        raise KernelReproError("size %r is too large (at most %dT)" % (text, MAX_LIMIT >> 40))
    value = int(f * mult) if f > 0 else 0
    if value <= 0:
        raise KernelReproError("size must be positive, got %r" % (text,))
    if value > MAX_LIMIT:
        raise KernelReproError("size %r is too large (at most %dT)" % (text, MAX_LIMIT >> 40))
    return value


class Budget:
    """The cap on decompressed output, shared by every layer of one input.

    ``name`` (the input file) prefixes every error raised through it, so a
    message says which file was corrupt or too large.
    """

    def __init__(self, limit=DEFAULT_LIMIT, name=None):
        self.limit = limit
        self.total = 0
        self.name = name

    def add(self, n, method):
        self.total += n
        if self.total > self.limit:
            raise LimitExceeded(self.named(
                "%s data expands beyond the %d-byte limit (decompression bomb or very "
                "large image; raise it with --max-size)" % (method, self.limit)))

    def named(self, msg):
        return "%s: %s" % (self.name, msg) if self.name else msg

    def corrupt(self, msg):
        return FormatError(self.named(msg))


_ERRORS = (zlib.error, OSError, lzma.LZMAError, EOFError, RuntimeError, ValueError)


def _read_exact(f, n):
    """Up to ``n`` bytes; fewer only at the end of the input."""
    parts, have = [], 0
    while have < n:
        b = f.read(n - have)
        if not b:
            break
        parts.append(b)
        have += len(b)
    return b"".join(parts)


def _next_member(f, rest, magic, bound, method, skip_zeros=False, skippable=False):
    """After a member: the input of the next one (starting with ``magic``), or None
    at the end of the stream.

    ``rest`` is what the decoder read past its end. What does not start a
    new member must be the end of the stream (the kernel's appended size,
    zero padding: see _end_of_stream), else FormatError. ``skip_zeros``: the
    format allows padding between members (xz stream padding); ``skippable``:
    skippable frames (lz4) are passed over. ``magic`` None: a format without
    members to chain (.lzma).
    """
    while True:
        if len(rest) < 8:
            rest += _read_exact(f, IN_CHUNK)
        if skippable and len(rest) >= 8 and _skippable(rest):
            skip = 8 + struct.unpack_from("<I", rest, 4)[0]
            while skip > len(rest):
                skip -= len(rest)
                rest = f.read(min(skip, IN_CHUNK))
                if not rest:
                    return None     # a cut skippable frame at the end: nothing more
            rest = rest[skip:]
            continue
        if skip_zeros:
            stripped = rest.lstrip(b"\0")
            if not stripped:
                if len(rest) < 8:
                    return None     # only zeros to the end
                rest = b""
                continue
            rest = stripped
        break
    # a 4-byte tail (the kernel's size) never starts a member, whatever its bytes
    if magic is not None and len(rest) > 4 and rest.startswith(magic):
        return rest
    _end_of_stream(f, rest, bound, method)
    return None


def _end_of_stream(f, rest, bound, method):
    """The bytes after the last member -- ``rest``, then the rest of ``f`` --
    must be what kernel builds append: up to 4 bytes of any value (the
    uncompressed size), then only zeros. Else FormatError: they may be a
    member whose header is damaged, and the payload would be cut short
    without a word. Reads no further than the first byte that breaks the rule."""
    while len(rest) < 4:
        more = f.read(IN_CHUNK)
        if not more:
            return
        rest += more
    tail = rest[4:]
    while True:
        bad = tail.lstrip(b"\0")
        if bad:
            raise bound.corrupt(
                "corrupt %s data: bytes after the end of the stream (%s...) are not another "
                "member, the kernel's 4-byte size or zero padding; the payload may be cut "
                "short%s" % (method, bad[:8].hex(),
                             " (.lzma streams cannot be concatenated)" if method == "lzma" else ""))
        tail = f.read(IN_CHUNK)
        if not tail:
            return


def _members(f, method, bound, make, magic, skip_zeros=False, skippable=False):
    """Decode concatenated members of a format whose decoder has
    ``decompress(data, max_length)``, ``eof`` and ``unused_data``."""
    data = b""
    member = 0
    while True:
        member += 1
        d = make()
        zlib_style = hasattr(d, "unconsumed_tail")
        while not d.eof:
            if not data and (zlib_style or d.needs_input):
                data = f.read(IN_CHUNK)
                if not data:
                    raise bound.corrupt("truncated %s data: the stream ends before its end "
                                        "marker%s" % (method, _which(member)))
            try:
                out = d.decompress(data, CHUNK)
            except _ERRORS as e:
                raise bound.corrupt("corrupt %s data%s: %s" % (method, _which(member), e))
            data = d.unconsumed_tail if zlib_style else b""
            if out:
                bound.add(len(out), method)
                yield out
        data = _next_member(f, d.unused_data or b"", magic, bound, method, skip_zeros,
                            skippable)
        if data is None:
            return


def _which(member):
    return " (member %d)" % member if member > 1 else ""


class _Gzip:
    def __init__(self):
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def __getattr__(self, name):
        return getattr(self.z, name)


def _gzip(f, bound):
    return _members(f, "gzip", bound, _Gzip, b"\x1f\x8b\x08")


def _bz2(f, bound):
    import bz2  # here: only bzip2 data needs it (start-up time)
    return _members(f, "bzip2", bound, bz2.BZ2Decompressor, b"BZh")


def _xz(f, bound):
    return _members(f, "xz", bound, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
                    b"\xfd7zXZ\x00", skip_zeros=True)


def _lzma(f, bound):
    # .lzma has no magic to chain members on (xz --format=lzma -dc neither does)
    return _members(f, "lzma", bound, lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), None)


_SKIPPABLE = b"\x2a\x4d\x18"    # bytes 1-3 of a skippable frame's magic (lz4 and zstd)


LZ4_MAGIC = b"\x04\x22\x4d\x18"


def _lz4(f, bound):
    lz4f = _binding("lz4")
    if lz4f is None:
        return _external(f, bound, "lz4", _lz4_frames_raw(f, bound))
    return _members(f, "lz4", bound, lz4f.LZ4FrameDecompressor, LZ4_MAGIC, skippable=True)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd(f, bound):
    zstandard = _binding("zstd")
    if zstandard is None:
        return _external(f, bound, "zstd", (b for _tag, b in _zstd_pieces(f, bound)))
    return _zstd_lib(f, bound, zstandard)


def _zstd_lib(f, bound, zstandard):
    """Decode zstd frames a block at a time.

    The binding returns all the output of one decompress() call at once, so
    the input is handed over as the frame walker cuts it (_zstd_pieces):
    one block per call, and a zstd block is at most 128 KiB of output
    however few bytes it takes -- a bomb never materialises.
    """
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    d, frame = None, 0
    pending, npending = [], 0
    for tag, piece in _zstd_pieces(f, bound):
        if tag == "skip":
            continue
        if tag == "head":
            if d is not None and not d.eof:
                raise bound.corrupt("corrupt zstd data%s: frame does not end" % _which(frame))
            d, frame = dctx.decompressobj(), frame + 1
        try:
            out = d.decompress(piece)
        except zstandard.ZstdError as e:
            raise bound.corrupt("corrupt zstd data%s: %s" % (_which(frame), e))
        if out:
            bound.add(len(out), "zstd")
            pending.append(out)
            npending += len(out)
            if npending >= CHUNK:
                yield b"".join(pending)
                pending, npending = [], 0
    if d is not None and not d.eof:
        raise bound.corrupt("corrupt zstd data%s: frame does not end" % _which(frame))
    if pending:
        yield b"".join(pending)


def _lz4_legacy_trailer(f, bound, head):
    """After the last legacy lz4 block: ``head`` (what was read as the next
    block header and block) must be the end of the stream (the kernel's
    appended size, zero padding: _end_of_stream); anything else is a corrupt
    block, not the end."""
    _end_of_stream(f, head, bound, "legacy lz4")


def _with_binding_or_tool(method, tool, blocks, f, bound):
    """``blocks(f, bound, binding)`` decodes with the Python binding; with
    None it yields the raw stream, which the command-line ``tool`` decodes."""
    binding = _binding(method)
    if binding is None:
        return _external(f, bound, tool, blocks(f, bound, None))
    return blocks(f, bound, binding)


def _lz4_legacy(f, bound):
    return _with_binding_or_tool("lz4-legacy", "lz4", _lz4_legacy_blocks, f, bound)


def _lz4_legacy_blocks(f, bound, lz4b):
    """Decode legacy lz4 blocks with the binding ``lz4b``; with None, yield the
    raw stream (magic and blocks, trailer left out) for the lz4 command."""
    head = f.read(4)
    if len(head) < 4 or struct.unpack("<I", head)[0] != LZ4_LEGACY_MAGIC:
        raise bound.corrupt("not legacy lz4 data")
    max_block = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16
    produced_any = False
    while True:
        hdr = _read_exact(f, 4)
        if len(hdr) < 4:
            if hdr.strip(b"\0"):
                raise bound.corrupt("truncated legacy lz4 data: %d stray bytes at the end" % len(hdr))
            break
        (size,) = struct.unpack("<I", hdr)
        if size == LZ4_LEGACY_MAGIC:
            continue
        if lz4b is None and not produced_any:
            yield head
        if size == 0 or size > max_block:
            if not produced_any:
                raise bound.corrupt("corrupt legacy lz4 data: bad block size %d" % size)
            _lz4_legacy_trailer(f, bound, hdr)
            break
        block = _read_exact(f, size)
        if len(block) < size or not block.strip(b"\0"):
            # the appended size read as a block header, then padding (or nothing)
            if not produced_any:
                raise bound.corrupt("truncated legacy lz4 data")
            _lz4_legacy_trailer(f, bound, hdr + block)
            break
        produced_any = True
        if lz4b is None:
            yield hdr + block
            continue
        try:
            out = lz4b.decompress(block, uncompressed_size=LZ4_LEGACY_BLOCK)
        except lz4b.LZ4BlockError as e:
            raise bound.corrupt("corrupt legacy lz4 data: %s" % e)
        bound.add(len(out), "lz4")
        yield out
    if not produced_any:
        raise bound.corrupt("truncated legacy lz4 data: no blocks")


LZO_MAGIC = b"\x89LZO\x00\r\n\x1a\n"
# lzop header flags
_F_ADLER32_D, _F_ADLER32_C, _F_H_EXTRA_FIELD = 0x1, 0x2, 0x40
_F_CRC32_D, _F_CRC32_C, _F_H_FILTER, _F_H_CRC32 = 0x100, 0x200, 0x800, 0x1000
_LZO_MAX_BLOCK = 64 << 20


def _lzo_header(f, bound, raw_out=None, member=1):
    """Parse and verify an lzop header -> flags. ``raw_out``: a list that gets its bytes."""
    raw = []
    every = [] if raw_out is None else raw_out

    def need(n):
        b = _read_exact(f, n)
        if len(b) < n:
            raise bound.corrupt("truncated lzo data%s" % _which(member))
        raw.append(b)
        every.append(b)
        return b
    if need(9) != LZO_MAGIC:
        raise bound.corrupt("not lzo data")
    raw.clear()     # the header checksum covers what follows the magic
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
    covered = b"".join(raw)
    (check,) = struct.unpack(">I", need(4))
    want = zlib.crc32(covered) if flags & _F_H_CRC32 else zlib.adler32(covered, 1)
    if check != want:
        raise bound.corrupt("corrupt lzo data: header checksum mismatch")
    if flags & _F_H_EXTRA_FIELD:
        (n,) = struct.unpack(">I", need(4))
        need(n + 4)
    if method not in (1, 2, 3):
        raise bound.corrupt("unsupported lzo method %d" % method)
    return flags


def _lzo(f, bound):
    """Every lzop file of a concatenation (``lzop -dc`` reads them all), each
    decoded with the binding, or by a run of the lzop command of its own
    (given a concatenation, it says "multipart archive" and exits 2)."""
    lzo = _binding("lzo")
    member = 0
    while True:
        member += 1
        if lzo is None:
            yield from _external(f, bound, "lzo", _lzo_blocks(f, bound, None, member))
        else:
            yield from _lzo_blocks(f, bound, lzo, member)
        rest = _next_member(f, b"", LZO_MAGIC, bound, "lzo")
        if rest is None:
            return
        f = _Prefixed(rest, f)


class _Prefixed:
    """A reader giving ``prefix``, then what ``f`` has."""

    def __init__(self, prefix, f):
        self.prefix, self.f = prefix, f

    def read(self, n=-1):
        if not self.prefix:
            return self.f.read(n)
        if n is None or n < 0 or n >= len(self.prefix):
            b, self.prefix = self.prefix, b""
        else:
            b, self.prefix = self.prefix[:n], self.prefix[n:]
        return b


def _lzo_blocks(f, bound, lzo, member=1):
    """Decode one lzop file with the binding ``lzo``, verifying every checksum;
    with None, yield its raw bytes up to the end marker for the lzop command
    (which verifies them itself). Reads nothing past the end marker."""
    raw = []
    flags = _lzo_header(f, bound, raw, member)
    if lzo is None:
        yield b"".join(raw)
    block = 0

    def need(n):
        b = _read_exact(f, n)
        if len(b) < n:
            raise bound.corrupt("truncated lzo data")
        if lzo is None:
            raw.append(b)
        return b

    def sums(data, adler, crc):
        out = []
        if flags & adler:
            out.append(zlib.adler32(data, 1))
        if flags & crc:
            out.append(zlib.crc32(data))
        return out
    while True:
        block += 1
        raw.clear()
        (dst_len,) = struct.unpack(">I", need(4))
        if dst_len == 0:
            if lzo is None:
                yield b"".join(raw)
            return
        if dst_len > _LZO_MAX_BLOCK:
            raise bound.corrupt("corrupt lzo data: block of %d bytes" % dst_len)
        (src_len,) = struct.unpack(">I", need(4))
        if src_len == 0 or src_len > dst_len:
            raise bound.corrupt("corrupt lzo data: bad block sizes")
        nd = bool(flags & _F_ADLER32_D) + bool(flags & _F_CRC32_D)
        d_sums = list(struct.unpack(">%dI" % nd, need(4 * nd)))
        c_sums = []
        if src_len < dst_len:
            nc = bool(flags & _F_ADLER32_C) + bool(flags & _F_CRC32_C)
            c_sums = list(struct.unpack(">%dI" % nc, need(4 * nc)))
        data = need(src_len)
        if lzo is None:
            yield b"".join(raw)
            continue
        if c_sums and c_sums != sums(data, _F_ADLER32_C, _F_CRC32_C):
            raise bound.corrupt("corrupt lzo data: checksum mismatch in compressed block %d" % block)
        if src_len == dst_len:
            out = data
        else:
            try:
                out = lzo.decompress(data, False, dst_len)
            except lzo.error as e:
                raise bound.corrupt("corrupt lzo data: %s" % e)
            if len(out) != dst_len:
                raise bound.corrupt("corrupt lzo data: block %d decodes to %d bytes, not %d"
                                    % (block, len(out), dst_len))
        if d_sums and d_sums != sums(out, _F_ADLER32_D, _F_CRC32_D):
            raise bound.corrupt("corrupt lzo data: checksum mismatch in block %d" % block)
        bound.add(len(out), "lzo")
        yield out


#: method -> (Python module, Debian package of it, pip package, command, Debian package of it)
BINDINGS = {
    "zstd": ("zstandard", "python3-zstandard", "zstandard", "zstd", "zstd"),
    "lz4": ("lz4.frame", "python3-lz4", "lz4", "lz4", "lz4"),
    "lz4-legacy": ("lz4.block", "python3-lz4", "lz4", "lz4", "lz4"),
    "lzo": ("lzo", "python3-lzo", "python-lzo", "lzop", "lzop"),
}
#: How to run each tool: decompress standard input to standard output, quietly.
TOOL_ARGV = {"zstd": ["-d", "-c", "-q"], "lz4": ["-d", "-c", "-q"], "lzop": ["-d", "-c"]}


def _binding(method):
    """The Python binding of ``method``, or None when it is not installed."""
    import importlib
    try:
        return importlib.import_module(BINDINGS[method][0])
    except ImportError:
        return None


def _tool(method, bound=None):
    """argv of the command-line decoder to fall back on, or a one-line error saying
    what to install."""
    import shutil
    module, deb, pip, cmd, cmd_deb = BINDINGS[method]
    path = shutil.which(cmd)
    if path:
        return [path] + TOOL_ARGV[cmd]
    raise KernelReproError((bound.named if bound else str)(
        "%s-compressed data: needs the Python module %s or the %s command, and neither is "
        "installed (Debian: apt-get install %s or %s; pip: pip install %s)"
        % (method.split("-")[0], module.split(".")[0], cmd, deb, cmd_deb, pip)))


def _zstd_pieces(f, bound):
    """The zstd frames of a stream, cut at frame and block boundaries:
    ("head", frame header), ("data", one block / the checksum), ("skip",
    part of a skippable frame).

    Walks frame and block headers only (no decoding). It finds where the
    frames end -- the kernel's appended size and zero padding end the
    stream (which the zstd command would reject), other bytes are an error
    (_end_of_stream) -- and cuts
    the input so that one piece decodes to at most one block (128 KiB).
    """
    data = b""
    frame = 0
    while True:
        data += _read_exact(f, max(0, 4 - len(data)))
        if frame and not (len(data) == 4 and (data == ZSTD_MAGIC or _skippable(data))):
            _end_of_stream(f, data, bound, "zstd")
            return
        if _skippable(data):
            size_b = _read_exact(f, 4)
            if len(size_b) < 4:
                raise bound.corrupt("truncated zstd skippable frame")
            (skip,) = struct.unpack("<I", size_b)
            yield "skip", data + size_b
            for b in _copy_n(f, skip, bound, "zstd skippable frame"):
                yield "skip", b
            data = b""
            frame += 1
            continue
        if data != ZSTD_MAGIC:
            raise bound.corrupt("not zstd data")
        frame += 1
        fhd = _need(f, 1, bound, "zstd")
        fcs_flag, single, checksum, did_flag = fhd[0] >> 6, (fhd[0] >> 5) & 1, \
            (fhd[0] >> 2) & 1, fhd[0] & 3
        if fhd[0] & 0x08:
            raise bound.corrupt("corrupt zstd data: reserved frame header bit set")
        rest = (0 if single else 1) + (0, 1, 2, 4)[did_flag] + \
            ((1 if single else 0), 2, 4, 8)[fcs_flag]
        yield "head", data + fhd + _need(f, rest, bound, "zstd")
        while True:
            bh = _need(f, 3, bound, "zstd")
            h = bh[0] | bh[1] << 8 | bh[2] << 16
            last, btype, size = h & 1, (h >> 1) & 3, h >> 3
            if btype == 3 or size > (128 << 10):
                raise bound.corrupt("corrupt zstd data%s: bad block header" % _which(frame))
            yield "data", bh + _need(f, 1 if btype == 1 else size, bound, "zstd")
            if last:
                break
        if checksum:
            yield "data", _need(f, 4, bound, "zstd")
        data = b""


def _lz4_frames_raw(f, bound):
    """The bytes of the lz4 frames of a stream, for the lz4 command (see _zstd_pieces)."""
    data = b""
    frame = 0
    while True:
        data += _read_exact(f, max(0, 4 - len(data)))
        if frame and not (len(data) == 4 and (data == LZ4_MAGIC or _skippable(data))):
            _end_of_stream(f, data, bound, "lz4")
            return
        if _skippable(data):
            size_b = _need(f, 4, bound, "lz4")
            yield data + size_b
            yield from _copy_n(f, struct.unpack("<I", size_b)[0], bound, "lz4 skippable frame")
            data = b""
            frame += 1
            continue
        if data != LZ4_MAGIC:
            raise bound.corrupt("not lz4 data")
        frame += 1
        flg_bd = _need(f, 2, bound, "lz4")
        flg = flg_bd[0]
        rest = (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0) + 1
        yield data + flg_bd + _need(f, rest, bound, "lz4")
        while True:
            bs = _need(f, 4, bound, "lz4")
            (size,) = struct.unpack("<I", bs)
            if size == 0:
                yield bs
                break
            size &= 0x7fffffff
            if size > (4 << 20):
                raise bound.corrupt("corrupt lz4 data: block of %d bytes" % size)
            yield bs
            yield from _copy_n(f, size + (4 if flg & 0x10 else 0), bound, "lz4")
        if flg & 0x04:
            yield _need(f, 4, bound, "lz4")
        data = b""


def _skippable(b):
    return len(b) >= 4 and b[1:4] == _SKIPPABLE and 0x50 <= b[0] <= 0x5f


def _need(f, n, bound, what):
    b = _read_exact(f, n)
    if len(b) < n:
        raise bound.corrupt("truncated %s data" % what)
    return b


def _copy_n(f, n, bound, what):
    while n > 0:
        b = f.read(min(n, IN_CHUNK))
        if not b:
            raise bound.corrupt("truncated %s data" % what)
        n -= len(b)
        yield b


def _external(f, bound, method, raw):
    """Decode with the command-line tool: ``raw`` (the stream's own bytes, as
    framed above) goes to its standard input, its output is bounded like ours.

    The tool only reads data (nothing of the input is ever executed); one
    thread, non-blocking pipes; the tool is killed on any early exit (limit
    reached, build-id found, error, signal).
    """
    import selectors
    import subprocess
    argv = _tool(method, bound)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(_env(), LC_ALL="C"))
    try:
        sel = selectors.DefaultSelector()
        for fobj in (proc.stdin, proc.stdout, proc.stderr):
            os_set_blocking(fobj.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        pending, err, out_open, raw_done = b"", b"", True, False
        while out_open:
            for key, _ev in sel.select():
                fobj = key.fileobj
                if fobj is proc.stdin:
                    if not pending and not raw_done:
                        pending = next(raw, None)
                        if pending is None:
                            pending, raw_done = b"", True
                    if pending:
                        try:
                            n = os_write(proc.stdin.fileno(), pending[:1 << 16])
                        except BrokenPipeError:
                            raw_done, pending = True, b""
                            n = 0
                        pending = pending[n:]
                    if raw_done and not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                elif fobj is proc.stdout:
                    data = os_read(proc.stdout.fileno(), CHUNK)
                    if not data:
                        sel.unregister(proc.stdout)
                        out_open = False
                        continue
                    bound.add(len(data), method.split("-")[0])
                    yield data
                else:
                    data = os_read(proc.stderr.fileno(), 4096)
                    if data:
                        err = (err + data)[-4096:]
                    else:
                        sel.unregister(proc.stderr)
        rc = proc.wait()
        if rc != 0:
            last = err.decode("utf-8", "replace").strip().splitlines()
            raise bound.corrupt("corrupt %s data: %s -d failed (exit %d%s)" % (
                method.split("-")[0], os.path.basename(argv[0]), rc,
                ": " + last[-1].strip() if last else ""))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for fobj in (proc.stdin, proc.stdout, proc.stderr):
            try:
                fobj.close()
            except OSError:
                pass
        raw.close()


def _env():
    return os.environ


_METHODS = {"gzip": _gzip, "bzip2": _bz2, "xz": _xz, "lzma": _lzma, "zstd": _zstd,
            "lz4": _lz4, "lz4-legacy": _lz4_legacy, "lzo": _lzo}


def stream(fileobj, method, limit=DEFAULT_LIMIT, name=None):
    """Yield decompressed chunks of ``fileobj`` (positioned at the stream).

    ``limit``: a byte count, or a Budget shared with other layers of the
    same input. ``name`` names the input in error messages.
    """
    try:
        fn = _METHODS[method]
    except KeyError:
        raise FormatError("unknown compression %r" % (method,))
    bound = limit if isinstance(limit, Budget) else Budget(limit, name)
    return fn(fileobj, bound)
