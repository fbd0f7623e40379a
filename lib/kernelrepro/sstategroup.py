# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Restore a kernel's binary-carrying sstate objects all together or not at all.

A kernel recipe ships one compile through several shared-state objects
(do_deploy, do_package, do_packagedata, do_package_write_*, do_create_spdx).
BitBake decides each one separately through BB_HASHCHECK_FUNCTION; when some
are found and others are not, the found ones are restored and the kernel is
compiled again for the missing ones, so a non-reproducible kernel ends up
with a deployed image and debug symbols from two different compiles.

This module decides, from plain values, which "found" objects must be
ignored so that every kernel recipe's group is restored whole or rebuilt
whole:

* task ids ("tids") are BitBake's: ``[mc:<mc>:][virtual:<x>:]/path/r.bb:do_task``;
* ``queried`` is the set of tids BitBake asked about in one call, ``found``
  the subset OE-Core's ``sstate_checkhashes`` found (locally or on a mirror);
* BitBake asks about *subsets* of the tasks (bitbake/lib/bb/runqueue.py:
  the setscene start, deferred tasks, hash-equivalence rehashes), so the
  siblings of a queried member that are not in the query are looked up by
  the caller (``plan_sibling_lookup`` says which) and passed back in.

``checkhashes_with_groups`` is the thin adapter the class calls; it takes the
wrapped OE-Core function, the datastore and BitBake's signature generator as
arguments so that it can be tested without BitBake.
"""

import collections
import os

__all__ = [
    "DEFAULT_GROUP",
    "parse_group",
    "split_tid",
    "mc_of",
    "group_index",
    "plan_sibling_lookup",
    "decide",
    "Decision",
    "checkhashes_with_groups",
    "summary_correction",
    "STALE_SUFFIX",
    "is_marked_stale",
    "mark_stale",
    "clear_stale",
    "STALE_INDEX",
    "stale_index",
    "listed_stale",
]

#: The tasks of a kernel recipe whose sstate objects carry the compiled
#: kernel (or data derived from its bytes). Why these and not others
#: (OE-Core master, meta/classes-recipe/kernel.bbclass and classes-global):
#:
#: - do_deploy: bzImage/vmlinux etc. into DEPLOY_DIR_IMAGE (deploy.bbclass).
#: - do_package: PKGD/PKGDEST incl. /boot/vmlinux-*, the split debug files.
#: - do_packagedata: pkgdata (file lists, sizes, and our build-id record).
#: - do_package_write_{rpm,ipk,deb}: kernel-image-*, kernel-vmlinux, kernel-dbg.
#: - do_create_spdx, do_create_package_spdx (SPDX 3.0, master) and
#:   do_create_runtime_spdx (SPDX 2.2, scarthgap): the SBOM records checksums
#:   of the packaged files, so a restored SBOM of another compile would lie.
#:
#: Left out on purpose: do_populate_sysroot (kernel.bbclass sets
#: SYSROOT_DIRS = "": it carries no kernel binary), do_shared_workdir (its
#: setscene always fails, kernel.bbclass do_shared_workdir_setscene: exit 1,
#: so it is always made from the local compile), do_populate_lic,
#: do_deploy_source_date_epoch, do_recipe_qa, do_create_recipe_spdx,
#: do_package_qa (inputs or QA results, not compile outputs). Tasks that a
#: build does not define (do_package_write_ipk without package_ipk) are
#: simply absent from BitBake's task graph and ignored.
DEFAULT_GROUP = (
    "do_deploy",
    "do_package",
    "do_packagedata",
    "do_package_write_rpm",
    "do_package_write_ipk",
    "do_package_write_deb",
    "do_create_spdx",
    "do_create_package_spdx",
    "do_create_runtime_spdx",
)


def parse_group(value, default=DEFAULT_GROUP):
    """KERNEL_REPRO_SSTATE_GROUP's value -> a frozenset of task names.

    Words may be given with or without the ``do_`` prefix; an empty or None
    value means ``default``.
    """
    words = (value or "").split()
    if not words:
        words = list(default)
    return frozenset(w if w.startswith("do_") else "do_" + w for w in words)


def split_tid(tid):
    """``mc:x:/p/r.bb:do_task`` -> (``mc:x:/p/r.bb``, ``do_task``)."""
    mcfn, _, task = tid.rpartition(":")
    if not mcfn:
        raise ValueError("not a BitBake task id: %r" % (tid,))
    return mcfn, task


def mc_of(mcfn):
    """The multiconfig name of a (mc-prefixed) recipe file name, '' for the default."""
    if mcfn.startswith("mc:"):
        parts = mcfn.split(":", 2)
        if len(parts) == 3:
            return parts[1]
    return ""


def group_index(tids, group, is_group_recipe):
    """Map each group recipe (mcfn) to the group tids of it among ``tids``.

    ``is_group_recipe(mcfn) -> bool`` says whether a recipe is a kernel; it is
    called at most once per recipe that has a task named like a group member.
    Runs over thousands of tids: a C-level suffix test per tid, string work
    only for the few that end like a group task.
    """
    index = {}
    verdict = {}
    suffixes = tuple(":" + t for t in group)
    for tid in tids:
        if not tid.endswith(suffixes):
            continue
        mcfn = tid.rpartition(":")[0]
        ok = verdict.get(mcfn)
        if ok is None:
            ok = verdict[mcfn] = bool(is_group_recipe(mcfn))
        if ok:
            index.setdefault(mcfn, set()).add(tid)
    return index


def _members_of(mcfn, group, known):
    """The group tids of ``mcfn`` that BitBake knows in this build."""
    return {mcfn + ":" + t for t in group if (mcfn + ":" + t) in known}


def plan_sibling_lookup(queried, found, group, is_group_recipe, known, index=None):
    """Which sibling tids (not in ``queried``) must be looked up in sstate.

    Only recipes with at least one *found* queried member need their
    siblings checked, and only when no queried member is already missing
    (then the group is partial whatever the siblings are).
    ``known`` is the set (or mapping) of tids that have a hash in this build
    (BitBake's task graph); siblings outside it are not part of this build.
    """
    if index is None:
        index = group_index(queried, group, is_group_recipe)
    todo = set()
    for mcfn, tids in index.items():
        if not (tids & found):
            continue
        if tids - found:
            continue
        todo |= _members_of(mcfn, group, known) - tids
    return todo


class Decision(collections.namedtuple("Decision", "found dropped")):
    """found: the tids to report as found.
    dropped: {mcfn: (sorted missing member tids, sorted dropped found tids)}.

    A class statement, not a bare namedtuple: BitBake reads the source of
    every public callable of a BBIMPORTS module (inspect.getsourcelines),
    and a namedtuple made by a call has none -- parsing failed for every
    build with the layer added."""
    __slots__ = ()


def decide(queried, found, group, is_group_recipe, known, sibling_found=(), index=None):
    """Remove partial kernel groups from ``found``.

    queried        -- tids BitBake asked about (a subset of the build's tasks)
    found          -- tids among them whose object exists (local or mirror)
    group          -- task names of the group (``parse_group``)
    is_group_recipe-- mcfn -> bool: is this recipe a kernel
    known          -- tids that have a hash in this build (set or mapping)
    sibling_found  -- tids among ``plan_sibling_lookup(...)`` whose object exists

    A group member in ``known`` counts as present when it is found in the
    query or in ``sibling_found``; if any member of a recipe is absent, every
    member of that recipe is removed from the result. Non-group tasks and
    non-kernel recipes pass through untouched. Returns a ``Decision``.
    """
    if index is None:
        index = group_index(queried, group, is_group_recipe)
    sibling_found = set(sibling_found)
    dropped = {}
    result = found
    for mcfn, tids in index.items():
        hit = tids & found
        if not hit:
            continue
        members = _members_of(mcfn, group, known) | tids
        present = (members & found) | (members & sibling_found)
        missing = members - present
        if missing:
            if result is found:
                result = set(found)  # copy only when something is dropped
            result -= hit
            dropped[mcfn] = (sorted(missing), sorted(hit))
    return Decision(result, dropped)


# --------------------------------------------------------------------------
# Adapter: called from the class's BB_HASHCHECK_FUNCTION wrapper, in the
# BitBake server process. Takes its collaborators as arguments (no bb import).

def _is_kernel_recipe_from(siggen, fallback_pns):
    """mcfn -> bool, from the recipe cache's inherit list (kernel.bbclass)."""
    caches = getattr(siggen, "datacaches", None) or {}
    tidtopn = getattr(siggen, "tidtopn", None) or {}

    def is_kernel(mcfn):
        cache = caches.get(mc_of(mcfn))
        inherits = getattr(cache, "inherits", None) if cache is not None else None
        if inherits is not None and mcfn in inherits:
            for path in inherits[mcfn] or ():
                if path.endswith("/kernel.bbclass") or path == "kernel.bbclass" \
                        or path == "classes/kernel.bbclass":
                    return True
            return False
        # No recipe cache (should not happen inside a runqueue): fall back
        # to the PN of any task of this recipe.
        for t, pn in tidtopn.items():
            if t.rpartition(":")[0] == mcfn:
                return pn in fallback_pns
        return False

    return is_kernel


def _hash_of(siggen, tid):
    """(taskhash, unihash) BitBake holds for ``tid``, or None when unknown."""
    taskhash = getattr(siggen, "taskhash", {}).get(tid)
    if taskhash is None:
        return None
    unihash = getattr(siggen, "unihash", {}).get(tid) or taskhash
    return taskhash, unihash


class _KnownTids(object):
    """``tid in known`` <=> BitBake's siggen has a task hash for it."""

    def __init__(self, siggen):
        self._taskhash = getattr(siggen, "taskhash", {})

    def __contains__(self, tid):
        return tid in self._taskhash


#: A refused local object gets an empty file of this name beside it. Every
#: build sharing the SSTATE_DIR then takes the object as missing (so an
#: interrupted rebuild leaves a missing member, never a complete-looking
#: mixed group), until the task that really runs replaces the object
#: atomically and removes the mark (the class's SSTATEPOSTCREATEFUNCS hook).
STALE_SUFFIX = ".kernel-repro-stale"


#: Directory in SSTATE_DIR naming every object marked stale that is not a
#: kernel group member (an image's, a module's): one listdir tells a build
#: whether any such object exists, so the common case costs no stat per task.
STALE_INDEX = ".kernel-repro-stale"


def stale_index(sstate_dir):
    return os.path.join(sstate_dir, STALE_INDEX)


def is_marked_stale(obj):
    return os.path.lexists(obj + STALE_SUFFIX)


def mark_stale(obj, index_dir=None):
    """Mark sstate object ``obj`` stale; None, or the OSError text (best effort:
    a read-only or foreign cache is left as it is, as OE-Core does).
    ``index_dir``: also list it there (objects outside a kernel group)."""
    try:
        with open(obj + STALE_SUFFIX, "a"):
            pass
        if index_dir:
            os.makedirs(index_dir, exist_ok=True)
            with open(os.path.join(index_dir, os.path.basename(obj)), "a"):
                pass
    except OSError as e:
        return "%s: %s" % (obj + STALE_SUFFIX, e.strerror or e)
    return None


def clear_stale(obj, index_dir=None):
    try:
        os.unlink(obj + STALE_SUFFIX)
        if index_dir:
            try:
                os.unlink(os.path.join(index_dir, os.path.basename(obj)))
            except FileNotFoundError:
                pass
    except FileNotFoundError:
        pass
    except OSError as e:
        return "%s: %s" % (obj + STALE_SUFFIX, e.strerror or e)
    return None


def listed_stale(index_dir):
    """Names of the objects listed in ``index_dir`` (empty when none)."""
    if not index_dir:
        return frozenset()
    try:
        return frozenset(os.listdir(index_dir))
    except OSError:
        return frozenset()


def _lookup_siblings(orig, sub, d, siggen, **kwargs):
    """``orig`` on sibling tids BitBake did not ask about: no summary line,
    and without the signature generator's ``checkhashes`` hook.

    That hook (OE-Core's SignatureGeneratorOEBasicHashMixIn.checkhashes,
    meta/lib/oe/sstatesig.py) judges locked signatures against the found /
    missed sets of the build's query: run for our private lookup it would
    repeat its warnings, or fail the build (SIGGEN_LOCKEDSIGS_TASKSIG_CHECK
    = "error") over tasks the build never asked for. sstate_checkhashes
    calls it only when ``hasattr(bb.parse.siggen, "checkhashes")``; an
    instance attribute of None is not callable, so shadow it with a no-op
    for the one call and remove the shadow afterwards.
    """
    quiet = hasattr(siggen, "checkhashes") and "checkhashes" not in getattr(siggen, "__dict__", {})
    if quiet:
        siggen.checkhashes = lambda *a, **kw: None
    try:
        return set(orig(sub, d, siginfo=False, currentcount=0, summary=False, **kwargs))
    finally:
        if quiet:
            del siggen.checkhashes


def summary_correction(queried, found, kept):
    """The line that corrects OE-Core's "Sstate summary" (printed before the
    groups were decided) -> str, or None when nothing found was refused."""
    refused = (set(found) & set(queried)) - set(kept)
    if not refused:
        return None
    return ("kernel-repro: of those found, %d %s not restored (partial kernel sstate "
            "group): %d of %d wanted restored from sstate"
            % (len(refused), "is" if len(refused) == 1 else "are",
               len(set(kept) & set(queried)), len(queried)))


def checkhashes_with_groups(orig, sq_data, d, siggen, siginfo=False, currentcount=0,
                            summary=True, log=None, local_path=None, plain=None,
                            index_dir=None, read_only=False, enforced=False, fetch=None,
                            warn=None, **kwargs):
    """Call ``orig`` (OE-Core's sstate_checkhashes), then drop partial groups.

    orig       -- the wrapped hash check function, same signature
    sq_data    -- BitBake's dict of 'hash', 'hashfn', 'unihash' keyed by tid
    d          -- the datastore (reads KERNEL_REPRO_SSTATE_GROUP,
                  PREFERRED_PROVIDER_virtual/kernel)
    siggen     -- bb.parse.siggen: its taskhash/unihash dicts hold the hashes
                  of all tasks of the build, not only the queried ones
    log        -- callable(str) for the one-line note per dropped group
    local_path -- callable(tid, sq_data) -> the path of tid's object in the
                  local SSTATE_DIR (or None): a local group object marked
                  stale counts as missing, and the found local objects of a
                  dropped group are marked stale (``mark_stale``)
    plain      -- callable(str) for the correction of the "Sstate summary"
                  line (``summary_correction``), printed when ``summary``
    index_dir  -- ``stale_index(SSTATE_DIR)``: objects outside kernel groups
                  listed there and marked stale count as missing; consumers
                  of a rebuilt kernel (``imageguard.downstream``) found here
                  are not restored and are marked stale
    read_only  -- this build creates no sstate objects (SSTATE_SKIP_CREATION):
                  marks are read but none is written -- a mark is cleared
                  only when the fresh object replaces the refused one, which
                  such a build never does, so every builder sharing the cache
                  would refuse the group for ever
    enforced   -- BB_SETSCENE_ENFORCE: a dropped group makes BitBake stop with
                  its generic "attempted to execute unexpectedly"; each
                  dropped-group line says so (``log`` should then be an error)
    fetch      -- callable(tid, sq_data) -> None when tid's object is in the
                  local SSTATE_DIR (already, or fetched now from a mirror),
                  else a one-line reason. Called for every member of every
                  group about to be restored (``prefetch_group``): OE-Core's
                  check only asks a mirror whether an object exists, and a
                  member whose download fails later, in its setscene task,
                  runs for real beside restored siblings -- two compiles
    warn       -- callable(str) for the line naming an object a mirror did
                  not serve (default ``log``): the mirror needs looking at
    """
    found = orig(sq_data, d, siginfo=siginfo, currentcount=currentcount,
                 summary=summary, **kwargs)
    if siginfo:
        # siginfo lookups serve `bitbake -S printdiff`, not restoration.
        return found

    queried = sq_data["hash"]
    group = parse_group(d.getVar("KERNEL_REPRO_SSTATE_GROUP"))
    fallback = set((d.getVar("PREFERRED_PROVIDER_virtual/kernel") or "").split())
    is_kernel = _is_kernel_recipe_from(siggen, fallback)
    known = _KnownTids(siggen)

    if not isinstance(found, (set, frozenset)):
        found = set(found)
    reported = found  # what OE-Core's "Sstate summary" line counted
    listed = listed_stale(index_dir) if local_path is not None else frozenset()
    if listed:
        refused = set()
        for tid in found:
            path = local_path(tid, sq_data)
            if path and os.path.basename(path) in listed and is_marked_stale(path):
                refused.add(tid)
        if refused:
            found = found - refused
            if log is not None:
                for tid in sorted(refused):
                    log("kernel-repro: %s: not restoring %s from sstate: its object is marked "
                        "stale (it holds a kernel from another compile); it is rebuilt"
                        % split_tid(tid))
    index = group_index(queried, group, is_kernel)
    if not index:
        if summary and plain is not None:
            line = summary_correction(queried, reported, found)
            if line:
                plain(line)
        return found

    def without_stale(tids, data):
        if local_path is None:
            return tids
        stale = set()
        for tid in tids:
            path = local_path(tid, data)
            if path and is_marked_stale(path) and os.path.exists(path):
                stale.add(tid)
        return tids - stale if stale else tids

    group_tids = set().union(*index.values())
    found_group = without_stale(found & group_tids, sq_data)
    if found_group != (found & group_tids):
        found = (found - group_tids) | found_group

    todo = plan_sibling_lookup(queried, found, group, is_kernel, known, index)
    sibling_found = set()
    sub = {"hash": {}, "hashfn": {}, "unihash": {}}
    if todo:
        hashfn_of = {}
        for tid in queried:
            hashfn_of.setdefault(tid.rpartition(":")[0], sq_data["hashfn"][tid])
        for tid in todo:
            hashes = _hash_of(siggen, tid)
            hashfn = hashfn_of.get(tid.rpartition(":")[0])
            if hashes is None or hashfn is None:
                continue
            sub["hash"][tid], sub["unihash"][tid] = hashes
            sub["hashfn"][tid] = hashfn
        if sub["hash"]:
            sibling_found = without_stale(_lookup_siblings(orig, sub, d, siggen, **kwargs), sub)

    decision = decide(queried, found, group, is_kernel, known, sibling_found, index)
    failed = {}
    if fetch is not None:
        failed = prefetch_group(decision.found | sibling_found, index, group, known,
                                {k: dict(sq_data[k], **sub[k]) for k in sub}, fetch)
        if failed:
            found, sibling_found = found - set(failed), sibling_found - set(failed)
            decision = decide(queried, found, group, is_kernel, known, sibling_found, index)
    # A kernel whose group is (partly) rebuilt here compiles again: objects
    # of tasks that depend on its group (an image's rootfs, a FIT image, a
    # module's packages) hold the old compile and are not restored either.
    kept = decision.found
    rebuilt = sorted(m for m, tids in index.items() if tids - kept)
    consumers = {}
    runtaskdeps = getattr(siggen, "runtaskdeps", None)
    if rebuilt and runtaskdeps and kept:
        from . import imageguard
        sources = set()
        for mcfn in rebuilt:
            sources |= _members_of(mcfn, group, known) | index[mcfn]
        hit = kept & imageguard.downstream(sources, runtaskdeps)
        hit = {t for t in hit if t.rpartition(":")[0] not in index}
        if hit:
            kept = kept - hit
            for tid in hit:
                consumers.setdefault(tid.rpartition(":")[0], []).append(tid)
    marked = []
    problems = []
    if local_path is not None and not read_only:
        todo = [(tid, None) for _m, (_miss, hit) in sorted(decision.dropped.items()) for tid in hit]
        todo += [(tid, index_dir) for tids in consumers.values() for tid in tids]
        for tid, where in todo:
            path = local_path(tid, sq_data)
            if path and os.path.exists(path):
                err = mark_stale(path, where)
                if err:
                    problems.append(err)
                else:
                    marked.append(path)
    if log is not None:
        for tid, reason in sorted(failed.items()):
            (warn or log)(format_fetch_failed(tid, reason))
        for mcfn, (missing, dropped) in sorted(decision.dropped.items()):
            log(format_dropped(mcfn, missing, dropped, enforced))
        if read_only and local_path is not None and decision.dropped:
            log("kernel-repro: SSTATE_SKIP_CREATION: the refused objects are not marked stale "
                "(this build writes nothing to the cache); a builder that writes the cache "
                "replaces them when it rebuilds the kernel")
        for mcfn, tids in sorted(consumers.items()):
            log("kernel-repro: %s: not restoring %s from sstate: %s depend%s on the kernel "
                "rebuilt in this build (%s), so %s rebuilt from the new compile"
                % (mcfn, " ".join(sorted(split_tid(t)[1] for t in tids)),
                   "they" if len(tids) > 1 else "it", "" if len(tids) > 1 else "s",
                   " ".join(rebuilt), "they are" if len(tids) > 1 else "it is"))
        for err in problems:
            log("kernel-repro: cannot mark a refused sstate object stale (%s); "
                "it is replaced when its task has run, if the cache is writable" % err)
    if summary and plain is not None:
        line = summary_correction(queried, reported, kept)
        if line:
            plain(line)
    return kept


def prefetch_group(candidates, index, group, known, sq_data, fetch):
    """Bring every member of the groups about to be restored into the local
    SSTATE_DIR now, at the hash check -> {tid: reason} of those that could
    not be fetched (their groups are then dropped: built here together).

    candidates -- tids reported found (the query's and the siblings')
    index      -- {mcfn: group tids in the query} (``group_index``)
    A recipe is fetched only when all its group members in ``known`` are
    candidates (a partial group is dropped anyway); after the first failure
    of a recipe its other members are not fetched."""
    failed = {}
    for mcfn in sorted(index):
        members = _members_of(mcfn, group, known) | index[mcfn]
        if not members or not members <= candidates:
            continue
        for tid in sorted(members):
            reason = fetch(tid, sq_data) if tid in sq_data["unihash"] else None
            if reason:
                failed[tid] = reason
                break
    return failed


def format_fetch_failed(tid, reason):
    """One line naming the object a mirror listed but did not serve."""
    mcfn, task = split_tid(tid)
    return ("kernel-repro: %s: the sstate mirror listed the %s object at the hash check but "
            "did not serve it (%s): the whole group is built here, from one compile, instead "
            "of restoring the rest beside a rebuilt %s. Nothing needs cleaning; if this "
            "repeats, check the mirror (SSTATE_MIRRORS)" % (mcfn, task, reason, task))


def format_dropped(mcfn, missing, dropped, enforced=False):
    """One line telling the user why found kernel objects are not restored."""
    def names(tids):
        return " ".join(split_tid(t)[1] for t in tids)
    line = ("kernel-repro: %s: not restoring %s from sstate because %s of the same "
            "kernel group %s missing; the group is rebuilt from one compile"
            % (mcfn, names(dropped), names(missing),
               "is" if len(missing) == 1 else "are"))
    if enforced:
        line = line.replace("the group is rebuilt from one compile",
                            "with BB_SETSCENE_ENFORCE BitBake will stop with \"attempted to "
                            "execute unexpectedly\" for these tasks: restoring part of the "
                            "group would mix two compiles. Fill the cache with the whole group "
                            "(build the kernel where the cache is written) or let this build "
                            "compile the kernel (BB_SETSCENE_ENFORCE_IGNORE_TASKS)")
    return line
