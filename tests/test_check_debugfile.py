# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""check against debug files as OE-Core packages them (issue 13).

OE-Core's kernel-dbg vmlinux is made with ``objcopy --only-keep-debug``
(meta/lib/oe/package.py): .text, .rodata ... are SHT_NOBITS there, with no
bytes in the file. check must skip those sections (and say so), not count
them as different; ``objcopy --strip-debug`` keeps every allocated section's
bytes. The debug files are made here with the real objcopy from the fixture
kernels; readelf is the independent oracle for which sections have bytes.
"""

import json
import re
import subprocess

import pytest

from conftest import need_tool, readelf_build_id, run_cli

pytestmark = pytest.mark.kernel

SECTION_RE = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+"
                        r"\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$")


def objcopy(mode, src, dst):
    need_tool("objcopy", "binutils")
    subprocess.run(["objcopy", mode, str(src), str(dst)], check=True)
    return dst


def alloc_sections(path):
    """{name: sh_type} of the allocated sections, from readelf -S -W."""
    out = subprocess.run(["readelf", "-S", "-W", str(path)], stdout=subprocess.PIPE,
                         check=True, text=True).stdout
    secs = {}
    for line in out.splitlines():
        m = SECTION_RE.match(line)
        if m and "A" in m.group(3):
            secs[m.group(1)] = m.group(2)
    assert secs, out
    return secs


def expected_split(payload, debug):
    """(compared, skipped) as readelf sees them: shared allocated sections,
    skipped where exactly one side is NOBITS."""
    a, b = alloc_sections(payload), alloc_sections(debug)
    shared = [n for n in a if n in b]
    skipped = [n for n in shared if (a[n] == "NOBITS") != (b[n] == "NOBITS")]
    return len(shared) - len(skipped), skipped


@pytest.fixture
def payload_of(tmp_path):
    def get(kernel):
        out = tmp_path / ("payload-%s" % kernel.name)
        if not out.exists():
            run_cli("extract", kernel.path("bzImage"), "-o", out, check=0)
        return out
    return get


@pytest.mark.parametrize("which", ["plain_a", "repro_a"])
def test_check_only_keep_debug_file_matches(request, tmp_path, payload_of, which):
    """The false alarm of issue 13: before the fix this said
    '25 allocated sections compared, 22 differ' and exited 1."""
    k = request.getfixturevalue(which)
    dbg = objcopy("--only-keep-debug", k.path("vmlinux"), tmp_path / "vmlinux.debug")
    compared, skipped = expected_split(payload_of(k), dbg)
    assert ".text" in skipped and ".rodata" in skipped and ".bss" not in skipped

    r = run_cli("check", k.path("bzImage"), dbg, check=0)
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("match:"), r.stdout
    shared = compared + len(skipped)
    assert ("sections:      %d allocated sections compared, 0 differ (of %d on both sides; "
            "addresses and flags compared for all)" % (compared, shared)) in lines, r.stdout
    skip_lines = [x for x in lines if x.startswith("skipped:")]
    assert len(skip_lines) == 1, r.stdout
    line = skip_lines[0]
    assert line.startswith("skipped:       %d sections (no bytes in the debug file: " % len(skipped))
    assert skipped[0] in line and "(%d more)" % (len(skipped) - 5) in line
    assert len(line) < 160, line

    j = json.loads(run_cli("check", "--json", k.path("bzImage"), dbg, check=0).stdout)
    assert j["match"] is True and j["build_id_match"] is True
    assert j["image"]["build_id"] == readelf_build_id(k.path("vmlinux"))
    sec = j["sections"]
    assert sec["differ"] == []
    assert sec["skipped"] == skipped
    assert sec["skipped_no_bytes_in_image"] == []
    assert sec["compared"] == compared and compared >= 1  # .notes at least
    assert sec["layout"] == shared and sec["only_in_image"] == sec["only_in_debug"] == []


def test_check_strip_debug_file_matches(plain_a, tmp_path, payload_of):
    """--strip-debug keeps the allocated bytes: everything is compared, nothing skipped."""
    dbg = objcopy("--strip-debug", plain_a.path("vmlinux"), tmp_path / "vmlinux.stripped")
    compared, skipped = expected_split(payload_of(plain_a), dbg)
    assert skipped == [] and compared > 10
    r = run_cli("check", plain_a.path("bzImage"), dbg, check=0)
    assert r.stdout.strip().splitlines()[-1].startswith("match:")
    assert "skipped:" not in r.stdout
    assert ("%d allocated sections compared, 0 differ" % compared) in r.stdout
    j = json.loads(run_cli("check", "--json", plain_a.path("bzImage"), dbg, check=0).stdout)
    assert j["match"] is True and j["sections"]["skipped"] == []
    assert j["sections"]["compared"] == compared


def test_check_only_keep_debug_of_another_build_mismatches(plain_a, plain_b, tmp_path):
    """Skipping sections must not hide a different compile: the build-ids differ."""
    dbg = objcopy("--only-keep-debug", plain_b.path("vmlinux"), tmp_path / "vmlinux-b.debug")
    r = run_cli("check", plain_a.path("bzImage"), dbg, check=1)
    ida, idb = readelf_build_id(plain_a.path("vmlinux")), readelf_build_id(dbg)
    assert ida and idb and ida != idb
    assert "MISMATCH" in r.stdout and ida in r.stdout and idb in r.stdout
    j = json.loads(run_cli("check", "--json", plain_a.path("bzImage"), dbg, check=1).stdout)
    assert j["match"] is False and j["build_id_match"] is False
    assert ".text" in j["sections"]["skipped"]
    # what is compared still differs: .notes carries the build-id
    assert ".notes" in j["sections"]["differ"]
