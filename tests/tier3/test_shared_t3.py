# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3: two build directories (two TOPDIRs, two TMPDIRs) on one
SSTATE_DIR, building the same kernel at the same time, with one hash
equivalence server (bitbake-hashserv on a loopback port) for both.

The cache holds the kernel's group without its deploy object: both builds
find the group partial, both compile (two compiles: the kernel is
non-reproducible on purpose). A barrier in the tier-3 recipe orders the
deploy objects so that the race OE-Core decides by "first object written
wins" ends the worst way: builder A's package objects land first, builder
B's deploy object lands before A's (A's do_deploy waits for B's).

  s0  control: the layer with settling off (KERNEL_REPRO_SSTATE_SETTLE = "0",
      the layer's behaviour before sstateshare): the cache ends with a
      complete group of two compiles, nothing marked
  s1  settling on: the cache ends with one compile's objects; each build's
      own outputs are one compile
"""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import BINARY_TASKS, PN

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

B2 = t3env.BUILDDIR + "-b"
FLAG = os.path.join(t3env.BUILDDIR, "kr-t3-deploy-done")


def second_builddir(sstate):
    """B2: a build directory of its own (tests/tier3/setup-tier3), whose
    SSTATE_DIR and ccache are BUILDDIR's."""
    if not os.path.exists(os.path.join(B2, "conf", "local.conf")):
        env = dict(os.environ, KERNEL_REPRO_T3_BUILDDIR=B2)
        subprocess.run([os.path.join(t3env.ROOT, "tests", "tier3", "setup-tier3"), t3env.t2env.ENV],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    for link, target in (("sstate", sstate), ("ccache", os.path.join(t3env.BUILDDIR, "ccache")),
                         ("sstate-mirror", os.path.join(t3env.BUILDDIR, "sstate-mirror-none"))):
        path = os.path.join(B2, link)
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        os.symlink(target, path)
    for name in t3env.TMPDIRS:
        shutil.rmtree(os.path.join(B2, name), ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hashserv(work):
    """bitbake-hashserv on a loopback port, its database in ``work``."""
    port = free_port()
    db = os.path.join(work, "hashserv.db")
    exe = os.path.join(t3env.t2env.ENV, "src", "bitbake", "bin", "bitbake-hashserv")
    proc = subprocess.Popen(["python3", exe, "--bind", "127.0.0.1:%d" % port, "--database", db],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, "127.0.0.1:%d" % port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("bitbake-hashserv did not listen on port %d" % port)


def configs(settle, server):
    base = ('INHERIT += "kernel-repro"\nKR_T3_NONREPRODUCIBLE = "1"\n'
            'KERNEL_REPRO_SSTATE_SETTLE = "%s"\nBB_HASHSERVE = "%s"\n'
            'BB_SIGNATURE_HANDLER = "OEEquivHash"\n' % (settle, server))
    t3env.CONFIGS["shared"] = base
    t3env.CONFIGS["shared-a"] = base + 'KR_T3_DEPLOY_WAIT_FOR = "%s"\n' % FLAG
    t3env.CONFIGS["shared-b"] = base + 'KR_T3_DEPLOY_SIGNAL = "%s"\n' % FLAG


def race(work, settle, name):
    """A complete group from one compile, its deploy object removed, then A
    and B at once. -> (A's Build, B's Build, {task: {member: build-id}})."""
    proc, server = hashserv(work)
    try:
        configs(settle, server)
        sstate = t3env.empty_dir("sstate", name)
        t3env.empty_dir("sstate-mirror", "none")
        t3env.fresh_tmpdir()
        second_builddir(sstate)
        b = t3env.bitbake(PN, "shared", what="%s: the group, one compile" % name)
        assert b.compiles == 1
        assert t3env.delete_objects(["deploy"])
        t3env.bitbake("-c clean %s" % PN, "shared", what="%s: -c clean" % name)
        if os.path.exists(FLAG):
            os.unlink(FLAG)
        builds = {}

        def run(key, conf, builddir):
            builds[key] = t3env.bitbake(PN, conf, check=False, builddir=builddir,
                                        what="%s: builder %s (concurrent)" % (name, key))
        threads = [threading.Thread(target=run, args=("A", "shared-a", None)),
                   threading.Thread(target=run, args=("B", "shared-b", B2))]
        for t in threads:
            t.start()
            time.sleep(5)
        for t in threads:
            t.join()
        for key, b in builds.items():
            assert b.rc == 0, "builder %s failed:\n%s" % (key, b.out[-4000:])
            assert b.compiles == 1, (key, b.real)
        return builds["A"], builds["B"], t3env.object_ids(work)
    finally:
        proc.terminate()


def ids_of(objs):
    return {bid for members in objs.values() for bid in members.values()}


def test_s0_control_two_builders_leave_a_mixed_complete_group(work):
    a, b, objs = race(work, "0", "shared-s0")
    assert set(objs) == set(BINARY_TASKS), objs
    marks = [f for r, _d, fs in os.walk(t3env.sstate_dir()) for f in fs if f.endswith(".kernel-repro-stale")]
    print("\ns0: objects %s; marks %s" % (objs, marks))
    assert len(ids_of(objs)) == 2, "control: the two compiles did not mix in the cache: %s" % objs
    assert not marks, marks


def test_s1_two_builders_publish_one_compile(work):
    a, b, objs = race(work, "1", "shared-s1")
    assert set(objs) == set(BINARY_TASKS), objs
    print("\ns1: objects %s" % objs)
    assert len(ids_of(objs)) == 1, "the cache holds two compiles: %s" % objs
    # each build's own outputs: one compile each, and two compiles in all
    own_a = t3env.one_compile(t3env.output_ids(work), "s1 builder A")
    own_b = t3env.one_compile(t3env.output_ids(work, tmp=os.path.join(B2, "tmp")), "s1 builder B")
    assert own_a != own_b, "one compile in both builders: the race proves nothing"
    assert ids_of(objs) <= {own_a, own_b}
