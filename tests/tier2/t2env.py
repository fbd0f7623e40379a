# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Shared by the tier-2 tests that run in an existing OE build directory.

Environment (the tests skip, saying why, when it is absent):
  KERNEL_REPRO_OE_ENV   the workdir made by the project's own
                        `scripts/oe-env setup SERIES` (holds run, src/,
                        build/ with this layer): KERNEL_REPRO_OE_ENV=$(scripts/oe-env path SERIES).
  KERNEL_REPRO_OE_RUN   optional: the command wrapper to use instead of
                        $KERNEL_REPRO_OE_ENV/run (e.g. a copy pointing to a
                        second build directory, to avoid another user's
                        bitbake server lock).
  KERNEL_REPRO_T2_KERNEL optional: the kernel recipe (default linux-yocto).
"""

import os
import re
import subprocess
import time

import pytest

ENV = os.environ.get("KERNEL_REPRO_OE_ENV")
RUN = os.environ.get("KERNEL_REPRO_OE_RUN") or (ENV and os.path.join(ENV, "run"))
KERNEL = os.environ.get("KERNEL_REPRO_T2_KERNEL", "linux-yocto")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The skip reason when no environment is given: how to make one.
SETUP_HINT = ("KERNEL_REPRO_OE_ENV is not set: make an environment with `scripts/oe-env setup "
              "master` (as root; --oecore/--bitbake DIR offline) and set "
              "KERNEL_REPRO_OE_ENV=$(scripts/oe-env path master)")


def skip_unless_available():
    """Module-level skip when there is no usable build environment."""
    if not ENV:
        pytest.skip(SETUP_HINT, allow_module_level=True)
    if not (RUN and os.access(RUN, os.X_OK)):
        pytest.skip("no runnable build-env wrapper at %s" % RUN, allow_module_level=True)
    if os.geteuid() != 0:
        pytest.skip("the oe-env wrapper switches to the build user with runuser: run as root",
                    allow_module_level=True)


def run(cmd, timeout=3600, builddir=None):
    """Run ``cmd`` in the build environment as the build user -> (rc, output, seconds).

    ``builddir``: another build directory of the same environment (its own
    conf/), entered with oe-init-build-env inside the wrapper.
    """
    if builddir:
        cmd = "cd %s/src && . ./oe-init-build-env %s >/dev/null && %s" % (ENV, builddir, cmd)
    t0 = time.time()
    r = subprocess.run([RUN, cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, time.time() - t0


def layer_builddir():
    """BUILDDIR of the wrapper, or a skip when this layer is not in its bblayers.conf."""
    rc, out, _ = run('echo "BUILDDIR=$BUILDDIR"')
    m = re.search(r"^BUILDDIR=(\S+)$", out, re.M)
    assert rc == 0 and m, out
    bd = m.group(1)
    with open(os.path.join(bd, "conf", "bblayers.conf")) as f:
        layers = f.read()
    if REPO not in layers:
        pytest.skip("%s is not in %s/conf/bblayers.conf (bitbake-layers add-layer %s)"
                    % (REPO, bd, REPO))
    return bd


def chown_like(path, ref):
    """Give ``path`` the owner of ``ref`` (the build user writes there too)."""
    st = os.stat(ref)
    os.chown(path, st.st_uid, st.st_gid)
