# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Unit tests of the kernel sstate group decision (lib/kernelrepro/sstategroup.py).

Task sets mimic what bitbake/lib/bb/runqueue.py passes to
BB_HASHCHECK_FUNCTION: the whole setscene set at start, single deferred tasks
(sq_deferred), and subsets after hash-equivalence rehashes.
"""

import os
import re
import types

import pytest

from kernelrepro import sstategroup as sg

META = "/src/meta"
LY = META + "/recipes-kernel/linux/linux-yocto_6.18.bb"
RT = META + "/recipes-kernel/linux/linux-yocto-rt_6.18.bb"
MOD = META + "/recipes-kernel/hello-mod/hello-mod_0.1.bb"
BUSY = META + "/recipes-core/busybox/busybox_1.37.0.bb"
MC_LY = "mc:qemuarm:" + LY

KERNELS = {LY, RT, MC_LY}
GROUP = sg.parse_group(None)

SETSCENE = ["do_populate_sysroot", "do_populate_lic", "do_package", "do_packagedata",
            "do_package_write_rpm", "do_package_qa", "do_deploy_source_date_epoch",
            "do_create_spdx", "do_recipe_qa"]
KERNEL_EXTRA = ["do_deploy", "do_shared_workdir"]


def tids(fn, tasks):
    return {fn + ":" + t for t in tasks}


def kernel_tids(fn):
    return tids(fn, SETSCENE + KERNEL_EXTRA)


def is_kernel(mcfn):
    return mcfn in KERNELS


def all_tids():
    out = set()
    for fn in (LY, RT, MC_LY):
        out |= kernel_tids(fn)
    for fn in (MOD, BUSY):
        out |= tids(fn, SETSCENE)
    return out


def group_of(fn):
    return {t for t in kernel_tids(fn) if t.rpartition(":")[2] in GROUP}


# ---------------------------------------------------------------- basics

def test_parse_group_default_and_prefix():
    assert "do_deploy" in GROUP and "do_package_write_rpm" in GROUP
    assert "do_populate_lic" not in GROUP and "do_populate_sysroot" not in GROUP
    assert sg.parse_group("deploy do_package") == frozenset({"do_deploy", "do_package"})
    assert sg.parse_group("  ") == frozenset(sg.DEFAULT_GROUP)


@pytest.mark.parametrize("tid,mcfn,task,mc", [
    (LY + ":do_deploy", LY, "do_deploy", ""),
    (MC_LY + ":do_package", MC_LY, "do_package", "qemuarm"),
    ("mc:x:virtual:native:/p/r.bb:do_populate_sysroot", "mc:x:virtual:native:/p/r.bb",
     "do_populate_sysroot", "x"),
])
def test_split_tid_and_mc(tid, mcfn, task, mc):
    assert sg.split_tid(tid) == (mcfn, task)
    assert sg.mc_of(mcfn) == mc


def test_split_tid_rejects_garbage():
    with pytest.raises(ValueError):
        sg.split_tid("do_deploy")


# ---------------------------------------------------------------- decisions

def test_everything_found_is_kept():
    known = all_tids()
    d = sg.decide(known, known, GROUP, is_kernel, known)
    assert d.found == known and d.dropped == {}


def test_2020_case_rpm_hit_deploy_miss_drops_kernel_group_only():
    known = all_tids()
    found = known - {LY + ":do_deploy"}
    d = sg.decide(known, found, GROUP, is_kernel, known)
    # every group member of linux-yocto is dropped ...
    assert not (d.found & group_of(LY))
    assert LY in d.dropped and d.dropped[LY][0] == [LY + ":do_deploy"]
    # ... but its non-group objects, the other kernels and other recipes stay
    assert (found - group_of(LY)) == d.found
    assert LY + ":do_populate_lic" in d.found
    assert group_of(RT) <= d.found and group_of(MC_LY) <= d.found


def test_kernel_module_recipe_is_not_a_group_member():
    known = all_tids()
    found = known - {MOD + ":do_package"}
    d = sg.decide(known, found, GROUP, is_kernel, known)
    assert d.found == found and d.dropped == {}


def test_multiconfig_kernel_is_its_own_group():
    known = all_tids()
    found = known - {MC_LY + ":do_package_write_rpm"}
    d = sg.decide(known, found, GROUP, is_kernel, known)
    assert not (d.found & group_of(MC_LY))
    assert group_of(LY) <= d.found
    assert list(d.dropped) == [MC_LY]


def test_nothing_found_nothing_dropped():
    known = all_tids()
    d = sg.decide(known, set(), GROUP, is_kernel, known)
    assert d.found == set() and d.dropped == {}


def test_members_outside_the_build_are_ignored():
    # e.g. `bitbake -c deploy virtual/kernel`: no do_package_write_* in the graph
    known = tids(LY, ["do_deploy", "do_package", "do_packagedata", "do_populate_lic"])
    d = sg.decide(known, known, GROUP, is_kernel, known)
    assert d.found == known


# ---------------------------------------------------------------- subsets

def test_subset_query_looks_up_siblings():
    """A deferred/rehashed single task: its siblings are not in the query."""
    known = all_tids()
    query = {LY + ":do_package_write_rpm"}
    todo = sg.plan_sibling_lookup(query, query, GROUP, is_kernel, known)
    assert todo == group_of(LY) - query
    # the deploy object is missing in sstate -> the rpm must not be restored
    d = sg.decide(query, query, GROUP, is_kernel, known, sibling_found=todo - {LY + ":do_deploy"})
    assert d.found == set()
    assert d.dropped[LY] == ([LY + ":do_deploy"], [LY + ":do_package_write_rpm"])
    # all siblings present -> restored
    d = sg.decide(query, query, GROUP, is_kernel, known, sibling_found=todo)
    assert d.found == query


def test_subset_query_with_a_queried_miss_needs_no_lookup():
    known = all_tids()
    query = {LY + ":do_package_write_rpm", LY + ":do_deploy"}
    found = {LY + ":do_package_write_rpm"}
    assert sg.plan_sibling_lookup(query, found, GROUP, is_kernel, known) == set()
    assert sg.decide(query, found, GROUP, is_kernel, known).found == set()


def test_subset_of_non_kernel_tasks_needs_no_lookup():
    known = all_tids()
    query = tids(BUSY, SETSCENE) | {LY + ":do_populate_lic"}
    assert sg.plan_sibling_lookup(query, query, GROUP, is_kernel, known) == set()


def test_is_group_recipe_called_once_per_recipe():
    calls = []

    def counting(mcfn):
        calls.append(mcfn)
        return is_kernel(mcfn)

    known = all_tids()
    sg.decide(known, known, GROUP, counting, known)
    assert sorted(calls) == sorted(set(calls))


def test_user_extended_group():
    group = sg.parse_group(" ".join(sg.DEFAULT_GROUP) + " do_shared_workdir")
    known = all_tids()
    found = known - {LY + ":do_shared_workdir"}
    d = sg.decide(known, found, group, is_kernel, known)
    assert LY + ":do_deploy" not in d.found


# ---------------------------------------------------------------- adapter

class FakeD(object):
    def __init__(self, **v):
        self.v = v

    def getVar(self, name):
        return self.v.get(name)


def make_siggen(known, kernels):
    caches = {}
    for tid in known:
        mcfn = tid.rpartition(":")[0]
        mc = sg.mc_of(mcfn)
        cache = caches.setdefault(mc, types.SimpleNamespace(inherits={}))
        inh = ["/src/meta/classes-global/base.bbclass"]
        if mcfn in kernels:
            inh.append("/src/meta/classes-recipe/kernel.bbclass")
        if mcfn == MOD:
            inh.append("/src/meta/classes-recipe/module.bbclass")
        cache.inherits[mcfn] = inh
    return types.SimpleNamespace(
        datacaches=caches,
        taskhash={t: "t" + str(abs(hash(t))) for t in known},
        unihash={t: "u" + str(abs(hash(t))) for t in known},
        tidtopn={})


def sq(tids_):
    return {"hash": {t: "h" for t in tids_},
            "unihash": {t: "u" for t in tids_},
            "hashfn": {t: "False linux-yocto " for t in tids_}}


def test_adapter_wraps_and_looks_up_siblings_once():
    known = all_tids()
    siggen = make_siggen(known, KERNELS)
    present = known - {LY + ":do_deploy"}
    calls = []

    def orig(sq_data, d, siginfo=False, currentcount=0, summary=True, **kw):
        calls.append((set(sq_data["hash"]), summary))
        return {t for t in sq_data["hash"] if t in present}

    notes = []
    query = {LY + ":do_package_write_rpm", BUSY + ":do_package"}
    got = sg.checkhashes_with_groups(orig, sq(query), FakeD(), siggen, log=notes.append)
    assert got == {BUSY + ":do_package"}
    assert len(calls) == 2 and calls[1][1] is False
    assert calls[1][0] == group_of(LY) - {LY + ":do_package_write_rpm"}
    assert len(notes) == 1 and "do_deploy" in notes[0] and "linux-yocto" in notes[0]


def test_adapter_siginfo_passthrough():
    known = all_tids()
    siggen = make_siggen(known, KERNELS)

    def orig(sq_data, d, **kw):
        return {LY + ":do_package_write_rpm"}

    got = sg.checkhashes_with_groups(orig, sq({LY + ":do_package_write_rpm"}), FakeD(),
                                     siggen, siginfo=True)
    assert got == {LY + ":do_package_write_rpm"}


def test_adapter_uses_group_variable():
    known = all_tids()
    siggen = make_siggen(known, KERNELS)
    present = known - {LY + ":do_deploy"}

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}

    d = FakeD(KERNEL_REPRO_SSTATE_GROUP="do_package do_package_write_rpm")
    got = sg.checkhashes_with_groups(orig, sq(known), d, siggen)
    assert got == present  # deploy is not in the configured group


def test_adapter_without_recipe_cache_falls_back_to_preferred_provider():
    known = all_tids()
    siggen = make_siggen(known, KERNELS)
    siggen.datacaches = {}
    siggen.tidtopn = {t: ("linux-yocto" if t.startswith(LY) else "other") for t in known}
    present = known - {LY + ":do_deploy"}

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}

    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(**{
        "PREFERRED_PROVIDER_virtual/kernel": "linux-yocto"}), siggen)
    assert not (got & group_of(LY))
    assert group_of(RT) <= got  # not the preferred provider: unknown, kept


def test_format_dropped_names_tasks():
    msg = sg.format_dropped(LY, [LY + ":do_deploy"], [LY + ":do_package_write_rpm"])
    assert "do_package_write_rpm" in msg and "because do_deploy of the same kernel group is missing" in msg


def _objects(tmp_path, tids_present):
    """Real files standing for local sstate objects; -> local_path callable."""
    paths = {}
    for tid in sorted(tids_present):
        p = tmp_path / ("obj-%d.tar.zst" % len(paths))
        p.write_bytes(b"x")
        paths[tid] = str(p)
    return paths, (lambda tid, data: paths.get(tid))


def test_dropped_group_marks_its_found_local_objects_stale(tmp_path):
    """deploy missing: the found members are refused and marked stale in the
    cache, so a later or concurrent build takes them as missing too."""
    known = all_tids()
    present = known - {LY + ":do_deploy"}
    paths, local = _objects(tmp_path, present)

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}

    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local)
    assert not (got & group_of(LY))
    for tid in group_of(LY) - {LY + ":do_deploy"}:
        assert sg.is_marked_stale(paths[tid]), tid
    for tid in present - group_of(LY):
        assert not sg.is_marked_stale(paths[tid]), tid


def test_stale_mark_makes_a_complete_group_partial(tmp_path):
    """An interrupted rebuild: every member present again, one still marked
    (its task never ran to replace it) -> not restored, rebuilt."""
    known = all_tids()
    paths, local = _objects(tmp_path, known)
    sg.mark_stale(paths[LY + ":do_deploy"])

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in known}

    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local)
    assert not (got & group_of(LY))
    assert group_of(RT) <= got
    # without the mark the same cache restores the group whole
    sg.clear_stale(paths[LY + ":do_deploy"])
    for tid in group_of(LY):
        sg.clear_stale(paths[tid])
    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local)
    assert group_of(LY) <= got


def test_stale_sibling_outside_the_query_counts_as_missing(tmp_path):
    """BitBake asks about a subset; the sibling looked up is marked stale."""
    known = all_tids()
    paths, local = _objects(tmp_path, known)
    sg.mark_stale(paths[LY + ":do_deploy"])

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in known}

    query = {LY + ":do_package_write_rpm"}
    got = sg.checkhashes_with_groups(orig, sq(query), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local)
    assert got == set()


def test_mark_stale_on_an_unwritable_cache_is_reported_not_raised(tmp_path):
    known = all_tids()
    present = known - {LY + ":do_deploy"}
    notes = []

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}

    # an object whose mark cannot be created (ENAMETOOLONG stands for
    # EROFS/EPERM here: root ignores permission bits)
    obj = tmp_path / ("p" * 240 + ".tar.zst")
    obj.write_bytes(b"x")
    got = sg.checkhashes_with_groups(
        orig, sq(known), FakeD(), make_siggen(known, KERNELS), log=notes.append,
        local_path=lambda tid, data: (str(obj) if tid == LY + ":do_package" else None))
    assert not (got & group_of(LY))
    assert any("cannot mark a refused sstate object stale" in n for n in notes), notes
    assert sg.clear_stale(str(tmp_path / "none.tar.zst")) is None  # nothing to clear


def _class_text():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "classes", "kernel-repro-sstate.bbclass")
    with open(path) as f:
        return f.read()


def _class_assignment(name, op):
    m = re.search(r'^%s %s "([^"]*)"' % (re.escape(name), re.escape(op)), _class_text(), re.M)
    assert m, "%s %s ... missing from the bbclass" % (name, op)
    return m.group(1)


def _as_addpylib_does(d):
    """layer.conf's ``addpylib ${LAYERDIR}/lib kernelrepro``: the package
    (and its BBIMPORTS) in the context of inline python."""
    import bb.utils
    import kernelrepro
    import kernelrepro.sstategroup  # noqa: F401 (a BBIMPORTS module)
    bb.utils._context["kernelrepro"] = kernelrepro
    return d


def test_class_default_group_is_the_library_default():
    """The class takes its default group from DEFAULT_GROUP (where the
    choice is explained): one list, in one file."""
    data_smart = pytest.importorskip("bb.data_smart", reason="needs bitbake-setup's bb package")
    import kernelrepro
    assert "sstategroup" in kernelrepro.BBIMPORTS
    d = _as_addpylib_does(data_smart.DataSmart())
    d.setVar("X", _class_assignment("KERNEL_REPRO_SSTATE_GROUP_DEFAULT", "="))
    assert tuple(d.getVar("X").split()) == sg.DEFAULT_GROUP


@pytest.mark.parametrize("user, expect_extra, expect_gone", [
    # local.conf / machine conf, parsed before the INHERIT-ed class
    ([("+=", "do_deploy_fitimage")], {"do_deploy_fitimage"}, set()),
    ([(":append", " do_deploy_fitimage")], {"do_deploy_fitimage"}, set()),
    ([(":remove", "do_create_spdx")], set(), {"do_create_spdx"}),
    ([], set(), set()),
])
def test_group_extended_before_the_class_keeps_the_default(user, expect_extra, expect_gone):
    """A `+=` in local.conf runs before the class's `??=`: with a plain
    default it would leave a group of only the added task (deploy and package
    silently unprotected). The class's statements, applied to a real BitBake
    datastore after the user's, keep the default and add (or remove)."""
    data_smart = pytest.importorskip("bb.data_smart", reason="needs bitbake-setup's bb package")
    d = _as_addpylib_does(data_smart.DataSmart())
    var = "KERNEL_REPRO_SSTATE_GROUP"
    for op, value in user:
        if op == "+=":
            d.setVar(var, ((d.getVar(var, False) or "") + " " + value))
        else:
            d.setVar(var + op, value)
    # the class, in its order: _DEFAULT =, ??=, :prepend
    d.setVar(var + "_DEFAULT", _class_assignment(var + "_DEFAULT", "="))
    d.setVarFlag(var, "_defaultval", _class_assignment(var, "??="))
    d.setVar(var + ":prepend", _class_assignment(var + ":prepend", "="))
    group = sg.parse_group(d.getVar(var))
    assert group == (set(sg.DEFAULT_GROUP) | expect_extra) - expect_gone


