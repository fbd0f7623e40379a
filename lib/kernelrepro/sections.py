# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The bytes of ELF sections, for check and diff: read a piece at a time.

One reader of section contents, whichever side opened the ELF: check's
elfread.SectionTable over a decoded payload (PayloadFile), or diff's
pyelftools ELFFile over a file. A section lying past the end of its data is
refused (elfread.section_range); an SHF_COMPRESSED one is inflated CHUNK at
a time within the size its header claims; ReadBudget bounds what a table
of overlapping sections can make us read.
"""

import os
import struct
import zlib

from . import elfread
from .errors import FormatError, naming
from .stream import StreamBlob

#: Files are read, compared, hashed and scanned this much at a time.
CHUNK = 1 << 20
#: deflate expands at most ~1032:1; a compression header claiming more is a lie.
DEFLATE_MAX_RATIO = 1032
ELFCOMPRESS_ZLIB = 1
SHF_ALLOC, SHF_COMPRESSED = 0x2, 0x800


class PayloadFile:
    """A resolved payload (image.open_payload) as a file for the section readers:
    seek/read, its size, and ``iter_range`` that hands over the decoded chunks
    as they are. The payload is decoded to its end (bounded, verified) first."""

    def __init__(self, blob, name):
        self.blob, self.pos = blob, 0
        with naming(name):
            self.size = blob.size()

    def seek(self, off, whence=0):
        self.pos = off if whence == 0 else (self.pos + off if whence == 1 else self.size + off)
        return self.pos

    def tell(self):
        return self.pos

    def read(self, n=-1):
        if n is None or n < 0:
            n = max(0, self.size - self.pos)
        b = self.blob.read_at(self.pos, n)
        self.pos += len(b)
        return b

    def iter_range(self, off, size):
        if isinstance(self.blob, StreamBlob):
            return self.blob.iter_range(off, size)
        return self._read_range(off, size)

    def _read_range(self, off, size):
        while size > 0:
            b = self.blob.read_at(off, min(CHUNK, size))
            if not b:
                return
            yield b
            off += len(b)
            size -= len(b)


class Skip(Exception):
    """A section whose bytes cannot be read here (compressed other than zlib)."""


def file_size(f):
    """The size of ``f``: a PayloadFile or a real file."""
    if isinstance(f, PayloadFile):
        return f.size
    return os.fstat(f.fileno()).st_size


def iter_range(f, off, size):
    """``size`` bytes of ``f`` at ``off``, CHUNK at a time (or as a payload has
    them); FormatError when the data ends first."""
    if isinstance(f, PayloadFile):
        left = size
        for b in f.iter_range(off, size):
            left -= len(b)
            yield b
        if left:
            raise FormatError("file truncated while reading 0x%x bytes at 0x%x" % (size, off))
        return
    f.seek(off)
    left = size
    while left:
        b = f.read(min(CHUNK, left))
        if not b:
            raise FormatError("file truncated while reading 0x%x bytes at 0x%x" % (size, off))
        left -= len(b)
        yield b


def _chdr(elf, f, s, off, size):
    """(ch_type, ch_size, header size) of an SHF_COMPRESSED section."""
    # Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign (24 bytes);
    # Elf32_Chdr: ch_type, ch_size, ch_addralign (12 bytes)
    fmt = ("IIQQ" if elf.elfclass == 64 else "III")
    hs = struct.calcsize("<" + fmt)
    if size < hs:
        raise FormatError("compressed section %s is shorter than its compression header" % s.name)
    f.seek(off)
    fields = struct.unpack(("<" if elf.little_endian else ">") + fmt, f.read(hs))
    return fields[0], fields[2] if elf.elfclass == 64 else fields[1], hs


def section_size(elf, f, s, fsize):
    """The logical size: the compression header's claim for a compressed section."""
    if s["sh_type"] == "SHT_NOBITS" or not s["sh_flags"] & SHF_COMPRESSED:
        return s["sh_size"]
    off, size = elfread.section_range(s, fsize)
    return _chdr(elf, f, s, off, size)[1]


def iter_section(elf, f, s, fsize, limit):
    """The bytes of a section, CHUNK at a time, decompressed where SHF_COMPRESSED.

    A compressed section whose header claims more than --max-size, or more
    than its compressed bytes can hold, is refused (FormatError); zlib data
    is inflated CHUNK at a time and must give exactly the claimed size.
    Other compression types raise Skip.
    """
    off, size = elfread.section_range(s, fsize)
    if not s["sh_flags"] & SHF_COMPRESSED:
        yield from iter_range(f, off, size)
        return
    ch_type, ch_size, hs = _chdr(elf, f, s, off, size)
    stored = size - hs
    if ch_size > limit:
        raise FormatError("compressed section %s claims %d bytes, more than --max-size (%d)"
                          % (s.name, ch_size, limit))
    if ch_size > DEFLATE_MAX_RATIO * stored + 1024:
        raise FormatError("compressed section %s claims %d bytes from %d compressed bytes: "
                          "impossible, corrupt compression header" % (s.name, ch_size, stored))
    if ch_type != ELFCOMPRESS_ZLIB:
        raise Skip(s.name)
    d, out = zlib.decompressobj(), 0
    try:
        for chunk in iter_range(f, off + hs, stored):
            while chunk and not d.eof:
                o = d.decompress(chunk, CHUNK)
                out += len(o)
                if out > ch_size:
                    break
                if o:
                    yield o
                chunk = d.unconsumed_tail
            if d.eof or out > ch_size:
                break
        while not d.eof and out <= ch_size:     # output zlib still holds
            o = d.decompress(b"", CHUNK)
            if not o:
                break
            out += len(o)
            if out <= ch_size:
                yield o
    except zlib.error as e:
        raise FormatError("compressed section %s: %s" % (s.name, e))
    if out > ch_size:
        raise FormatError("compressed section %s: the data gives more than its header claims "
                          "(%d bytes)" % (s.name, ch_size))
    if not d.eof or out != ch_size:
        raise FormatError("compressed section %s: the data %s, its header claims %d bytes" % (
            s.name, "ends early" if not d.eof else "gives %d bytes" % out, ch_size))


class ReadBudget:
    """Sections of a sane ELF file do not overlap: all of them together hold at most
    the file's bytes (plus what compressed ones inflate to, itself within --max-size).
    A table of sections that each claim the whole file would have us read it
    again and again: refused past twice the file's size (inflated: past --max-size)."""

    def __init__(self, fsize, limit):
        self.stored, self.inflated, self.limit = 2 * fsize + CHUNK, limit, limit

    def take(self, elf, f, s, fsize):
        if s["sh_type"] == "SHT_NOBITS":
            return
        self.stored -= s["sh_size"]
        if s["sh_flags"] & SHF_COMPRESSED:
            claim = section_size(elf, f, s, fsize)
            if claim <= self.limit:     # a claim past it is refused by its own name
                self.inflated -= claim
        if self.stored < 0 or self.inflated < 0:
            raise FormatError("the section table claims far more bytes than the file holds "
                              "(sections overlapping again and again, at %s)" % s.name)
