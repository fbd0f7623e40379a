# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Read ELF structures from untrusted bytes: header, header tables, notes,
build-id, and the section table (SectionTable) check compares.

Every table's claimed extent is checked against the input's real size (or
the --max-size budget of a stream) before it is read, and then read a piece
at a time; extended numbering (e_shnum 0, e_shstrndx SHN_XINDEX, e_phnum
PN_XNUM) is followed as readelf does.
"""

import struct

from .errors import FormatError
from .stream import extent


NT_GNU_BUILD_ID = 3
PT_NOTE = 4
SHT_NOTE = 7
#: Extended numbering (gABI): e_shnum 0 -> the count is section 0's sh_size,
#: e_shstrndx SHN_XINDEX -> the index is its sh_link, e_phnum PN_XNUM -> the
#: count is its sh_info (objects and modules with more than 0xff00 sections).
SHN_XINDEX = 0xffff
PN_XNUM = 0xffff


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


def header_table(blob, h, prefix, what, std, fmt):
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
    avail, real = extent(blob)
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
        for ent in header_table(blob, dict(h, shnum=1), "sh", "section header",
                                 64 if is64 else 40,
                                 h["endian"] + ("IIQQQQII" if is64 else "IIIIIIII")):
            return ent[5], ent[6], ent[7]
    except FormatError:
        return None
    return None


def program_headers(blob, h):
    """(p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align) of each
    program header of the ELF whose header is ``h`` (elf_header), read a piece
    at a time (header_table); e_phnum PN_XNUM takes the count from section 0."""
    is64 = h["class"] == 2
    if h["phnum"] == PN_XNUM:
        zero = _section_zero(blob, h)
        if zero is not None:
            h = dict(h, phnum=zero[2])
    for ent in header_table(blob, h, "ph", "program header", 56 if is64 else 32,
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
    for ent in header_table(blob, sh, "sh", "section header", 64 if is64 else 40,
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


def gnu_build_id(notes):
    for name, ntype, desc in notes:
        if name == "GNU" and ntype == NT_GNU_BUILD_ID and desc:
            return desc.hex()
    return None


def elf_build_id(blob):
    """Build-id of an ELF blob, reading only the headers and note regions."""
    h = elf_header(blob.read_at(0, 64))
    avail, _real = extent(blob)
    for off, size, align in _note_regions(blob, h):
        if size > (1 << 20) or off + size > avail:
            continue
        bid = gnu_build_id(parse_notes(blob.read_at(off, size), h["endian"], align))
        if bid:
            return bid
    return None


SHT_NULL, SHT_STRTAB, SHT_NOBITS = 0, 3, 8
#: More sections than this: not a kernel (a vmlinux has ~50-100); refused before
#: they are held in memory (each costs ~600 bytes).
MAX_SECTIONS = 1 << 16
#: A section name is read up to its NUL, at most this long (past the string table: 256).
MAX_SECTION_NAME = 4096


def section_range(s, fsize):
    """(sh_offset, sh_size) of section ``s``; FormatError if it lies past ``fsize`` bytes."""
    off, size = s["sh_offset"], s["sh_size"]
    if off > fsize or size > fsize - off:
        raise FormatError("section %s lies past the end of the file (%d bytes at 0x%x, the "
                          "file has %d)" % (s.name, size, off, fsize))
    return off, size


class Section(dict):
    """One section header: sh_* fields and ``name``, as pyelftools gives them."""

    __slots__ = ("name",)


class SectionTable:
    """The section table of an ELF blob, and its segments.

    What check reads of pyelftools' ELFFile -- ``elfclass``,
    ``little_endian``, ``iter_sections()`` -- read here with the bounded
    table reader (header_table: its extent checked against the blob's size
    first, then read 64 KiB at a time) and no pyelftools. As pyelftools:
    e_shnum 0 takes the count from section 0's sh_size, e_shstrndx
    SHN_XINDEX from its sh_link; names are read up to their NUL, UTF-8 with
    replacement, '' when none ends before the end of the data.
    ``checked_sections`` also checks the table against the data's size.
    """

    def __init__(self, blob):
        h = elf_header(blob.read_at(0, 64))
        self.blob, self.h = blob, h
        self.elfclass = 64 if h["class"] == 2 else 32
        self.little_endian = h["endian"] == "<"
        is64 = h["class"] == 2
        self._std = 64 if is64 else 40
        self._fmt = h["endian"] + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        self.strtab, self.strndx = None, 0

    def _table(self, h):
        return header_table(self.blob, h, "sh", "section header", self._std, self._fmt)

    def _entry(self, h, i):
        for ent in self._table(dict(h, shoff=h["shoff"] + i * h["shentsize"], shnum=1)):
            return ent
        raise FormatError("corrupt ELF: no section header %d" % i)

    def iter_sections(self):
        h = self.h
        if not h["shoff"]:
            return
        num, strndx = h["shnum"], h["shstrndx"]
        if num == 0 or strndx == SHN_XINDEX:
            first = self._entry(h, 0)
            num = first[5] if num == 0 else num
            strndx = first[6] if strndx == SHN_XINDEX else strndx
        if not num:
            return
        if num > MAX_SECTIONS:
            raise FormatError("the ELF claims %d sections, more than a kernel has (at most %d "
                              "read)" % (num, MAX_SECTIONS))
        h = dict(h, shnum=num)
        if strndx >= num:
            raise FormatError("corrupt ELF: the section name table is section %d of %d"
                              % (strndx, num))
        self.strtab = self._entry(h, strndx)
        self.strndx = strndx
        names = self._names(self.strtab)
        for ent in self._table(h):
            s = Section(zip(("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset",
                              "sh_size", "sh_link", "sh_info", "sh_addralign", "sh_entsize"),
                             ent))
            if s["sh_type"] == SHT_NOBITS:
                s["sh_type"] = "SHT_NOBITS"
            s.name = names(s["sh_name"])
            yield s

    def segments(self):
        """program_headers of this ELF."""
        return program_headers(self.blob, self.h)

    def checked_sections(self, size):
        """Every section, the table checked against the ``size`` bytes of data;
        FormatError for: no section table; a name table that is missing, not a
        string table or past the end of the data; a section other than the null
        one without a name; a section with bytes past the end of the data."""
        secs = list(self.iter_sections())
        if not secs:
            raise FormatError("has no section table: its sections cannot be compared")
        st = self.strtab
        if self.strndx == 0 or st[1] != SHT_STRTAB or st[4] > size or st[5] > size - st[4]:
            raise FormatError("its section name table (section %d) is %s" % (
                self.strndx, "missing" if self.strndx == 0 else
                "not a string table" if st[1] != SHT_STRTAB else "past the end of the data"))
        for i, sec in enumerate(secs):
            if i == 0 or sec["sh_type"] == SHT_NULL:
                continue
            if not sec.name:
                raise FormatError("section %d has no name (a corrupt section table)" % i)
            if sec["sh_type"] != "SHT_NOBITS":
                section_range(sec, size)
        return secs

    def _names(self, strtab):
        """name_of(offset) for the section name string table ``strtab`` (a header tuple)."""
        base, size = strtab[4], strtab[5]
        read_at = self.blob.read_at
        table = read_at(base, min(size, 16 << 20) + MAX_SECTION_NAME)
        cache = {}

        def name_of(off):
            n = cache.get(off)
            if n is None:
                if off < len(table):
                    raw, cap = table[off:off + MAX_SECTION_NAME], MAX_SECTION_NAME
                else:
                    raw, cap = read_at(base + off, 256), 256
                end = raw.find(b"\0")
                if end < 0 and len(raw) < cap:
                    raw = b""           # no NUL before the end of the data
                n = cache[off] = raw[:end].decode("utf-8", "replace") if end >= 0 else \
                    raw.decode("utf-8", "replace")
            return n
        return name_of