class _OESiggen(types.SimpleNamespace):
    """Stands for OE-Core's siggen: a checkhashes *method* (locked signatures),
    which sstate_checkhashes calls with the query's found/missed sets."""

    def checkhashes(self, sq_data, missed, found, d):
        self.checked.append(set(sq_data["hash"]))


def _oe_like_orig(siggen, present, plain):
    """sstate_checkhashes' shape: summary line, then the siggen hook."""
    def orig(sq_data, d, siginfo=False, currentcount=0, summary=True, **kw):
        found = {t for t in sq_data["hash"] if t in present}
        if summary:
            plain("Sstate summary: Wanted %d Local %d" % (len(sq_data["hash"]), len(found)))
        if hasattr(siggen, "checkhashes"):
            siggen.checkhashes(sq_data, set(sq_data["hash"]) - found, found, d)
        return found
    return orig


def test_sibling_lookup_keeps_out_of_the_siggen_hook():
    """The locked-signature hook judges the build's query only: the sibling
    lookup must not run it (duplicate messages, or a fatal error over tasks
    the build never asked for), and the hook is back afterwards."""
    known = all_tids()
    base = make_siggen(known, KERNELS)
    siggen = _OESiggen(**vars(base), checked=[])
    present = known - {LY + ":do_deploy"}
    lines = []
    query = {LY + ":do_package_write_rpm", BUSY + ":do_package"}
    got = sg.checkhashes_with_groups(_oe_like_orig(siggen, present, lines.append), sq(query),
                                     FakeD(), siggen, plain=lines.append)
    assert got == {BUSY + ":do_package"}
    assert siggen.checked == [query], siggen.checked  # once, for the query
    assert "checkhashes" not in vars(siggen) and callable(siggen.checkhashes)
    assert [l for l in lines if l.startswith("Sstate summary")] == ["Sstate summary: Wanted 2 Local 2"]


