# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3: a partial kernel group in a shared cache, met by the two build
modes CI farms use on such caches.

The cache holds the kernel's group of one compile without its deploy
object (a lost member). Each build starts from a fresh TMPDIR.

  r1  BB_SETSCENE_ENFORCE (a build that must restore everything): BitBake
      stops with its generic "attempted to execute unexpectedly"; the
      layer's error line above it says which group was dropped and why.
      A message check: without the layer BitBake would restore the partial
      group and not stop at all (scenario b's mix). The refused members are
      marked stale, as in any build that refuses a group.
  r2  SSTATE_SKIP_CREATION (a read-only consumer): the group is built here
      from one compile, and the cache is left exactly as it was -- no
      object, no stale mark. Then a builder that writes the cache rebuilds
      the group once, and a third build restores everything without a
      compile: a read-only consumer cannot leave a mark that nothing clears
      (before, every builder sharing the cache recompiled the kernel for
      ever).
  r3  BB_SETSCENE_ENFORCE on the complete group: restored, no error (the
      layer's verify tasks are listed in BB_SETSCENE_ENFORCE_IGNORE_TASKS)
"""

import os

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import BINARY_TASKS, PN

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

STATE = t3env.Carried()
t3env.CONFIGS["modes-enforce"] = t3env.CONFIGS["group"] + 'BB_SETSCENE_ENFORCE = "1"\n'
# SSTATE_SKIP_CREATION is read by sstate_task_postfunc, so it is in every
# sstate task's signature: set globally, the consumer shares no object with
# the builders (the first real run of r2: "Wanted 13 Local 0", a compile
# every time). A read-only consumer that shares the cache takes it out of
# the signatures, as here.
t3env.CONFIGS["modes-readonly"] = t3env.CONFIGS["group"] + (
    'SSTATE_SKIP_CREATION = "1"\nBB_BASEHASH_IGNORE_VARS:append = " SSTATE_SKIP_CREATION"\n')


def cache_files():
    """{relative path: size} of the objects (and .sig) and of the layer's
    marks, claims and locks in the current SSTATE_DIR. Not times (OE-Core
    touches the objects it finds), not the .siginfo files (OE-Core writes
    one for every task that runs, object or not, SSTATE_SKIP_CREATION or
    not), not the hash server's database (BB_HASHSERVE_DB_DIR is SSTATE_DIR
    here)."""
    top = t3env.sstate_dir()
    out = {}
    for root, _dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, top)
            if ("sstate:" in f and not f.endswith(".siginfo")) or ".kernel-repro" in rel:
                out[rel] = os.path.getsize(p)
    return out


def partial_cache(work):
    """A fresh cache holding the group of one compile minus its deploy object."""
    t3env.empty_dir("sstate", "modes")
    t3env.empty_dir("sstate-mirror", "none")
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "group", what="modes: the group, one compile")
    assert b.compiles == 1
    assert t3env.delete_objects(["deploy"])
    objs = t3env.object_ids(work)
    assert set(objs) == set(BINARY_TASKS) - {"deploy"}, objs
    return {bid for members in objs.values() for bid in members.values()}


def test_r1_setscene_enforce_says_why_bitbake_stops(work):
    STATE["cached"] = partial_cache(work)
    before = cache_files()
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "modes-enforce", check=False, what="r1: BB_SETSCENE_ENFORCE, partial group")
    assert b.rc != 0 and b.compiles == 0, (b.rc, sorted(b.real))
    errors = b.errors()
    ours = [e for e in errors if "kernel-repro" in e and "not restoring" in e]
    print("\n" + "\n".join(errors))
    assert ours and "BB_SETSCENE_ENFORCE" in ours[0] and "attempted to execute unexpectedly" in ours[0]
    assert any("attempted to execute unexpectedly" in e and "kernel-repro" not in e for e in errors), \
        "BitBake did not stop as the line says it will"
    # no object added or removed; the refused members are marked stale (the
    # group is partial: a build that writes the cache rebuilds and replaces them)
    after = cache_files()
    added = set(after) - set(before)
    assert set(before) <= set(after) and all(f.endswith(".kernel-repro-stale") for f in added), added
    assert {f[:-len(".kernel-repro-stale")] for f in added} <= set(before)
    assert any("_package_write_rpm." in f for f in added), added


def test_r2_read_only_consumer_leaves_the_cache_as_it_was(work):
    cached = STATE["cached"]
    before = cache_files()
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "modes-readonly", what="r2: SSTATE_SKIP_CREATION, partial group")
    assert b.compiles == 1 and set(BINARY_TASKS) <= b.real, sorted(b.real)
    own = t3env.one_compile(t3env.output_ids(work), "r2 read-only build")
    assert own not in cached
    after = cache_files()
    assert after == before, "a read-only build changed the cache: %s" % sorted(set(after) ^ set(before))
    # a writer rebuilds the group once, then nobody compiles
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "group", what="r2: a builder that writes the cache")
    assert b.compiles == 1
    writer = t3env.one_compile(t3env.output_ids(work), "r2 writer")
    objs = t3env.object_ids(work)
    assert {bid for m in objs.values() for bid in m.values()} == {writer}, objs
    assert not [f for f in cache_files() if f.endswith(".kernel-repro-stale")]
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "modes-readonly", what="r2: read-only again, complete group")
    assert b.compiles == 0, sorted(b.real)
    assert t3env.one_compile(t3env.output_ids(work), "r2 restored") == writer
    STATE["writer"] = writer


def test_r3_setscene_enforce_restores_a_complete_group(work):
    """The complete group under BB_SETSCENE_ENFORCE: every object restored,
    no error. Before, do_kernel_repro_verify (a task without setscene: it
    reads what the group restored) was itself "attempted to execute
    unexpectedly" -- the layer broke every enforced build, the extensible
    SDK's prepare step among them; the class now lists its verify tasks in
    BB_SETSCENE_ENFORCE_IGNORE_TASKS (BitBake runs tasks as a dry run there)."""
    writer = STATE["writer"]
    t3env.fresh_tmpdir()
    b = t3env.bitbake(PN, "modes-enforce", check=False, what="r3: BB_SETSCENE_ENFORCE, complete group")
    assert b.rc == 0, "\n".join(b.errors()) or b.out[-3000:]
    assert b.compiles == 0 and set(BINARY_TASKS) - {"package"} <= b.setscene, sorted(b.setscene)
    assert t3env.one_compile(t3env.output_ids(work), "r3 restored") == writer
