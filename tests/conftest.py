# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Shared test fixtures: real kernels built from Debian's linux-source.

Kernel builds are cached outside the repository (kernelrepro.fixture), so
only a cold machine pays for them. Without Debian's linux-source the kernel
tests skip, saying so -- unless KERNEL_REPRO_REQUIRE_KERNELS=1 (set by
.ci/run), which turns a missing kernel into a failure.
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)

from kernelrepro import fixture as kfixture  # noqa: E402
from kernelrepro.errors import KernelReproError  # noqa: E402

CLI = [sys.executable, os.path.join(ROOT, "scripts", "kernel-repro")]


def _progress(msg):
    sys.stderr.write("[fixture] %s\n" % msg)
    sys.stderr.flush()


def _need(what):
    if os.environ.get("KERNEL_REPRO_REQUIRE_KERNELS") == "1":
        pytest.fail("required: %s" % what)
    pytest.skip(what)


def build_fixture(arch, mode, variant):
    try:
        kfixture.find_linux_source()
    except KernelReproError as e:
        _need(str(e))
    if arch == "arm64" and not shutil.which("aarch64-linux-gnu-gcc"):
        _need("arm64 fixture needs gcc-aarch64-linux-gnu")
    return kfixture.build(arch, mode, variant, progress=_progress)


@pytest.fixture(scope="session")
def plain_a():
    return build_fixture("x86_64", "plain", "a")


@pytest.fixture(scope="session")
def plain_b():
    return build_fixture("x86_64", "plain", "b")


@pytest.fixture(scope="session")
def repro_a():
    return build_fixture("x86_64", "repro", "a")


@pytest.fixture(scope="session")
def repro_b():
    return build_fixture("x86_64", "repro", "b")


@pytest.fixture(scope="session")
def arm64():
    return build_fixture("arm64", "plain", "a")


def need_tool(name, package=None):
    if not shutil.which(name):
        _need("%s not installed (apt-get install %s)" % (name, package or name))


def run_cli(*args, check=None):
    """Run the real kernel-repro command; returns CompletedProcess (text)."""
    r = subprocess.run(CLI + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check is not None:
        assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
    return r


def readelf_build_id(path):
    """An independent oracle: binutils' readelf -n."""
    out = subprocess.run(["readelf", "-n", str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    return None
