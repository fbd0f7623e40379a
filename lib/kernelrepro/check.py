# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""check: does a kernel image come from the link its debug vmlinux comes from?

The GNU build-ids must be equal and, where the image is ELF, every allocated
section both sides carry must have the same address, flags and bytes; a raw
image (arm64 ``Image``) is compared where the debug file's loadable segments
say its sections lie. Each input is read with the hardened section table of
elfread (SectionTable), under check's own rules of what can be compared.
"""

import collections
import struct

from . import decompress, elfread, image
from .errors import FormatError
from .sections import (SHF_ALLOC, SHF_COMPRESSED, PayloadFile, ReadBudget, Skip, file_size,
                       iter_section, section_size)

# check reads ELF with elfread only: no pyelftools, so it also works in an
# SDK (OE-Core has no nativesdk-python3-pyelftools).

SHT_SYMTAB = 2
PT_LOAD = 1
#: What check needs of the debug file, the least a kernel-dbg vmlinux
#: (``objcopy --only-keep-debug``) carries: a section table whose allocated
#: sections include these, and a symbol table.
DEBUG_MINIMUM_ALLOC = (".text",)


def check(image_path, debug_path, limit=decompress.DEFAULT_LIMIT):
    """Does the deployed image match the debug-symbol vmlinux?

    Returns a dict; ``match`` is True when the build-ids are equal and, where
    both are ELF, every allocated section they share has the same bytes.

    A section that carries bytes on one side only (SHT_NOBITS on the other,
    as in a debug file made with ``objcopy --only-keep-debug``, which is
    what OE-Core packages in kernel-dbg) cannot be compared: it is skipped
    and named in ``sections["skipped"]``, not counted as different.
    Sections that are SHT_NOBITS on both sides (.bss) are compared by size.

    Each input is opened and decoded once (image.open_payload): the
    build-id look-up and the section comparison read the same decoded bytes,
    and sections are compared byte for byte where they lie, without a copy
    of the payload.
    """
    with image.open_payload(image_path, limit) as (ik, iblob, ilayers):
        img = _described(image_path, ik, iblob, ilayers)
        with image.open_payload(debug_path, limit) as (dk, dblob, dlayers):
            dbg = _described(debug_path, dk, dblob, dlayers)
            if dk != "elf":
                raise FormatError("%s: not a debug vmlinux (%s, not ELF): check compares an "
                                  "image with the ELF vmlinux its symbols come from (kernel-dbg's "
                                  "or the build's)" % (debug_path, dbg["layers"][-1] if dbg["layers"]
                                                       else dk))
            sections = None
            if ik == "elf":
                sections = _compare_alloc_sections(PayloadFile(iblob, image_path),
                                                   PayloadFile(dblob, debug_path), limit,
                                                   image_path, debug_path)
            else:
                sections = _compare_raw_image(PayloadFile(iblob, image_path),
                                              PayloadFile(dblob, debug_path), limit, debug_path)
    result = {"image": img, "debug": dbg, "build_id_match": img["build_id"] == dbg["build_id"]}
    result["sections"] = sections
    result["match"] = result["build_id_match"] and not (sections and _differs(sections))
    result["verdict"] = _verdict(result, img, dbg, sections)
    return result


def _differs(sections):
    return bool(sections["differ"] or sections["only_in_image"] or sections["only_in_debug"])


def _verdict(result, img, dbg, sections):
    if not result["build_id_match"]:
        return ("MISMATCH: image build-id %s != debug vmlinux build-id %s: the symbols "
                "are from another build" % (img["build_id"], dbg["build_id"]))
    if sections.get("raw") and not sections["laid_out"]:
        return ("match: both carry build-id %s (a raw image not laid out as the debug file's "
                "loadable segments say: only the build-id note was compared)" % img["build_id"])
    if _differs(sections):
        parts = []
        if sections["differ"]:
            parts.append("%d allocated section(s) differ (%s)" % (
                len(sections["differ"]), ", ".join(sections["differ"][:5])))
        for key, where in (("only_in_image", "in the image only"),
                           ("only_in_debug", "in the debug file only")):
            if sections[key]:
                parts.append("allocated section(s) %s: %s" % (where, ", ".join(sections[key][:5])))
        return ("MISMATCH: same build-id %s but %s: the image was modified after linking"
                % (img["build_id"], "; ".join(parts)))
    if sections.get("raw"):
        v = ("match: both come from the link with build-id %s (a raw image laid out as the debug "
             "file's loadable segments say; the contents of %d allocated sections compared at "
             "their load addresses, equal)" % (img["build_id"], sections["compared"]))
    else:
        v = ("match: both come from the link with build-id %s (%d allocated sections on both "
             "sides at the same addresses; the contents of %d compared, equal)"
             % (img["build_id"], sections["layout"], sections["compared"]))
    if sections["skipped_compressed"]:
        v += " (skipped (compressed): %s)" % ", ".join(sections["skipped_compressed"][:5])
    return v


def _described(path, kind, blob, layers):
    """What image.describe() says of ``path``, from the blob already opened."""
    return {"file": path, "kind": kind, "layers": [str(x) for x in layers],
            "build_id": image.build_id_of(kind, blob, path)}


class _Elf(elfread.SectionTable):
    """An ELF payload (PayloadFile) as check reads it: its section table
    (elfread.SectionTable) and check's rules of what can be compared."""

    def __init__(self, src):
        elfread.SectionTable.__init__(self, src.blob)
        self.src = src

    def sections(self, name, debug=False):
        """Every section, checked to be comparable; raises FormatError naming ``name``.

        Refused: no section table; a name table that is missing, not a string
        table or past the end of the data; a section other than the null one
        without a name; a section with bytes past the end of the data; and, for
        an image, a loadable segment past the end of the data (a payload
        shorter than its headers say) or an allocated section without bytes
        (SHT_NOBITS) where a segment has file bytes (.text marked NOBITS).
        For a debug file, DEBUG_MINIMUM_ALLOC and a symbol table.
        """
        what = "debug file" if debug else "image"
        try:
            size = file_size(self.src)
            secs = self.checked_sections(size)
            if debug:
                self._require_minimum(secs)
            else:
                self._check_segments(secs, size)
        except FormatError as e:
            raise FormatError("%s: %s cannot be compared: %s" % (name, what, e))
        except (struct.error, ValueError) as e:
            raise FormatError("%s: %s cannot be compared: corrupt ELF: %s" % (name, what, e))
        return secs

    def _check_segments(self, secs, size):
        backed = []
        for i, (ptype, off, vaddr, _pa, filesz, _ms, _al) in enumerate(self.segments()):
            if ptype != PT_LOAD:
                continue
            if off > size or filesz > size - off:
                raise FormatError("loadable segment %d ends at 0x%x, past the end of the data "
                                  "(%d bytes): a truncated or corrupt payload"
                                  % (i, off + filesz, size))
            backed.append((vaddr, vaddr + filesz))
        for sec in secs:
            if sec["sh_type"] == "SHT_NOBITS" and sec["sh_flags"] & SHF_ALLOC and sec["sh_size"]:
                a, z = sec["sh_addr"], sec["sh_addr"] + sec["sh_size"]
                if any(a < hi and lo < z for lo, hi in backed):
                    raise FormatError("section %s has no bytes (SHT_NOBITS) but lies where a "
                                      "loadable segment has file bytes: an inconsistent section "
                                      "table" % sec.name)

    @staticmethod
    def _require_minimum(secs):
        alloc = {s.name for s in secs if s["sh_flags"] & SHF_ALLOC}
        missing = [n for n in DEBUG_MINIMUM_ALLOC if n not in alloc]
        if not any(s["sh_type"] == SHT_SYMTAB for s in secs):
            missing.append("a symbol table (.symtab)")
        if missing:
            raise FormatError("it lacks %s, which a kernel's debug vmlinux (kernel-dbg) carries"
                              % ", ".join(missing))


