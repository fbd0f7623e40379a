# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Find a raw image's own GNU build-id note by scanning its bytes.

A raw arm64/riscv ``Image`` has no ELF headers to lead to its notes: the
bytes are searched for a well-formed build-id note, skipping the notes of
the ELF objects a kernel embeds (the vDSO), in a bounded look-behind window.
"""

import bisect
import struct

from . import decompress
from .elfread import PN_XNUM, PT_NOTE, SHT_NOTE, elf_header
from .errors import FormatError
from .stream import StreamBlob


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
    if h["shnum"] == 0 or h["phnum"] == PN_XNUM:    # extended numbering: see elfread._section_zero
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
