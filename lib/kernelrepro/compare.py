# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Compare kernels: does an image match its debug vmlinux, and why do two differ.

``check()`` answers "do these come from one link?" (GNU build-id, plus the
allocated section contents where both sides are ELF). ``diff()`` explains a
difference the way a release engineer hunts it down: sections, symbols,
the tell-tale strings (build timestamp, user@host, absolute build paths),
BTF and kallsyms.
"""

import collections
import hashlib
import re
import struct

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from . import decompress, image
from .errors import FormatError

MAX_LIST = 20

BANNER_RE = re.compile(rb"Linux version [\x20-\x7e]{5,300}")
DATE_RE = re.compile(rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
                     rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
                     rb"\d\d:\d\d:\d\d(?: [A-Z]{1,5})? \d{4}")
USERHOST_RE = re.compile(rb"\(([\w.+-]{1,64}@[\w.+-]{1,64})\)")
PATH_RE = re.compile(rb"(?<![\w./-])/(?:[\w.+@-]+/){2,}[\w.+@-]*")
STRING_SECTIONS = (".rodata", ".debug_str", ".debug_line_str", ".comment", ".modinfo",
                   ".init.rodata", ".data")


# --------------------------------------------------------------------------
# check

def check(image_path, debug_path, limit=decompress.DEFAULT_LIMIT):
    """Does the deployed image match the debug-symbol vmlinux?

    Returns a dict; ``match`` is True when the build-ids are equal and, where
    both are ELF, every allocated section they share has the same bytes.

    A section that carries bytes on one side only (SHT_NOBITS on the other,
    as in a debug file made with ``objcopy --only-keep-debug``, which is
    what OE-Core packages in kernel-dbg) cannot be compared: it is skipped
    and named in ``sections["skipped"]``, not counted as different.
    Sections that are SHT_NOBITS on both sides (.bss) are compared by size.
    """
    img = image.describe(image_path, limit)
    dbg = image.describe(debug_path, limit)
    result = {"image": img, "debug": dbg,
              "build_id_match": img["build_id"] == dbg["build_id"]}
    sections = None
    if img["kind"] == "elf" and dbg["kind"] == "elf":
        with image.payload_file(image_path, limit) as (_k, _l, ipath), \
                image.payload_file(debug_path, limit) as (_k2, _l2, dpath):
            sections = _compare_alloc_sections(ipath, dpath)
    result["sections"] = sections
    result["match"] = result["build_id_match"] and not (sections and sections["differ"])
    if result["match"]:
        result["verdict"] = "match: both come from the link with build-id %s" % img["build_id"]
    elif result["build_id_match"]:
        result["verdict"] = ("MISMATCH: same build-id %s but %d allocated section(s) differ (%s): "
                             "the image was modified after linking"
                             % (img["build_id"], len(sections["differ"]),
                                ", ".join(sections["differ"][:5])))
    else:
        result["verdict"] = ("MISMATCH: image build-id %s != debug vmlinux build-id %s: the symbols "
                             "are from another build" % (img["build_id"], dbg["build_id"]))
    return result


def _open_elf(path):
    f = open(path, "rb")
    try:
        return f, ELFFile(f)
    except (ELFError, struct.error, ValueError) as e:
        f.close()
        raise FormatError("%s: corrupt ELF: %s" % (path, e))


def _section_digests(elf, alloc_only=False):
    out = collections.OrderedDict()
    for s in elf.iter_sections():
        if not s.name:
            continue
        if alloc_only and not (s["sh_flags"] & SH_FLAGS.SHF_ALLOC):
            continue
        if s["sh_type"] == "SHT_NOBITS":
            digest = "nobits"
        else:
            digest = hashlib.sha256(s.data()).hexdigest()
        out[s.name] = (s["sh_size"], digest)
    return out


def _alloc_sections(elf):
    out = collections.OrderedDict()
    for s in elf.iter_sections():
        if s.name and s["sh_flags"] & SH_FLAGS.SHF_ALLOC:
            out[s.name] = s
    return out


def _section_key(s):
    nobits = s["sh_type"] == "SHT_NOBITS"
    return (s["sh_size"], "nobits" if nobits else hashlib.sha256(s.data()).hexdigest())


def _compare_alloc_sections(image_elf, debug_elf):
    """Compare the allocated sections two ELF files share.

    Only sections with bytes on both sides (or SHT_NOBITS on both, compared
    by size) are compared and hashed; one with bytes on one side only is
    skipped: ``skipped`` names them all, ``skipped_no_bytes_in_image`` the
    (unusual) ones that are SHT_NOBITS in the image rather than the debug file.
    """
    fa, ea = _open_elf(image_elf)
    fb, eb = _open_elf(debug_elf)
    try:
        sa, sb = _alloc_sections(ea), _alloc_sections(eb)
        compared, differ, skipped, skipped_image = 0, [], [], []
        for name, a in sa.items():
            b = sb.get(name)
            if b is None:
                continue
            a_nobits, b_nobits = a["sh_type"] == "SHT_NOBITS", b["sh_type"] == "SHT_NOBITS"
            if a_nobits != b_nobits:
                skipped.append(name)
                if a_nobits:
                    skipped_image.append(name)
                continue
            compared += 1
            if _section_key(a) != _section_key(b):
                differ.append(name)
    except (ELFError, struct.error, ValueError) as e:
        raise FormatError("corrupt ELF: %s" % e)
    finally:
        fa.close()
        fb.close()
    return {"compared": compared, "differ": differ, "skipped": skipped,
            "skipped_no_bytes_in_image": skipped_image}


# --------------------------------------------------------------------------
# diff

def diff(a, b, limit=decompress.DEFAULT_LIMIT):
    """Compare two kernels (any formats). Returns a report dict.

    ``report['identical']`` is True when the files, or the kernels inside
    them, are byte-identical.
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
                _diff_elf(pa, pb, rep)
            else:
                _diff_raw(pa, pb, rep)
    rep["explanation"] = explain(rep)
    return rep