def _alloc_sections(secs):
    out = collections.OrderedDict()
    for s in secs:
        if s.name and s["sh_flags"] & SHF_ALLOC:
            out[s.name] = s
    return out


def _compare_alloc_sections(image_src, debug_src, limit=decompress.DEFAULT_LIMIT,
                            image_name="image", debug_name="debug file"):
    """Compare the allocated sections of two ELF payloads (PayloadFile).

    Both section tables are checked first (_Elf.sections: an image or debug
    file whose table cannot be read or does not fit its payload is an error,
    not "0 compared"). Every allocated section must be on both sides
    (``only_in_image`` / ``only_in_debug`` otherwise) with the same address
    and flags (``layout`` counts them); their contents are compared where
    both sides carry bytes (``compared``; SHT_NOBITS on both sides: by
    size), and where one side has none, their sizes. One with bytes
    on one side only is skipped: ``skipped`` names them all,
    ``skipped_no_bytes_in_image`` the (unusual) ones that are SHT_NOBITS in
    the image rather than the debug file. Sections are compared piece by
    piece as they lie in the payloads; an SHF_COMPRESSED one is inflated
    CHUNK at a time within its claimed size (refused when the claim passes
    --max-size or what its bytes can hold); one compressed other than with
    zlib is named in ``skipped_compressed`` ("NAME (compressed)").
    """
    fa, fb = image_src, debug_src
    try:
        ea, eb = _Elf(fa), _Elf(fb)
        sa = _alloc_sections(ea.sections(image_name))
        sb = _alloc_sections(eb.sections(debug_name, debug=True))
        za, zb = file_size(fa), file_size(fb)
        ba, bb = ReadBudget(za, limit), ReadBudget(zb, limit)
        layout, compared, differ, skipped, skipped_image, skipped_comp = 0, 0, [], [], [], []
        for name, a in sa.items():
            b = sb.get(name)
            if b is None:
                continue
            layout += 1
            a_nobits, b_nobits = a["sh_type"] == "SHT_NOBITS", b["sh_type"] == "SHT_NOBITS"
            if a["sh_addr"] != b["sh_addr"] or (a["sh_flags"] ^ b["sh_flags"]) & ~SHF_COMPRESSED:
                differ.append(name)
                continue
            if a_nobits != b_nobits:
                if a["sh_size"] != b["sh_size"] and not (a["sh_flags"] | b["sh_flags"]) & SHF_COMPRESSED:
                    differ.append(name)
                    continue
                skipped.append(name)
                if a_nobits:
                    skipped_image.append(name)
                continue
            ba.take(ea, fa, a, za)
            bb.take(eb, fb, b, zb)
            size_a, size_b = section_size(ea, fa, a, za), section_size(eb, fb, b, zb)
            try:
                same = size_a == size_b and (a_nobits or _same_bytes(
                    iter_section(ea, fa, a, za, limit), iter_section(eb, fb, b, zb, limit)))
            except Skip:
                skipped_comp.append("%s (compressed)" % name)
                continue
            compared += 1
            if not same:
                differ.append(name)
    except (struct.error, ValueError) as e:
        raise FormatError("corrupt ELF: %s" % e)
    return {"layout": layout, "compared": compared, "differ": differ,
            "only_in_image": [n for n in sa if n not in sb],
            "only_in_debug": [n for n in sb if n not in sa],
            "skipped": skipped, "skipped_no_bytes_in_image": skipped_image,
            "skipped_compressed": skipped_comp}


