# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Find the kernel sstate objects of one compile that hold different kernels.

A shared SSTATE_DIR or SSTATE_MIRRORS filled before this layer was enabled
may hold, for one kernel compile (one do_compile task hash), a do_deploy
object from one run of that compile and do_package / do_packagedata /
do_package_write_rpm objects from another: a kernel that is not
bit-for-bit reproducible then deploys a bzImage whose build-id is not the
packaged debug vmlinux's, and sstate never replaces an object, so every
build restoring them ships the mismatch. ``audit`` finds them:

1. the cache's object names (OE-Core's SSTATE_PKGSPEC layout
   ``<2 hex>/<2 hex>/sstate:<pn>:<arch>:<pv>:<pr>:<pkgarch>:<ver>:<unihash>_<task>.tar.zst``,
   also under ``universal/``): a directory walk, a file:// URL, or for an
   http(s) mirror a list of names (``index``) or its autoindex pages;
2. which recipes are kernels: ``pns``, else the recipes whose do_deploy (or
   do_package) signature has kernel.bbclass's KERNEL_IMAGETYPE(S) among its
   variables;
3. the compile each object of the kernel group (sstategroup.DEFAULT_GROUP)
   was built from: the ``.siginfo`` beside it (BitBake's siggen
   ``dump_sigtask``: zstd-compressed JSON naming the unihash of every task
   it depends on, ``runtaskhashes``) followed, through the siginfo of the
   recipe's other tasks in the cache, to the do_compile hash, or to the
   do_install hash where do_install's own siginfo is not there. An object
   without a readable siginfo (missing, or BitBake's old pickle format,
   which is never unpickled: it could run code) is grouped by name
   instead (PN, arch, PV, PR), and the group says so;
