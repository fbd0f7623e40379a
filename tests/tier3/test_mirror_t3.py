# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 3: an http SSTATE_MIRRORS that flakes.

A test server on a loopback port serves a cache holding the kernel's whole
group from one compile. It answers every HEAD (OE-Core's hash check asks a
mirror only whether an object exists), but refuses the GET of the deploy
object with 503 -- a mirror that times out after the hash check. Each build
starts from a fresh TMPDIR and an empty local SSTATE_DIR. do_deploy is the
member that fails because its real task needs a compiled ${B}: the kernel
compiles again while its siblings are restored from the mirror's compile.
(A failed do_package_write_rpm would rebuild from the restored do_package
output, without a compile: no mix to show.)

  m0  control, the layer not enabled: the build succeeds and hands out two
      compiles (deployed kernel vs the packages) -- silently
  m1  control, the layer without the fix (KERNEL_REPRO_SSTATE_PREFETCH = "0"):
      the mix is made, do_kernel_repro_verify stops the build, naming the
      failed fetch
  m2  the fix: the hash check fetches the group's objects, the deploy object
      fails, the group is built here together: exit 0, one compile in every
      output and in the local cache, a line naming the mirror
"""

import http.server
import os
import threading

import pytest

import t3env
from t3fixtures import t3_report, work  # noqa: F401 (pytest fixtures)
from t3env import BINARY_TASKS, PN

t3env.skip_unless_available()
pytestmark = pytest.mark.tier3

#: The object the server will not hand out (its HEAD still answers).
FAIL_SUFFIX = "_deploy.tar.zst"
#: scenario configuration -> (its text, the mirror cache it is served):
#: KERNEL_REPRO_SSTATE_PREFETCH is read by the hash check only, in no task
#: signature, so m1 and m2 share one mirror (m2's fill restores, no compile)
CONFIGS = {
    "mirror-plain": (t3env.CONFIGS["plain"], "http-plain"),
    "mirror-noprefetch": (t3env.CONFIGS["group"] + 'KERNEL_REPRO_SSTATE_PREFETCH = "0"\n',
                          "http-group"),
    "mirror-group": (t3env.CONFIGS["group"], "http-group"),
}


class FlakyMirror(http.server.ThreadingHTTPServer):
    """Serves ``root``; every GET of a name ending in FAIL_SUFFIX gets 503."""

    def __init__(self, root):
        self.root, self.requests = root, []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=server.root, **kw)

            def do_GET(self):
                failing = self.path.split(";")[0].endswith(FAIL_SUFFIX)
                server.requests.append(("GET", self.path, 503 if failing else None))
                if failing:
                    self.send_error(503, "flaky mirror: download refused after the hash check")
                    return
                super().do_GET()

            def do_HEAD(self):
                server.requests.append(("HEAD", self.path, None))
                super().do_HEAD()

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def refused(self):
        return [p for m, p, code in self.requests if code == 503]

    def close(self):
        self.shutdown()
        self.server_close()


FILLED = set()      # mirror caches filled in this run


def filled_mirror(conf, work):
    """A cache holding the kernel's whole group from one compile under ``conf``
    (built now unless an earlier run left it) -> (path, build-id)."""
    t3env.CONFIGS[conf], cache_name = CONFIGS[conf]
    if cache_name in FILLED:
        cache = t3env.point("sstate", cache_name)
    else:   # objects of an earlier run hold other signatures (another layer revision)
        cache = t3env.empty_dir("sstate", cache_name)
        FILLED.add(cache_name)
    t3env.empty_dir("sstate-mirror", "none")
    t3env.fresh_tmpdir()
    t3env.bitbake(PN, conf, what="%s: fill the mirror" % conf)
    objs = t3env.object_ids(work)
    assert set(objs) == set(BINARY_TASKS), objs
    ids = {bid for members in objs.values() for bid in members.values()}
    assert len(ids) == 1, "the mirror itself is mixed: %s" % objs
    assert any(f.endswith(FAIL_SUFFIX) for _r, _d, fs in os.walk(cache) for f in fs)
    return cache, ids.pop()


def build_from(conf, work, name):
    """Fresh TMPDIR, empty local cache, the flaky mirror -> (Build, server, mirror's id)."""
    cache, mirror_id = filled_mirror(conf, work)
    server = FlakyMirror(cache)
    try:
        t3env.CONFIGS[name] = CONFIGS[conf][0] + (
            'SSTATE_MIRRORS = "file://.* %s/PATH;downloadfilename=PATH"\n'
            'SSTATE_MIRROR_ALLOW_NETWORK = "1"\n' % server.url)
        t3env.empty_dir("sstate", name)
        t3env.fresh_tmpdir()
        b = t3env.bitbake(PN, name, check=False, what="%s: flaky http mirror" % name)
    finally:
        server.close()
    print("\n%s: exit %d, %d compile(s); server refused %s; mirror's compile %s"
          % (name, b.rc, b.compiles, server.refused(), mirror_id))
    assert server.refused(), "the server never refused a download: the scenario did not happen"
    assert any(m == "HEAD" for m, _p, _c in server.requests), "the mirror was never asked"
    return b, mirror_id


def ids_of(work):
    flat = t3env.build_ids(t3env.output_ids(work))
    print("outputs: %s" % flat)
    return flat


def test_m0_control_plain_oe_core_hands_out_two_compiles(work):
    """OE-Core alone: the failed download is logged (an ERROR line, so exit
    status 1), the real task runs instead and every other task completes:
    the deploy directory and the package feed are left from two compiles."""
    b, mirror_id = build_from("mirror-plain", work, "mirror-m0")
    errors = b.errors()
    assert errors and all("do_deploy_setscene" in e for e in errors), errors
    assert b.compiles == 1, "the deploy member did not rebuild: %s" % sorted(b.real)
    assert {"package_write_rpm", "packagedata"} <= b.setscene, sorted(b.setscene)
    assert "package_write_rpm" not in b.real, sorted(b.real)
    flat = ids_of(work)
    assert len(set(flat.values())) == 2, "control: no mix of two compiles: %s" % flat
    assert mirror_id in flat.values()


def test_m1_control_without_prefetch_the_build_stops_on_the_mix(work):
    b, mirror_id = build_from("mirror-noprefetch", work, "mirror-m1")
    assert b.compiles == 1, sorted(b.real)
    assert b.rc != 0, "the mixed pair was not caught"
    errors = "\n".join(b.errors())
    assert "kernel-repro-buildid" in errors and "fetch failed" in errors, errors
    assert "did not serve it" not in b.out


def test_m2_the_group_is_built_together_when_a_member_cannot_be_fetched(work):
    b, mirror_id = build_from("mirror-group", work, "mirror-m2")
    assert b.rc == 0, "\n".join(b.errors()) or b.out[-4000:]
    assert b.compiles == 1
    assert set(BINARY_TASKS) <= b.real, "not the whole group built here: %s" % sorted(b.real)
    lines = [l for l in b.out.splitlines() if "did not serve it" in l]
    assert lines and "do_deploy" in lines[0] and "127.0.0.1" in lines[0], b.out[-4000:]
    assert not b.errors(), b.errors()
    print(lines[0])
    own = t3env.one_compile(t3env.output_ids(work), "m2 outputs")
    assert own != mirror_id
    objs = t3env.object_ids(work)
    local = {bid for members in objs.values() for bid in members.values()}
    print("m2 local cache: %s" % objs)
    assert local == {own}, "the local cache holds another compile: %s" % objs