def _diff_raw(pa, pb, rep):
    with open(pa, "rb") as f:
        da = f.read()
    with open(pb, "rb") as f:
        db = f.read()
    first = next((i for i, (x, y) in enumerate(zip(da, db)) if x != y), min(len(da), len(db)))
    ndiff = sum(1 for x, y in zip(da, db) if x != y) + abs(len(da) - len(db))
    rep["raw"] = {"size_a": len(da), "size_b": len(db), "first_difference": first,
                  "bytes_differing": ndiff}
    rep["strings"] = _diff_strings([da], [db])


def _diff_elf(pa, pb, rep):
    fa, ea = _open_elf(pa)
    fb, eb = _open_elf(pb)
    try:
        sa, sb = _section_digests(ea), _section_digests(eb)
        differ = [{"name": n, "size_a": sa[n][0], "size_b": sb[n][0]}
                  for n in sa if n in sb and sa[n] != sb[n]]
        rep["sections"] = {"differ": differ,
                           "only_a": [n for n in sa if n not in sb],
                           "only_b": [n for n in sb if n not in sa],
                           "same": sum(1 for n in sa if n in sb and sa[n] == sb[n])}
        rep["symbols"] = _diff_symbols(ea, eb)
        rep["strings"] = _diff_strings(_string_data(ea), _string_data(eb))
        rep["btf"] = _diff_btf(ea, eb)
        rep["kallsyms"] = _diff_kallsyms(ea, eb)
    except (ELFError, struct.error, ValueError) as e:
        raise FormatError("corrupt ELF: %s" % e)
    finally:
        fa.close()
        fb.close()


def _symbols(elf):
    st = elf.get_section_by_name(".symtab")
    if st is None:
        return None
    out = {}
    for sym in st.iter_symbols():
        if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") \
                and sym["st_shndx"] != "SHN_UNDEF":
            out.setdefault(sym.name, sym["st_value"])
    return out


def _diff_symbols(ea, eb):
    a, b = _symbols(ea), _symbols(eb)
    if a is None or b is None:
        return {"available": False}
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    moved = sorted(((n, a[n], b[n]) for n in a if n in b and a[n] != b[n]),
                   key=lambda t: (abs(t[2] - t[1]), t[0]), reverse=True)
    deltas = collections.Counter(t[2] - t[1] for t in moved)
    return {"available": True, "count_a": len(a), "count_b": len(b),
            "added": added[:MAX_LIST], "added_count": len(added),
            "removed": removed[:MAX_LIST], "removed_count": len(removed),
            "moved": [{"name": n, "a": "0x%x" % x, "b": "0x%x" % y, "delta": y - x}
                      for n, x, y in moved[:MAX_LIST]],
            "moved_count": len(moved),
            "common_deltas": [{"delta": d, "count": c} for d, c in deltas.most_common(3)]}