4. the build-ids the objects hold (artifacts' bounded readers): the
   layer's ``*.buildid`` records when the object has them, else the kernel
   files themselves (bzImage, vmlinux, the kernel rpms in it);
5. a group is **mixed** when its objects hold more than one build-id: it
   names each build-id with its objects, and the objects to delete (every
   object of the group, with its .siginfo: the next build then compiles
   the kernel once for all of them).

``delete`` removes the objects of the mixed groups from local caches only.
Everything read is bounded by ``limit`` (--max-size); a hostile object is
one KernelReproError line.
"""

import json
import os
import re
import shutil
import tempfile

from . import artifacts, decompress, sstategroup
from .errors import FormatError, KernelReproError, printable

#: the tasks whose objects make one kernel group (read, compared, deleted together)
GROUP_TASKS = tuple(t[3:] for t in sstategroup.DEFAULT_GROUP)
#: a siginfo's JSON, decompressed, at most (a kernel's do_package one is ~200 KiB)
SIGINFO_MAX = 64 << 20
#: an autoindex page, at most
PAGE_MAX = 16 << 20
#: autoindex pages read while crawling a mirror, at most (256 * 256 + 257 + universal/)
PAGES_MAX = 2 * (1 + 256 + 256 * 256)
#: variables of kernel.bbclass one of which a kernel recipe's do_deploy or
#: do_package signature has (KERNEL_IMAGETYPES in do_deploy, KERNEL_IMAGETYPE
#: in do_package; the layer adds KERNEL_IMAGETYPE to do_deploy too)
KERNEL_VARS = ("KERNEL_IMAGETYPE", "KERNEL_IMAGETYPES", "KERNEL_IMAGEDEST")
_HEX2 = re.compile(r"^[0-9a-f]{2}$")
_HREF = re.compile(rb"""href\s*=\s*["']([^"'#?]+)["']""", re.I)


# ---------------------------------------------------------------- sources

def is_url(text):
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text))


def _file_url_path(url):
    from urllib.parse import unquote, urlsplit
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise KernelReproError("%s: a file:// URL of another host; only local ones can be read"
                               % printable(url))
    return unquote(parts.path)


def _relative(name, where):
    """A name from an index or a listing as a path below the cache ('ab/cd/sstate:...')."""
    name = name.strip()
    if name.startswith("./"):
        name = name[2:]
    parts = name.split("/")
    if name.startswith("/") or is_url(name) or ".." in parts or "" in parts or "\0" in name:
        raise FormatError("%s: %s is not a path below the cache" % (where, printable(name)))
    if len(parts) == 1:
        fields = artifacts.sstate_name(_object_name(name))
        if fields:      # a bare name: where OE-Core puts it (generate_sstatefn)
            return "%s/%s/%s" % (fields["hash"][:2], fields["hash"][2:4], name)
    return name


def _object_name(rel):
    return rel[:-len(".siginfo")] if rel.endswith(".siginfo") else rel


class Source:
    """One SSTATE_DIR or mirror: ``files`` (paths below it, '/'-separated),
    ``local`` (a directory: objects may be deleted there) and ``path(rel)``
    (a local path of the file, fetched first from an http mirror)."""

    def __init__(self, where, limit, tmp, index=None):
        self.where, self.limit, self.tmp = where, limit, tmp
        self.url = where if is_url(where) else None
        scheme = self.url.split(":", 1)[0].lower() if self.url else None
        if scheme == "file":
            self.root = _file_url_path(self.url)
        elif scheme in ("http", "https"):
            self.root = None
        elif scheme:
            raise KernelReproError("%s: only a directory, file://, http:// or https:// URLs"
                                   % printable(where))
        else:
            self.root = where
        self.local = self.url is None
        if self.root is not None:
            if not os.path.isdir(self.root):
                raise KernelReproError("%s: not a directory (an SSTATE_DIR)" % printable(where))
            self.files = _walk(self.root) if index is None else _read_index(index)
        else:
            self.base = self.url.rstrip("/") + "/"
            self.files = _read_index(index) if index is not None else self._crawl()
        self._fetched = {}

    def label(self, rel):
        return (self.base + rel) if self.root is None else os.path.join(self.root, rel)

    def path(self, rel):
        """A local path of ``rel``, or None when a mirror answers 404."""
        if self.root is not None:
            return os.path.join(self.root, rel)
        if rel not in self._fetched:
            dest = os.path.join(self.tmp, "fetched", rel.replace("/", "_"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            self._fetched[rel] = dest if self._get(rel, dest, self.limit) else None
        return self._fetched[rel]

    def _get(self, rel, dest, limit):
        from urllib.parse import quote
        from . import debuginfod
        url = self.base + quote(rel, safe="/:")
        clock = debuginfod._Clock(debuginfod.DEFAULT_TIMEOUT, None, None)
        too_big = "more than the %d-byte limit (--max-size, $KERNEL_REPRO_MAX_SIZE)" % limit
        try:
            with open(dest, "wb") as f:
                debuginfod._http(url, f, limit, too_big, clock, None, os.environ)
        except FileNotFoundError:
            os.unlink(dest)
            return False
        except KernelReproError as e:
            raise KernelReproError("%s: %s" % (printable(url), e)) from None
        except OSError as e:
            raise KernelReproError("%s: %s" % (printable(url), e.strerror or e)) from None
        return True

    def _crawl(self):
        """The sstate file names of an autoindex mirror: its <2 hex>/<2 hex>/
        pages (and universal/'s)."""
        from urllib.parse import unquote
        files, todo, pages = [], [""], 0
        while todo:
            rel = todo.pop()
            pages += 1
            if pages > PAGES_MAX:
                raise KernelReproError("%s: more than %d directory pages; give the object names "
                                       "with --index" % (printable(self.url), PAGES_MAX))
            dest = os.path.join(self.tmp, "page.html")
            if not self._get(rel, dest, PAGE_MAX):
                if not rel:
                    raise KernelReproError("%s: 404 Not Found" % printable(self.url))
                continue
            with open(dest, "rb") as f:
                page = f.read()
            comps = [c for c in rel.split("/") if c]
            hexes = comps[1:] if comps[:1] == ["universal"] else comps
            for href in _HREF.findall(page):
                name = unquote(href.decode("utf-8", "surrogateescape"))
                if "/" in name.rstrip("/") or name.startswith("."):
                    continue        # parent links, absolute links, sorting links
                d = name[:-1]
                if name.endswith("/") and ((d == "universal" and not comps) or
                                           (_HEX2.match(d) and len(hexes) < 2)):
                    todo.append(rel + name)
                elif name.startswith("sstate:") and len(hexes) == 2:
                    files.append(rel + name)
        return sorted(files)


def _walk(root):
    """The sstate file names below ``root``: regular files (or links to
    them; a FIFO is never opened, a directory link never entered)."""
    out, todo = [], [""]
    while todo:
        rel = todo.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                name = rel + e.name
                if e.is_dir(follow_symlinks=False):
                    todo.append(name + "/")
                elif e.name.startswith("sstate:") and e.is_file():
                    out.append(name)
    return sorted(out)


def _read_index(path):
    """Names (paths below the cache, or bare object names) one a line; '#' comments."""
    try:
        with open(path, "rb") as f:
            data = f.read(PAGE_MAX + 1)
    except OSError as e:
        raise KernelReproError("--index %s: %s" % (printable(path), e.strerror or e)) from None
    if len(data) > PAGE_MAX:
        raise KernelReproError("--index %s: more than %d bytes" % (printable(path), PAGE_MAX))
    out = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(_relative(line, "--index %s" % printable(path)))
    return sorted(set(out))


# ---------------------------------------------------------------- siginfo

def read_siginfo(path, limit=None):
    """The parts of a BitBake siginfo file the audit uses: {'task',
    'taskhash', 'unihash', 'runtaskhashes': {dep: unihash}}; None when it is
    in BitBake's old pickle format (not unpickled: unpickling runs code).
    Read bounded (SIGINFO_MAX); a corrupt one: FormatError, one line."""
    label = printable(path)
    budget = decompress.Budget(min(SIGINFO_MAX, limit or SIGINFO_MAX), label)
    with open(path, "rb") as f:
        head = f.read(16)
        method = decompress.detect(head)
        if method is None:
            if head[:1] == b"\x80":
                return None     # pickle protocol 2+
            data = head + f.read(SIGINFO_MAX + 1 - len(head))
            if len(data) > SIGINFO_MAX:
                raise FormatError("%s: siginfo larger than %d bytes" % (label, SIGINFO_MAX))
        else:
            f.seek(0)
            data = b"".join(decompress.stream(f, method, budget))
    if data[:1] == b"\x80":
        return None
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FormatError("%s: not a BitBake siginfo (not JSON)" % label) from None
    deps = d.get("runtaskhashes") if isinstance(d, dict) else None
    if not isinstance(deps, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in deps.items()):
        raise FormatError("%s: not a BitBake siginfo (no runtaskhashes)" % label)
    varvals = d.get("varvals")
    return {"task": d.get("task"), "taskhash": d.get("taskhash"), "unihash": d.get("unihash"),
            "runtaskhashes": deps,
            "kernel": isinstance(varvals, dict) and any(v in varvals for v in KERNEL_VARS)}


# ---------------------------------------------------------------- audit

class _Object:
    def __init__(self, source, rel, fields):
        self.source, self.rel, self.fields = source, rel, fields
        self.task = "do_" + fields["task"]
        self.siginfo = None         # its parsed siginfo, or None
        self.key = None             # ("do_compile" | "do_install", hash) or None
        self.build_ids = {}         # member label -> build-id
        self.read = False
        self.has_siginfo = False

    @property
    def label(self):
        return self.source.label(self.rel)


def audit(places, pns=None, limit=None, index=None, progress=None):
    """Audit the sstate caches ``places`` (directories, file:// or http(s)
    URLs) -> a report (plain data, see format_report):

    {"sources": [...], "recipes": [pn...], "objects": n read,
     "groups": [{"pn", "basis": "do_compile"|"do_install"|"name", "key",
                 "objects": [{"path", "task", "source", "local", "build_ids"}],
                 "build_ids": {id: [paths]}, "mixed": bool, "delete": [paths]}],
     "notes": [...], "mixed": n}

    ``pns``: the kernel recipes (default: told by their signatures);
    ``index``: a file naming the objects of the (one) URL given, instead of
    crawling it; ``progress(done, total, name)``: called per object read;
    ``limit``: --max-size (default artifacts.default_limit())."""
    limit = artifacts.default_limit() if limit is None else limit
    tmp = tempfile.mkdtemp(prefix="kernel-repro-sstate-audit-")
    try:
        return _audit(places, pns, limit, index, progress, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _audit(places, pns, limit, index, progress, tmp):
    if index is not None and len(places) != 1:
        raise KernelReproError("--index names the objects of one cache: give one SSTATE_DIR or URL")
    notes = []
    sources = [Source(p, limit, tmp, index) for p in places]
    objects, siginfos = [], {}        # siginfos: unihash -> [(source, rel, pn)]
    for s in sources:
        names = set(s.files)
        for rel in s.files:
            if rel.endswith(".siginfo"):
                fields = artifacts.sstate_name(_object_name(rel))
                if fields:
                    siginfos.setdefault(fields["hash"], []).append((s, rel, fields["pn"]))
                continue
            fields = artifacts.sstate_name(rel)
            if fields and fields["task"] in GROUP_TASKS:
                o = _Object(s, rel, fields)
                o.has_siginfo = (rel + ".siginfo") in names
                objects.append(o)
    cache = {}

    def siginfo(source, rel):
        k = (id(source), rel)
        if k not in cache:
            p = source.path(rel)
            cache[k] = read_siginfo(p, limit) if p else None
        return cache[k]

    by_pn = {}
    for o in objects:
        by_pn.setdefault(o.fields["pn"], []).append(o)
    kernels = _kernel_recipes(by_pn, pns, siginfo, notes)
    objects = [o for o in objects if o.fields["pn"] in kernels]
    for o in objects:
        if o.has_siginfo:
            o.siginfo = siginfo(o.source, o.rel + ".siginfo")
        if o.siginfo is not None:
            o.key = _compile_of(o, siginfos, siginfo)

    groups = _groups(objects, notes)
    # packagedata first in each group: small, and it has the layer's record
    # when the group has any (then the others' records are read, else their
    # kernels straight away: one pass over each big object either way)
    order = {t: i for i, t in enumerate(("packagedata",) + GROUP_TASKS)}
    todo, hints = {}, {}
    for n, g in enumerate(groups):
        if len(g["members"]) > 1:
            for o in sorted(g["members"], key=lambda o: order[o.fields["task"]]):
                todo.setdefault(id(o), (o, n))
    todo = list(todo.values())
    for i, (o, n) in enumerate(todo):
        if progress:
            progress(i, len(todo), os.path.basename(o.rel))
        hints[n] = _read_build_ids(o, limit, os.path.join(tmp, "x"), hints.get(n, True))
    if progress and todo:
        progress(len(todo), len(todo), "")
    report = {"sources": [s.where for s in sources], "recipes": sorted(kernels),
              "objects": len(objects), "read": len(todo), "groups": [], "notes": notes}
    for g in groups:
        report["groups"].append(_group_report(g))
    report["mixed"] = sum(1 for g in report["groups"] if g["mixed"])
    return report


def _kernel_recipes(by_pn, pns, siginfo, notes):
    if pns:
        return set(pns) & set(by_pn)
    out, guessed = set(), []
    for pn, objs in sorted(by_pn.items()):
        ordered = sorted((o for o in objs if o.has_siginfo and o.fields["task"] in ("deploy", "package")),
                         key=lambda o: (o.fields["task"] != "deploy", o.rel))
        told = None
        for o in ordered[:2]:
            d = siginfo(o.source, o.rel + ".siginfo")
            if d is not None:
                told = told or d["kernel"]
        if told is None and (pn.startswith("linux-") or "kernel" in pn):
            told = True
            guessed.append(pn)
        if told:
            out.add(pn)
    if guessed:
        notes.append("no readable do_deploy/do_package siginfo for %s: taken as kernel "
                     "recipes by name" % ", ".join(guessed))
    return out


def _compile_of(o, siginfos, siginfo):
    """(task, hash) of the do_compile (else do_install) object ``o`` was
    built from, following the siginfo of its recipe's tasks in the caches."""
    pn = o.fields["pn"]
    seen, todo, install = set(), [o.siginfo], None
    while todo:
        d = todo.pop()
        for dep, h in sorted(d["runtaskhashes"].items()):
            task = dep.rpartition(":")[2]
            if task == "do_compile":
                return ("do_compile", h)
            if task == "do_install" and install is None:
                install = h
            if h in seen:
                continue
            seen.add(h)
            for source, rel, dpn in siginfos.get(h, ()):
                if dpn == pn:
                    nxt = siginfo(source, rel)
                    if nxt is not None:
                        todo.append(nxt)
                    break
    return ("do_install", install) if install else None


def _groups(objects, notes):
    linked, unlinked = {}, {}
    for o in objects:
        if o.key:
            linked.setdefault((o.fields["pn"],) + o.key, []).append(o)
        else:
            unlinked.setdefault((o.fields["pn"], o.fields["spec"]), []).append(o)
    groups = [{"pn": k[0], "basis": k[1], "key": k[2], "members": v}
              for k, v in sorted(linked.items())]
    for (pn, spec), objs in sorted(unlinked.items()):
        same = [o for o in objects if o.key and (o.fields["pn"], o.fields["spec"]) == (pn, spec)]
        groups.append({"pn": pn, "basis": "name", "key": spec, "members": objs + same})
        notes.append("%d %s object%s without a readable siginfo: grouped by name (%s), so "
                     "different build-ids there may also be different compiles"
                     % (len(objs), pn, "" if len(objs) == 1 else "s", spec))
    return groups


def _read_build_ids(o, limit, work, records_likely=True):
    """The build-ids ``o`` holds: its *.buildid records, else its kernel
    files. ``records_likely``: look for records alone first (else one pass
    reads records and kernels, and the records win). -> whether it had records."""
    path = o.source.path(o.rel)
    o.read = True
    if path is None:
        return records_likely
    shutil.rmtree(work, ignore_errors=True)
    try:
        if records_likely:
            o.build_ids = artifacts.sstate_record_ids(path, os.path.join(work, "r"), limit)
            if o.build_ids:
                return True
        ids = artifacts.sstate_kernel_ids(path, os.path.join(work, "k"), limit)
        records = {k: b for k, b in ids.items() if k.endswith(".buildid")}
        o.build_ids = records or ids
        return bool(records)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _group_report(g):
    by_id = {}
    objs = []
    for o in sorted(g["members"], key=lambda o: (GROUP_TASKS.index(o.fields["task"]), o.label)):
        ids = sorted(set(o.build_ids.values()))
        for b in ids:
            by_id.setdefault(b, []).append(o.label)
        objs.append({"path": o.label, "task": o.task, "source": o.source.where,
                     "local": o.source.local, "read": o.read, "build_ids": ids,
                     "members": dict(sorted(o.build_ids.items()))})
    mixed = len(by_id) > 1
    delete = []
    if mixed:
        for o in g["members"]:
            delete.append(o.label)
    return {"pn": g["pn"], "basis": g["basis"], "key": g["key"], "objects": objs,
            "build_ids": dict(sorted(by_id.items())), "mixed": mixed,
            "delete": sorted(set(delete))}


# ---------------------------------------------------------------- delete

def delete(report, log=None):
    """Remove the objects of every mixed group of ``report`` (with their
    .siginfo and stale mark) from the local caches -> the paths removed.
    An object of a URL source is never touched (KernelReproError: the caller
    refuses URLs before auditing). Only files named like sstate objects,
    directly in the audited cache, are unlinked (a link, not its target)."""
    if any(is_url(s) for s in report["sources"]):
        raise KernelReproError("--delete works on local SSTATE_DIRs only, not on URLs")
    roots = [os.path.realpath(s) for s in report["sources"]]
    removed = []
    for g in report["groups"]:
        if not g["mixed"]:
            continue
        for obj in g["delete"]:
            if not artifacts.sstate_name(obj) or not any(
                    os.path.realpath(os.path.dirname(obj)).startswith(r + os.sep) or
                    os.path.realpath(os.path.dirname(obj)) == r for r in roots):
                raise KernelReproError("refusing to delete %s: not an sstate object of the "
                                       "audited caches" % printable(obj))
            for p in (obj, obj + ".siginfo", obj + sstategroup.STALE_SUFFIX):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    raise KernelReproError("cannot delete %s: %s" % (printable(p), e.strerror or e)) from None
                removed.append(p)
                if log:
                    log(p)
    return removed


# ---------------------------------------------------------------- text

def format_report(report):
    """The report as lines of text (a summary line last)."""
    lines = []
    for g in report["groups"]:
        if not g["mixed"]:
            continue
        what = ("%s %s" % (g["basis"], g["key"][:16])) if g["basis"] != "name" else \
            "name %s (no siginfo)" % g["key"]
        lines.append("MIXED %s, %s: %d build-ids in one compile's objects"
                     % (g["pn"], what, len(g["build_ids"])))
        for bid, paths in g["build_ids"].items():
            tasks = [o["task"] for o in g["objects"] if bid in o["build_ids"]]
            lines.append("  build-id %s: %s" % (bid, " ".join(tasks)))
            for p in paths:
                lines.append("    %s" % printable(p))
        lines.append("  delete (all %d objects of the group, with their .siginfo):" % len(g["delete"]))
        for p in g["delete"]:
            lines.append("    %s" % printable(p))
    for n in report["notes"]:
        lines.append("note: " + n)
    n = len(report["groups"])
    clean = n - report["mixed"]
    if report["mixed"]:
        lines.append("%d of %d kernel compile groups MIXED (%d clean) in %s; %d objects read"
                     % (report["mixed"], n, clean, ", ".join(map(printable, report["sources"])),
                        report["read"]))
    else:
        lines.append("clean: %d kernel compile group%s (%s), %d objects, %d read; no compile's "
                     "objects hold different kernels"
                     % (n, "" if n == 1 else "s", ", ".join(report["recipes"]) or "no kernel recipe",
                        report["objects"], report["read"]))
    return lines