def _compare_raw_image(image_src, debug_src, limit, debug_name):
    """A raw image (arm64 ``Image``: ``objcopy -O binary vmlinux``) against the debug ELF.

    The raw image holds the loadable segments' bytes from the lowest load
    address on: an allocated section with bytes in the debug file lies at
    (load address - lowest) in the image. When the section holding the
    build-id note is there (``laid_out``), every allocated section the debug
    file has bytes for is compared where it lies (``compared``, ``differ``;
    one past the end of the image differs); otherwise the image is laid out
    some other way and only the build-id was compared.
    """
    eb = _Elf(debug_src)
    secs = eb.sections(debug_name, debug=True)
    zb, size = file_size(debug_src), image_src.size
    loads = [(vaddr, paddr, memsz) for ptype, _off, vaddr, paddr, _fsz, memsz, _al
             in eb.segments() if ptype == PT_LOAD and memsz]
    placed = []
    for sec in secs:
        if not (sec["sh_flags"] & SHF_ALLOC and sec["sh_size"]) or sec["sh_type"] == "SHT_NOBITS":
            continue
        for vaddr, paddr, memsz in loads:
            if vaddr <= sec["sh_addr"] < vaddr + memsz:
                placed.append((sec["sh_addr"] - vaddr + paddr, sec))
                break
    result = {"raw": True, "laid_out": False, "layout": 0, "compared": 0, "differ": [],
              "only_in_image": [], "only_in_debug": [], "skipped": [],
              "skipped_no_bytes_in_image": [], "skipped_compressed": []}
    if not placed:
        return result
    base = min(paddr for _v, paddr, _m in loads)
    notes = [(lma, sec) for lma, sec in placed if sec["sh_type"] == 7]     # SHT_NOTE

    def same(lma, sec):
        off = lma - base
        if off + section_size(eb, debug_src, sec, zb) > size:
            return False
        return _same_bytes(image_src.iter_range(off, sec["sh_size"]),
                           iter_section(eb, debug_src, sec, zb, limit))
    if not notes or not all(same(lma, sec) for lma, sec in notes):
        return result
    result["laid_out"] = True
    budget = ReadBudget(zb, limit)
    for lma, sec in placed:
        budget.take(eb, debug_src, sec, zb)
        result["compared"] += 1
        try:
            if not same(lma, sec):
                result["differ"].append(sec.name)
        except Skip:
            result["skipped_compressed"].append("%s (compressed)" % sec.name)
    result["layout"] = result["compared"]
    return result


def _same_bytes(ia, ib):
    """Do two iterators of byte pieces give the same bytes?

    Pieces are compared as they come (bytes.__eq__, a memcmp), cut only where
    their edges do not line up. After a difference both are read to their
    end, as a whole-section digest read them: their errors (a compressed
    section that inflates to more than it claims ...) are raised all the
    same; A's first, as when A was read whole before B.
    """
    ia, ib = iter(ia), _Tagged(ib)
    a = b = b""
    same = True
    try:
        while True:
            if not a:
                a = next(ia, None)
                if a is None:
                    break
                continue
            if not b:
                b = next(ib, None)
                if b is None:
                    break
                continue
            if len(a) == len(b):
                if a != b:
                    same = False
                    break
                a = b = b""
            else:
                n = min(len(a), len(b))
                if a[:n] != b[:n]:
                    same = False
                    break
                a, b = a[n:], b[n:]
        if same and (a or b or next(ia, None) is not None or next(ib, None) is not None):
            same = False
        if not same:
            for _x in ia:
                pass
            for _x in ib:
                pass
    except Exception:
        if ib.failed:           # B went wrong first: A is read through, A's error wins
            for _x in ia:
                pass
        raise
    return same


class _Tagged:
    """An iterator that remembers whether it raised."""

    def __init__(self, it):
        self.it, self.failed = iter(it), False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self.it)
        except StopIteration:
            raise
        except BaseException:
            self.failed = True
            raise