def test_summary_correction_counts_refused_objects():
    known = all_tids()
    siggen = make_siggen(known, KERNELS)
    present = known - {LY + ":do_deploy"}
    lines = []
    query = set(known)
    got = sg.checkhashes_with_groups(_oe_like_orig(siggen, present, lines.append), sq(query),
                                     FakeD(), siggen, plain=lines.append)
    refused = len(group_of(LY) - {LY + ":do_deploy"})
    assert refused >= 3
    assert lines[0] == "Sstate summary: Wanted %d Local %d" % (len(query), len(present))
    assert lines[1] == ("kernel-repro: of those found, %d are not restored (partial kernel sstate "
                        "group): %d of %d wanted restored from sstate"
                        % (refused, len(got), len(query)))
    assert len(got) == len(present) - refused
    # nothing refused, no correction; summary=False (BitBake's later
    # queries), no correction either
    lines.clear()
    sg.checkhashes_with_groups(_oe_like_orig(siggen, known, lines.append), sq(query),
                               FakeD(), siggen, plain=lines.append)
    assert len(lines) == 1
    lines.clear()
    sg.checkhashes_with_groups(_oe_like_orig(siggen, present, lines.append), sq(query),
                               FakeD(), siggen, summary=False, plain=lines.append)
    assert lines == []