def _string_data(elf):
    out = []
    for name in STRING_SECTIONS:
        s = elf.get_section_by_name(name)
        if s is not None and s["sh_type"] != "SHT_NOBITS":
            out.append(s.data())
    return out


def _strings_of(blobs):
    banners, dates, userhosts, paths = set(), set(), set(), set()
    for data in blobs:
        for m in BANNER_RE.finditer(data):
            banner = m.group(0).split(b"\0")[0].rstrip(b"\n")
            banners.add(banner)
            for u in USERHOST_RE.finditer(banner):
                userhosts.add(u.group(1))
        for m in DATE_RE.finditer(data):
            dates.add(m.group(0))
        for m in PATH_RE.finditer(data):
            paths.add(m.group(0))
    dec = lambda s: sorted(x.decode("utf-8", "replace") for x in s)  # noqa: E731
    return {"banner": dec(banners), "dates": dec(dates), "user_host": dec(userhosts),
            "paths": paths}


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


def _diff_strings(blobs_a, blobs_b):
    sa, sb = _strings_of(blobs_a), _strings_of(blobs_b)
    out = {}
    for key in ("banner", "dates", "user_host"):
        if sa[key] != sb[key]:
            out[key] = {"a": sa[key][:MAX_LIST], "b": sb[key][:MAX_LIST]}
    pa, pb = sa["paths"] - sb["paths"], sb["paths"] - sa["paths"]
    if pa or pb:
        out["paths"] = {"only_a_count": len(pa), "only_b_count": len(pb),
                        "roots_a": _path_roots(pa), "roots_b": _path_roots(pb),
                        "examples_a": sorted(x.decode("utf-8", "replace") for x in pa)[:5],
                        "examples_b": sorted(x.decode("utf-8", "replace") for x in pb)[:5]}
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
            "strings_sorted_digest": hashlib.sha256(b"\0".join(sorted(strs.split(b"\0")))).hexdigest()}


def _diff_btf(ea, eb):
    a, b = ea.get_section_by_name(".BTF"), eb.get_section_by_name(".BTF")
    if a is None and b is None:
        return {"present": False}
    if a is None or b is None:
        return {"present": True, "only_in": "a" if b is None else "b"}
    da, db = a.data(), b.data()
    if da == db:
        return {"present": True, "identical": True}
    try:
        pa, pb = parse_btf(da), parse_btf(db)
    except (FormatError, struct.error) as e:
        return {"present": True, "identical": False, "error": str(e)}
    same_names = pa["strings_sorted_digest"] == pb["strings_sorted_digest"]
    same_content = same_names and pa["types"] == pb["types"] and pa["kinds"] == pb["kinds"]
    return {"present": True, "identical": False, "a": {k: pa[k] for k in ("types", "type_len", "str_len")},
            "b": {k: pb[k] for k in ("types", "type_len", "str_len")},
            "same_types_and_names": same_content, "same_names": same_names}


def _sym_value(elf, name, size=4):
    st = elf.get_section_by_name(".symtab")
    if st is None:
        return None
    syms = st.get_symbol_by_name(name)
    if not syms:
        return None
    sym = syms[0]
    if not isinstance(sym["st_shndx"], int):
        return None
    sec = elf.get_section(sym["st_shndx"])
    if sec["sh_type"] == "SHT_NOBITS":
        return None
    off = sym["st_value"] - sec["sh_addr"]
    data = sec.data()[off:off + size]
    if len(data) < size:
        return None
    return int.from_bytes(data, "little" if elf.little_endian else "big")


def _kallsyms(elf):
    st = elf.get_section_by_name(".symtab")
    if st is None:
        return None
    out = {"num_syms": _sym_value(elf, "kallsyms_num_syms")}
    for name in ("kallsyms_names", "kallsyms_offsets", "kallsyms_addresses",
                 "kallsyms_token_table", "kallsyms_markers"):
        syms = st.get_symbol_by_name(name)
        if syms:
            out[name + "_addr"] = syms[0]["st_value"]
    return out


def _diff_kallsyms(ea, eb):
    a, b = _kallsyms(ea), _kallsyms(eb)
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
        out.append("%d section(s) differ: %s%s" % (len(names), ", ".join(names[:12]),
                                                   " ..." if len(names) > 12 else ""))
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
