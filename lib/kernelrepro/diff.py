# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""diff: why do two kernels differ?

``diff()`` explains a difference the way a release engineer hunts it down:
sections, symbols, the tell-tale strings (build timestamp, user@host,
absolute build paths), BTF and kallsyms; ``explain()`` says it in sentences,
most telling first. ELF files are opened with pyelftools; their section
bytes are read with the section reader check uses too (sections.py).
"""

import collections
import hashlib
import heapq
import re
import struct

from . import decompress, elfread, image
from .errors import FormatError, require_module
from .sections import (CHUNK, SHF_COMPRESSED, ReadBudget, Skip, file_size, iter_range,
                       iter_section, section_size)

# diff opens ELF files with pyelftools: say so at once when it is missing. It
# is imported only where it is used: its import costs ~60 ms.
require_module("elftools")

MAX_LIST = 20
#: A string match (banner, date, path) longer than this may be cut at a chunk edge.
SCAN_OVERLAP = 4096
#: Distinct strings of one kind kept per side; more are counted as truncated.
MAX_STRINGS = 100000
#: More symbols than this in one .symtab: the symbol comparison is left out, saying so.
MAX_SYMBOLS = 2000000
#: A symbol name longer than this is cut (the kernel's own limit is 512).
MAX_SYMBOL_NAME = 4096

BANNER_RE = re.compile(rb"Linux version [\x20-\x7e]{5,300}")
DATE_RE = re.compile(rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
                     rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
                     rb"\d\d:\d\d:\d\d(?: [A-Z]{1,5})? \d{4}")
USERHOST_RE = re.compile(rb"\(([\w.+-]{1,64}@[\w.+-]{1,64})\)")
PATH_RE = re.compile(rb"(?<![\w./-])/(?:[\w.+@-]+/){2,}[\w.+@-]*")
STRING_SECTIONS = (".rodata", ".debug_str", ".debug_line_str", ".comment", ".modinfo",
                   ".init.rodata", ".data")


def diff(a, b, limit=decompress.DEFAULT_LIMIT):
    """Compare two kernels (any formats). Returns a report dict.

    ``report['identical']`` is True when the files, or the kernels inside
    them, are byte-identical. Every pass over the payloads reads CHUNK at
    a time: time and memory are bounded by the payloads' sizes and CHUNK,
    the lists in the report by MAX_LIST / MAX_STRINGS / MAX_SYMBOLS.
    """
    rep = {"a": {"file": a}, "b": {"file": b}}
    for side, path in (("a", a), ("b", b)):
        d = image.describe(path, limit)
        rep[side].update(d)
        rep[side]["sha256"] = image.sha256_file(path)
    rep["files_identical"] = rep["a"]["sha256"] == rep["b"]["sha256"]
    rep["build_id_same"] = rep["a"]["build_id"] == rep["b"]["build_id"]
    with image.payload_file(a, limit) as (ka, _la, pa), image.payload_file(b, limit) as (kb, _lb, pb):
        ha, hb = image.sha256_file(pa), image.sha256_file(pb)
        rep["a"]["payload_sha256"], rep["b"]["payload_sha256"] = ha, hb
        rep["payloads_identical"] = ha == hb
        rep["identical"] = rep["files_identical"] or rep["payloads_identical"]
        if not rep["payloads_identical"]:
            if ka == "elf" and kb == "elf":
                _diff_elf(pa, pb, rep, limit)
            else:
                _diff_raw(pa, pb, rep)
    rep["explanation"] = explain(rep)
    return rep


def _first_and_count(x, y):
    """(index of the first differing byte, number of differing bytes) of equal-length x, y."""
    n = len(x)
    v = int.from_bytes(x, "big") ^ int.from_bytes(y, "big")
    first = n - 1 - (v.bit_length() - 1) // 8
    return first, n - v.to_bytes(n, "big").count(0)


def _diff_raw(pa, pb, rep):
    """Chunk by chunk: bytes.__eq__ per chunk, then the first difference and the count within."""
    first, ndiff, off = None, 0, 0
    with open(pa, "rb") as fa, open(pb, "rb") as fb:
        size_a, size_b = file_size(fa), file_size(fb)
        while True:
            x, y = fa.read(CHUNK), fb.read(CHUNK)
            if not x and not y:
                break
            n = min(len(x), len(y))
            if x != y:
                if len(x) != n or len(y) != n:
                    x, y = x[:n], y[:n]
                if x != y:
                    i, k = _first_and_count(x, y)
                    ndiff += k
                    if first is None:
                        first = off + i
            off += n
            if not n:
                break
    if first is None:
        first = min(size_a, size_b)
    ndiff += abs(size_a - size_b)
    rep["raw"] = {"size_a": size_a, "size_b": size_b, "first_difference": first,
                  "bytes_differing": ndiff}
    sa, sb = _StringScan(), _StringScan()
    with open(pa, "rb") as fa:
        sa.feed(iter_range(fa, 0, size_a))
    with open(pb, "rb") as fb:
        sb.feed(iter_range(fb, 0, size_b))
    rep["strings"] = _diff_strings(sa.result(), sb.result())


def _open_elf(path):
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    f = open(path, "rb")
    try:
        return f, ELFFile(f)
    except (ELFError, struct.error, ValueError) as e:
        f.close()
        raise FormatError("%s: corrupt ELF: %s" % (path, e))


def _diff_elf(pa, pb, rep, limit=decompress.DEFAULT_LIMIT):
    from elftools.common.exceptions import ELFError
    fa, ea = _open_elf(pa)
    fb, eb = _open_elf(pb)
    try:
        sa, sb = _section_digests(ea, fa, limit), _section_digests(eb, fb, limit)
        differ = [{"name": n, "size_a": sa[n][0], "size_b": sb[n][0]}
                  for n in sa if n in sb and sa[n] != sb[n]]
        rep["sections"] = {"differ": differ,
                           "only_a": [n for n in sa if n not in sb],
                           "only_b": [n for n in sb if n not in sa],
                           "same": sum(1 for n in sa if n in sb and sa[n] == sb[n])}
        ta, tb = _symtab(ea, fa), _symtab(eb, fb)
        rep["symbols"] = _diff_symbols(ta, tb)
        rep["strings"] = _diff_strings(_scan_elf_strings(ea, fa, limit),
                                       _scan_elf_strings(eb, fb, limit))
        rep["btf"] = _diff_btf(ea, eb, fa, fb, limit)
        rep["kallsyms"] = _diff_kallsyms(_kallsyms(ea, fa, ta), _kallsyms(eb, fb, tb))
    except (ELFError, struct.error, ValueError) as e:
        raise FormatError("corrupt ELF: %s" % e)
    finally:
        fa.close()
        fb.close()


def _section_digests(elf, f, limit):
    """{name: (logical size, digest)} of every named section, read CHUNK at a time."""
    fsize = file_size(f)
    budget = ReadBudget(fsize, limit)
    out = collections.OrderedDict()
    if elf.num_sections() > elfread.MAX_SECTIONS:
        raise FormatError("the ELF claims %d sections, more than a kernel has (at most %d read)"
                          % (elf.num_sections(), elfread.MAX_SECTIONS))
    for s in elf.iter_sections():
        if not s.name:
            continue
        budget.take(elf, f, s, fsize)
        try:
            digest = _digest(elf, f, s, fsize, limit)
        except Skip:
            digest = "compressed:" + _digest_stored(f, s, fsize)
        out[s.name] = (section_size(elf, f, s, fsize), digest)
    return out


def _digest(elf, f, s, fsize, limit):
    if s["sh_type"] == "SHT_NOBITS":
        return "nobits"
    h = hashlib.sha256()
    for b in iter_section(elf, f, s, fsize, limit):
        h.update(b)
    return h.hexdigest()


def _digest_stored(f, s, fsize):
    h = hashlib.sha256()
    for b in iter_range(f, *elfread.section_range(s, fsize)):
        h.update(b)
    return h.hexdigest()


KALLSYMS_NAMES = (b"kallsyms_num_syms", b"kallsyms_names", b"kallsyms_offsets",
                  b"kallsyms_addresses", b"kallsyms_token_table", b"kallsyms_markers")


def _symtab(elf, f):
    """Read .symtab with struct, not symbol objects: bounded by its size and MAX_SYMBOLS.

    Returns None without a .symtab, {"too_many": n} past MAX_SYMBOLS, else
    {"symbols": {name: value} (defined FUNC/OBJECT/NOTYPE, first wins),
    "kallsyms": {name: (value, shndx)} (the kallsyms_* table symbols)}.
    """
    st = elf.get_section_by_name(".symtab")
    if st is None or st["sh_type"] != "SHT_SYMTAB":
        return None
    fsize = file_size(f)
    ent = 24 if elf.elfclass == 64 else 16
    if st["sh_entsize"] != ent:
        raise FormatError(".symtab entry size %d, not %d" % (st["sh_entsize"], ent))
    off, size = elfread.section_range(st, fsize)
    count = size // ent
    if count > MAX_SYMBOLS:
        return {"too_many": count}
    if not 0 < st["sh_link"] < elf.num_sections():
        raise FormatError(".symtab links to section %d, not a string table" % st["sh_link"])
    strtab = elf.get_section(st["sh_link"])
    soff, ssize = elfread.section_range(strtab, fsize)
    f.seek(soff)
    strs = f.read(ssize)
    f.seek(off)
    data = f.read(count * ent)
    e = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        rows = ((n, i, x, v) for n, i, _o, x, v, _s in struct.iter_unpack(e + "IBBHQQ", data))
    else:
        rows = ((n, i, x, v) for n, v, _s, i, _o, x in struct.iter_unpack(e + "IIIBBH", data))
    syms, ks, want = {}, {}, set(KALLSYMS_NAMES)
    for name, info, shndx, value in rows:
        if not name or name >= ssize:
            continue
        end = strs.find(b"\0", name, name + MAX_SYMBOL_NAME)
        nm = strs[name:end if end >= 0 else min(ssize, name + MAX_SYMBOL_NAME)]
        if not nm:
            continue
        if nm in want and nm not in ks:
            ks[nm] = (value, shndx)
        if info & 0xf in (0, 1, 2) and shndx != 0 and nm not in syms:
            syms[nm] = value
    return {"symbols": syms, "kallsyms": ks}


def _diff_symbols(ta, tb):
    if ta is None or tb is None:
        return {"available": False}
    if "too_many" in ta or "too_many" in tb:
        return {"available": False, "reason": "more than %d symbols (%s vs %s): not compared"
                % (MAX_SYMBOLS, ta.get("too_many", len(ta.get("symbols", ()))),
                   tb.get("too_many", len(tb.get("symbols", ()))))}
    a, b = ta["symbols"], tb["symbols"]
    dec = lambda n: n.decode("utf-8", "replace")  # noqa: E731
    added = [n for n in b if n not in a]
    removed = [n for n in a if n not in b]
    moved = [(n, a[n], b[n]) for n in a if n in b and a[n] != b[n]]
    deltas = collections.Counter(t[2] - t[1] for t in moved)
    top = heapq.nlargest(MAX_LIST, moved, key=lambda t: (abs(t[2] - t[1]), dec(t[0])))
    return {"available": True, "count_a": len(a), "count_b": len(b),
            "added": sorted(map(dec, heapq.nsmallest(MAX_LIST, added))),
            "added_count": len(added),
            "removed": sorted(map(dec, heapq.nsmallest(MAX_LIST, removed))),
            "removed_count": len(removed),
            "moved": [{"name": dec(n), "a": "0x%x" % x, "b": "0x%x" % y, "delta": y - x}
                      for n, x, y in top],
            "moved_count": len(moved),
            "common_deltas": [{"delta": d, "count": c} for d, c in deltas.most_common(3)]}


class _StringScan:
    """The tell-tale strings of a stream of chunks, found chunk by chunk.

    Matches are searched in a window of the new chunk plus SCAN_OVERLAP bytes
    of look-ahead; a match is taken where it starts and never twice, so a
    string across a chunk edge is found whole (up to SCAN_OVERLAP bytes).
    At most MAX_STRINGS distinct strings of each kind are kept.
    """

    REGEXES = (("banner", BANNER_RE), ("dates", DATE_RE), ("paths", PATH_RE))

    def __init__(self):
        self.found = {"banner": set(), "dates": set(), "user_host": set(), "paths": set()}
        self.truncated = False

    def _add(self, key, value):
        s = self.found[key]
        if len(s) < MAX_STRINGS:
            s.add(value)
        elif value not in s:
            self.truncated = True

    def feed(self, chunks):
        buf, base, start, resume = b"", 0, 0, {k: 0 for k, _r in self.REGEXES}
        done = False
        it = iter(chunks)
        while not done:
            chunk = next(it, None)
            if chunk is None:
                done = True
            else:
                buf += chunk
            # matches starting in [start, end) are taken now: whole, unless done
            end = len(buf) if done else len(buf) - SCAN_OVERLAP
            if end <= 0 and not done:
                continue
            for key, rx in self.REGEXES:
                pos = max(resume[key] - base, start)
                for m in rx.finditer(buf, pos):
                    if m.start() >= end:
                        break
                    resume[key] = base + m.end()
                    self._match(key, m.group(0))
            if not done:
                keep = len(buf) - end + 1      # one byte before the window: look-behind
                base += len(buf) - keep
                buf, start = buf[-keep:], 1

    def _match(self, key, text):
        if key == "banner":
            banner = text.split(b"\0")[0].rstrip(b"\n")
            self._add("banner", banner)
            for u in USERHOST_RE.finditer(banner):
                self._add("user_host", u.group(1))
        else:
            self._add(key, text)

    def result(self):
        dec = lambda s: sorted(x.decode("utf-8", "replace") for x in s)  # noqa: E731
        return {"banner": dec(self.found["banner"]), "dates": dec(self.found["dates"]),
                "user_host": dec(self.found["user_host"]), "paths": self.found["paths"],
                "truncated": self.truncated}


def _scan_elf_strings(elf, f, limit):
    fsize = file_size(f)
    scan = _StringScan()
    for name in STRING_SECTIONS:
        s = elf.get_section_by_name(name)
        if s is not None and s["sh_type"] != "SHT_NOBITS":
            try:
                scan.feed(iter_section(elf, f, s, fsize, limit))
            except Skip:
                pass
    return scan.result()


def _strings_of(blobs):
    """The tell-tale strings of some byte strings (each scanned CHUNK at a time)."""
    scan = _StringScan()
    for data in blobs:
        scan.feed(data[i:i + CHUNK] for i in range(0, len(data), CHUNK))
    return scan.result()


def _path_roots(paths, limit=5):
    """Summarise many absolute paths by their most common directory prefixes."""
    c = collections.Counter()
    for p in paths:
        parts = p.decode("utf-8", "replace").split("/")
        # a build root is a few components deep: count every prefix of 3..12
        for n in range(3, min(len(parts), 13)):
            c["/".join(parts[:n])] += 1
    if not c:
        return []
    # keep the longest prefixes that still cover most of the paths
    total = len(paths)
    good = [p for p, k in c.items() if k >= max(1, total * 0.5)]
    good.sort(key=lambda p: (-len(p.split("/")), p))
    roots = []
    for p in good:
        if not any(r.startswith(p + "/") or r == p for r in roots):
            roots.append(p)
    return roots[:limit]


def _diff_strings(sa, sb):
    """Compare two _StringScan results (or lists of byte strings, scanned here)."""
    if not isinstance(sa, dict):
        sa, sb = _strings_of(sa), _strings_of(sb)
    out = {}
    for key in ("banner", "dates", "user_host"):
        if sa[key] != sb[key]:
            out[key] = {"a": sa[key][:MAX_LIST], "b": sb[key][:MAX_LIST]}
    pa, pb = sa["paths"] - sb["paths"], sb["paths"] - sa["paths"]
    if pa or pb:
        out["paths"] = {"only_a_count": len(pa), "only_b_count": len(pb),
                        "roots_a": _path_roots(pa), "roots_b": _path_roots(pb),
                        "examples_a": sorted(x.decode("utf-8", "replace")
                                             for x in heapq.nsmallest(5, pa)),
                        "examples_b": sorted(x.decode("utf-8", "replace")
                                             for x in heapq.nsmallest(5, pb))}
    if sa.get("truncated") or sb.get("truncated"):
        out["truncated"] = "more than %d distinct strings of a kind: counts are lower bounds" \
            % MAX_STRINGS
    return out


BTF_KIND_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8),
                  7: (0, 0), 8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0),
                  13: (0, 8), 14: (4, 0), 15: (0, 12), 16: (0, 0), 17: (4, 0), 18: (0, 0),
                  19: (0, 12)}


def parse_btf(data):
    """Summary of a .BTF section: header, type count, kind histogram, strings."""
    if len(data) < 24:
        raise FormatError("BTF section too short")
    magic = struct.unpack_from("<H", data, 0)[0]
    e = "<" if magic == 0xEB9F else ">"
    if struct.unpack_from(e + "H", data, 0)[0] != 0xEB9F:
        raise FormatError("bad BTF magic")
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(e + "IIIII", data, 4)
    types = data[hdr_len + type_off:hdr_len + type_off + type_len]
    strs = data[hdr_len + str_off:hdr_len + str_off + str_len]
    kinds = collections.Counter()
    pos, n = 0, 0
    while pos + 12 <= len(types):
        info = struct.unpack_from(e + "I", types, pos + 4)[0]
        kind, vlen = (info >> 24) & 0x1f, info & 0xffff
        fixed, per = BTF_KIND_EXTRA.get(kind, (None, None))
        if fixed is None:
            break
        kinds[kind] += 1
        n += 1
        pos += 12 + fixed + per * vlen
    return {"types": n, "type_len": type_len, "str_len": str_len, "kinds": dict(kinds),
            "strings_sorted_digest":
                hashlib.sha256(b"\0".join(sorted(strs.split(b"\0")))).hexdigest()}


def _section_bytes(elf, f, s, limit):
    """All of one section (bounded by the file's size or --max-size); None if not readable."""
    try:
        return b"".join(iter_section(elf, f, s, file_size(f), limit))
    except Skip:
        return None


def _diff_btf(ea, eb, fa, fb, limit=decompress.DEFAULT_LIMIT):
    a, b = ea.get_section_by_name(".BTF"), eb.get_section_by_name(".BTF")
    if a is None and b is None:
        return {"present": False}
    if a is None or b is None:
        return {"present": True, "only_in": "a" if b is None else "b"}
    if _digest(ea, fa, a, file_size(fa), limit) == _digest(eb, fb, b, file_size(fb), limit):
        return {"present": True, "identical": True}
    da, db = _section_bytes(ea, fa, a, limit), _section_bytes(eb, fb, b, limit)
    if da is None or db is None:
        return {"present": True, "identical": False, "error": "compressed .BTF not read"}
    try:
        pa, pb = parse_btf(da), parse_btf(db)
    except (FormatError, struct.error) as e:
        return {"present": True, "identical": False, "error": str(e)}
    same_names = pa["strings_sorted_digest"] == pb["strings_sorted_digest"]
    same_content = same_names and pa["types"] == pb["types"] and pa["kinds"] == pb["kinds"]
    return {"present": True, "identical": False, "a": {k: pa[k] for k in ("types", "type_len", "str_len")},
            "b": {k: pb[k] for k in ("types", "type_len", "str_len")},
            "same_types_and_names": same_content, "same_names": same_names}


def _sym_value(elf, f, sym, size=4):
    """The ``size``-byte value a (value, shndx) symbol points at, read from the file alone."""
    if sym is None:
        return None
    value, shndx = sym
    if not 0 < shndx < min(elf.num_sections(), 0xff00):
        return None
    sec = elf.get_section(shndx)
    if sec["sh_type"] == "SHT_NOBITS" or sec["sh_flags"] & SHF_COMPRESSED:
        return None
    off = value - sec["sh_addr"]
    if off < 0 or off + size > sec["sh_size"]:
        return None
    try:
        base, _n = elfread.section_range(sec, file_size(f))
    except FormatError:
        return None
    f.seek(base + off)
    data = f.read(size)
    if len(data) < size:
        return None
    return int.from_bytes(data, "little" if elf.little_endian else "big")


def _kallsyms(elf, f, tab):
    if tab is None or "too_many" in tab:
        return None
    ks = tab["kallsyms"]
    out = {"num_syms": _sym_value(elf, f, ks.get(b"kallsyms_num_syms"))}
    for name in KALLSYMS_NAMES[1:]:
        if name in ks:
            out[name.decode() + "_addr"] = ks[name][0]
    return out


def _diff_kallsyms(a, b):
    if a is None or b is None or a.get("num_syms") is None:
        return {"available": False}
    return {"available": True, "a": a, "b": b, "same_layout": a == b}


# --------------------------------------------------------------------------
# the human explanation

def explain(rep):
    """Sentences that say why two kernels differ, most telling first."""
    out = []
    if rep["files_identical"]:
        return ["the files are byte-identical"]
    if rep["payloads_identical"]:
        return ["the kernels inside are byte-identical (only the container differs)"]
    if rep["build_id_same"]:
        out.append("same build-id %s, but the bytes differ (modified after linking?)" % rep["a"]["build_id"])
    else:
        out.append("different builds: build-id %s vs %s" % (rep["a"]["build_id"], rep["b"]["build_id"]))
    s = rep.get("strings", {})
    if "banner" in s:
        ba, bb = s["banner"]["a"], s["banner"]["b"]
        only_a = [x for x in ba if x not in bb] or ["-"]
        only_b = [x for x in bb if x not in ba] or ["-"]
        out.append("the version banner differs: %r vs %r" % (only_a[0], only_b[0]))
    if "dates" in s:
        out.append("build timestamp differs: %s vs %s -- set KBUILD_BUILD_TIMESTAMP from "
                   "SOURCE_DATE_EPOCH" % (", ".join(s["dates"]["a"][:2]) or "-",
                                          ", ".join(s["dates"]["b"][:2]) or "-"))
    if "user_host" in s:
        out.append("user@host differs: %s vs %s -- set KBUILD_BUILD_USER/KBUILD_BUILD_HOST" % (
            ", ".join(s["user_host"]["a"]) or "-", ", ".join(s["user_host"]["b"]) or "-"))
    if "paths" in s:
        p = s["paths"]
        out.append("absolute build paths differ (%d only in A, %d only in B): %s vs %s -- "
                   "map them with -ffile-prefix-map in KCFLAGS and KAFLAGS" % (
                       p["only_a_count"], p["only_b_count"],
                       ", ".join(p["roots_a"][:2]) or "-", ", ".join(p["roots_b"][:2]) or "-"))
    btf = rep.get("btf", {})
    if btf.get("present") and btf.get("identical") is False:
        if btf.get("same_types_and_names") or btf.get("same_names"):
            out.append("BTF has the same names but %s (%s vs %s types): the signature of "
                       "parallel pahole encoding (-j); run it serially (pahole < 1.27) or with "
                       "--btf_features=+reproducible_build (1.27, 1.28)" % (
                           "in a different order" if btf.get("same_types_and_names")
                           else "deduplicated differently",
                           btf["a"]["types"], btf["b"]["types"]))
        else:
            out.append("BTF differs in content (%s vs %s types)" % (
                btf.get("a", {}).get("types", "?"), btf.get("b", {}).get("types", "?")))
    ks = rep.get("kallsyms", {})
    if ks.get("available") and not ks.get("same_layout"):
        na, nb = ks["a"].get("num_syms"), ks["b"].get("num_syms")
        if na == nb:
            out.append("kallsyms: same %s symbols, but its tables moved (a consequence of "
                       "the size changes above)" % na)
        else:
            out.append("kallsyms tables differ: %s vs %s symbols" % (na, nb))
    sec = rep.get("sections")
    if sec:
        names = [d["name"] for d in sec["differ"]]
        if names:
            out.append("%d section(s) differ: %s%s" % (len(names), ", ".join(names[:12]),
                                                       " ..." if len(names) > 12 else ""))
        elif not (sec["only_a"] or sec["only_b"]):
            out.append("every section has the same contents: the files differ only in how "
                       "they are laid out or stored (e.g. compressed debug sections, objcopy)")
        if sec["only_a"] or sec["only_b"]:
            out.append("sections only in A: %s; only in B: %s" % (
                ", ".join(sec["only_a"]) or "-", ", ".join(sec["only_b"]) or "-"))
    sy = rep.get("symbols", {})
    if sy.get("available") and (sy["added_count"] or sy["removed_count"] or sy["moved_count"]):
        out.append("symbols: %d added, %d removed, %d moved%s" % (
            sy["added_count"], sy["removed_count"], sy["moved_count"],
            (" (most common shift %+d bytes)" % sy["common_deltas"][0]["delta"])
            if sy["common_deltas"] else ""))
    raw = rep.get("raw")
    if raw:
        out.append("raw images: %d bytes differ, first at offset 0x%x" % (
            raw["bytes_differing"], raw["first_difference"]))
    return out