def test_read_only_build_reads_marks_but_writes_none(tmp_path):
    """SSTATE_SKIP_CREATION: the partial group is still refused, but no mark
    is written (nothing would ever clear it: such a build never writes the
    fresh object); marks other builders wrote are still obeyed.
    Control: the same cache without read_only marks the found members."""
    known = all_tids()
    present = known - {LY + ":do_deploy"}
    paths, local = _objects(tmp_path, present)

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}

    notes = []
    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local, read_only=True, log=notes.append)
    assert not (got & group_of(LY))
    assert not any(sg.is_marked_stale(p) for p in paths.values())
    assert any("SSTATE_SKIP_CREATION" in n for n in notes), notes
    # another builder's mark is obeyed: a complete group with a marked member
    (tmp_path / "c").mkdir()
    paths2, local2 = _objects(tmp_path / "c", known)
    sg.mark_stale(paths2[LY + ":do_package"])
    got = sg.checkhashes_with_groups(lambda sq_data, d, **kw: set(sq_data["hash"]), sq(known), FakeD(),
                                     make_siggen(known, KERNELS), local_path=local2, read_only=True)
    assert not (got & group_of(LY))
    # control
    sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS), local_path=local)
    assert all(sg.is_marked_stale(paths[t]) for t in group_of(LY) - {LY + ":do_deploy"})


