# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""A bounded coverage-guided fuzzing run of the readers (atheris), and its regressions.

test_fuzz_readers_bounded_run runs tests/fuzz/fuzz_readers.py for
$KERNEL_REPRO_FUZZ_SECONDS (default 120) from a seed corpus cut from the
fixture kernels that are built (and crafted seeds otherwise), with
libFuzzer's per-input timeout and memory limit; any crash, hang or blow-up
fails the test and leaves its input beside the log. The longer run is
documented in tests/fuzz/fuzz_readers.py. KERNEL_REPRO_FUZZ_SECONDS=0 skips it.

Every input the fuzzer (or a reviewer) found that broke the contract is
replayed in test_fuzz_regressions.
"""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.join(HERE, "fuzz")
sys.path.insert(0, FUZZ)

import fuzz_readers  # noqa: E402
from kernelrepro import decompress, errors, image  # noqa: E402


def _elf64(phoff=0, phnum=0, phentsize=56, shoff=0, shnum=0):
    import struct
    return b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 183, 1, 0, phoff, shoff, 0, 64, phentsize, phnum, 64, shnum, 0)


#: (what it broke, input): replayed through the fuzz target in-process.
REGRESSIONS = [
    # found by this harness (atheris, first 10-minute run): IndexError in _elf_desc,
    # 'cannot process input ... report this' from the CLI
    ("4-byte file: just the ELF magic", b"\x7fELF"),
    ("ELF magic and class only", b"\x7fELF\x02"),
    ("0xffff program headers of 0xffff bytes", _elf64(64, 0xffff, 0xffff) + bytes(4096)),
    ("table claimed 1 TiB out", _elf64(1 << 40, 8, 56, 1 << 40, 8) + bytes(256)),
    ("a thousand fat ELF headers before notes (quadratic scan)",
     b"\0" * 0x38 + b"ARM\x64" + bytes(8) + _elf64(64, 0xffff) * 1000 +
     (b"\x04\0\0\0\x14\0\0\0\x03\0\0\0GNU\0" + b"\xaa" * 20) * 200),
    ("lz4 legacy: bad size after the first block",
     b"\x02\x21\x4c\x18" + b"\x05\0\0\0" + b"\x40abcd" + b"\xf0\xff\xff\xff" + b"junkjunk"),
    ("gzip member then garbage starting with the magic",
     b"\x1f\x8b\x08\0\0\0\0\0\0\x03\x03\0\0\0\0\0\0\0\0\0" + b"\x1f\x8b\x08garbage"),
]


@pytest.mark.parametrize("what,data", REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_fuzz_regressions(what, data):
    fuzz_readers.one_input(data, image, decompress, errors)


def fuzz_seconds(default):
    """$KERNEL_REPRO_FUZZ_SECONDS or ``default``; skips the test at 0, or without atheris."""
    seconds = int(os.environ.get("KERNEL_REPRO_FUZZ_SECONDS", str(default)))
    if seconds <= 0:
        pytest.skip("KERNEL_REPRO_FUZZ_SECONDS=0")
    pytest.importorskip("atheris")
    return seconds


def fuzz_run(script, corpus_dir, seeds, tmp_path, seconds, per_input, env=None):
    """Run the libFuzzer target ``script`` (tests/fuzz/) for ``seconds`` from
    ``seeds``, inputs that break it left in ``tmp_path``.
    Returns (process, crash files, log text, number of inputs run or None)."""
    log = tmp_path / "fuzz.log"
    argv = [sys.executable, os.path.join(FUZZ, script),
            "-max_total_time=%d" % seconds, "-timeout=%d" % per_input, "-rss_limit_mb=2048",
            "-print_final_stats=1", "-artifact_prefix=%s/" % tmp_path, str(corpus_dir), str(seeds)]
    with open(log, "wb") as f:
        r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, cwd=str(tmp_path),
                           timeout=seconds + 300, env=env)
    text = log.read_text(errors="replace")
    crashes = [p for p in os.listdir(tmp_path) if re.match(r"(crash|timeout|oom|leak)-", p)]
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    return r, crashes, text, int(runs.group(1)) if runs else None


def test_fuzz_readers_bounded_run(tmp_path):
    seconds = fuzz_seconds(120)
    import corpus
    seeds = tmp_path / "seeds"
    names = corpus.build(str(seeds))
    work = tmp_path / "work"
    work.mkdir()
    r, crashes, text, runs = fuzz_run("fuzz_readers.py", work, seeds, tmp_path, seconds, 10)
    assert r.returncode == 0 and not crashes, (
        "fuzzing broke the contract; input(s) %s in %s; log tail:\n%s"
        % (crashes, tmp_path, text[-3000:]))
    cov = re.findall(r"cov: (\d+)", text)
    sys.stderr.write("\n[fuzz] %d seeds, %s inputs in %ds, coverage %s -> %s edges, no crash\n"
                     % (len(names), runs if runs is not None else "?", seconds,
                        cov[0] if cov else "?", cov[-1] if cov else "?"))
    assert runs and runs > 0
