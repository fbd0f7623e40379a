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


def test_record_dropped_and_was_dropped(tmp_path):
    path = str(tmp_path / "tmp" / "kernel-repro-sstate-dropped")
    assert not sg.was_dropped(path, LY + ":do_package_write_rpm")
    known = all_tids()
    siggen = make_siggen(known, KERNELS)
    present = known - {LY + ":do_deploy"}

    def orig(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present}

    # setscene start (summary=True) truncates, then records the dropped found tids
    sg.record_dropped(path, {RT: ([RT + ":do_deploy"], [RT + ":do_package"])})
    sg.checkhashes_with_groups(orig, sq(known), FakeD(), siggen, summary=True, record=path)
    assert sg.was_dropped(path, LY + ":do_package_write_rpm")
    assert not sg.was_dropped(path, LY + ":do_deploy")  # missing, nothing to replace
    assert not sg.was_dropped(path, RT + ":do_package")  # from an earlier build: gone
    # a later subset query appends
    siggen2 = make_siggen(known, KERNELS)
    present2 = known - {RT + ":do_packagedata"}

    def orig2(sq_data, d, **kw):
        return {t for t in sq_data["hash"] if t in present2}

    sg.checkhashes_with_groups(orig2, sq({RT + ":do_package"}), FakeD(), siggen2,
                               summary=False, record=path)
    assert sg.was_dropped(path, RT + ":do_package")
    assert sg.was_dropped(path, LY + ":do_package_write_rpm")


def test_record_truncated_when_no_kernel_in_first_query(tmp_path):
    path = str(tmp_path / "dropped")
    sg.record_dropped(path, {LY: ([LY + ":do_deploy"], [LY + ":do_package"])})
    known = tids(BUSY, SETSCENE)
    sg.checkhashes_with_groups(lambda sq_data, d, **kw: set(sq_data["hash"]), sq(known), FakeD(),
                               make_siggen(known, KERNELS), summary=True, record=path)
    assert not sg.was_dropped(path, LY + ":do_package")


def test_class_default_group_is_the_library_default():
    """KERNEL_REPRO_SSTATE_GROUP in the bbclass and DEFAULT_GROUP (where the
    choice is explained) are one list."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "classes", "kernel-repro-sstate.bbclass")
    with open(path) as f:
        m = re.search(r'^KERNEL_REPRO_SSTATE_GROUP \?\?= "([^"]*)"', f.read(), re.M)
    assert m, "KERNEL_REPRO_SSTATE_GROUP default missing from the bbclass"
    assert tuple(m.group(1).split()) == sg.DEFAULT_GROUP