def test_enforced_dropped_group_says_why_bitbake_will_stop(tmp_path):
    known = all_tids()
    present = known - {LY + ":do_deploy"}
    _paths, local = _objects(tmp_path, present)
    lines = []
    sg.checkhashes_with_groups(lambda sq_data, d, **kw: {t for t in sq_data["hash"] if t in present},
                               sq(known), FakeD(), make_siggen(known, KERNELS), local_path=local,
                               log=lines.append, enforced=True)
    dropped = [l for l in lines if "not restoring" in l]
    assert dropped and all("BB_SETSCENE_ENFORCE" in l and "attempted to execute unexpectedly" in l
                           for l in dropped), lines
    # control: the same cache state (fresh: the first call marked its objects) without it
    (tmp_path / "c").mkdir()
    _paths, local = _objects(tmp_path / "c", present)
    lines = []
    sg.checkhashes_with_groups(lambda sq_data, d, **kw: {t for t in sq_data["hash"] if t in present},
                               sq(known), FakeD(), make_siggen(known, KERNELS), local_path=local,
                               log=lines.append)
    assert lines and not any("BB_SETSCENE_ENFORCE" in l for l in lines), lines


def _empty_cache(tmp_path):
    """An empty local cache: tid -> where its object would be."""
    names = {}
    return lambda tid, data: str(tmp_path / names.setdefault(tid, "obj-%d.tar.zst" % len(names)))


def _mirror_fetch(tmp_path, served, local_of, calls):
    """A fetch callable as sstatetasks.mirror_fetch_function makes: copies a
    "mirror" object into the local cache, or fails for tids not ``served``."""
    def fetch(tid, data):
        calls.append(tid)
        path = local_of(tid, data)
        if os.path.exists(path):
            return None
        if tid not in served:
            return "%s: 503 Service Unavailable" % os.path.basename(path)
        with open(path, "w") as f:
            f.write("fetched " + tid)
        return None
    return fetch


def test_a_member_the_mirror_does_not_serve_drops_its_group(tmp_path):
    """The mirror lists the whole group (OE-Core's check asks only that), but
    one download fails: the group is built here from one compile, and the
    line names the mirror, not cleansstate. Control: without ``fetch`` the
    group is reported found, and the member would fail later, in its
    setscene task, beside restored siblings."""
    known = all_tids()
    local = _empty_cache(tmp_path)
    rpm = LY + ":do_package_write_rpm"
    served = known - {rpm}
    calls, lines, warned = [], [], []

    def orig(sq_data, d, **kw):                      # a mirror's checkstatus: all there
        return set(sq_data["hash"])

    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local, log=lines.append, warn=warned.append,
                                     fetch=_mirror_fetch(tmp_path, served, local, calls))
    assert not (got & group_of(LY)), "a group with an unfetchable member was restored"
    assert group_of(RT) <= got and group_of(MC_LY) <= got   # other kernels: fetched, kept
    assert {t for t in known if t.startswith(BUSY)} <= got  # non-group tasks: untouched
    assert not any(t.startswith(BUSY) for t in calls)       # only group members are fetched
    assert not [l for l in lines if "did not serve it" in l]   # a warning, not a note
    failed = [l for l in warned if "did not serve it" in l]
    assert len(failed) == 1 and "do_package_write_rpm" in failed[0] and "503" in failed[0]
    assert "SSTATE_MIRRORS" in failed[0] and "cleansstate" not in failed[0]
    # the members fetched before the failure are marked stale: the group's
    # rebuilt objects replace them (OE-Core never overwrites an object)
    fetched_ly = [t for t in calls if t.startswith(LY + ":") and t != rpm and t in served]
    assert all(sg.is_marked_stale(local(t, None)) for t in fetched_ly)
    # control: no fetch, the partial download is not seen at all
    got = sg.checkhashes_with_groups(orig, sq(known), FakeD(), make_siggen(known, KERNELS))
    assert group_of(LY) <= got


def test_prefetch_fetches_siblings_and_skips_partial_groups(tmp_path):
    """A subset query: the siblings outside it are fetched too (a later
    query would otherwise restore them from a mirror that may fail then).
    A group already partial is not fetched at all (cost: no download for
    a group that is built anyway)."""
    known = all_tids()
    local = _empty_cache(tmp_path)
    calls = []
    query = {t for t in known if t.endswith(":do_deploy")}
    missing_rt = RT + ":do_packagedata"

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t != missing_rt}

    got = sg.checkhashes_with_groups(orig, sq(query), FakeD(), make_siggen(known, KERNELS),
                                     local_path=local,
                                     fetch=_mirror_fetch(tmp_path, known, local, calls))
    assert LY + ":do_deploy" in got and RT + ":do_deploy" not in got
    assert group_of(LY) <= set(calls), "siblings outside the query were not fetched"
    assert not any(t.startswith(RT + ":") for t in calls)
