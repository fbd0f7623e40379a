# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The README's main command, end to end (fixture kernels come from the cache)."""

import os

import pytest

from conftest import run_cli


@pytest.mark.kernel
@pytest.mark.qemu
def test_demo_passes_and_writes_report(plain_a, plain_b, repro_a, repro_b, tmp_path):
    report = tmp_path / "report.md"
    r = run_cli("demo", "--report", report)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "overall: PASS" in r.stdout
    assert "[7/7]" in r.stdout
    text = report.read_text()
    assert "Overall: **PASS**" in text
    assert "| plain builds differ | different | different | yes |" in text
    assert "| reproducible builds identical | identical | identical | yes |" in text
    assert "running kernel vs plain build A's debug vmlinux | mismatch | mismatch | yes" in text


def test_report_never_overwrites(tmp_path):
    from kernelrepro.demo import _free_path
    p = tmp_path / "r.md"
    assert _free_path(str(p)) == str(p)
    p.write_text("mine")
    assert _free_path(str(p)) == str(tmp_path / "r-1.md")
    (tmp_path / "r-1.md").write_text("also mine")
    assert _free_path(str(p)) == str(tmp_path / "r-2.md")


# ------------------------------------------------- progress of a fixture compile

def test_progress_line_from_counts():
    from kernelrepro.fixture import format_progress
    assert format_progress(0, None, 5) == "0 objects compiled, 0:05 elapsed"
    assert format_progress(1234, None, 61) == "1234 objects compiled, 1:01 elapsed"
    assert format_progress(500, 2000, 120) == \
        "500/2000 objects compiled (25%), 2:00 elapsed, ETA 6:00"
    assert format_progress(0, 2000, 3) == "0/2000 objects compiled (0%), 0:03 elapsed, ETA unknown"
    # more objects than last time: never 100% or a negative ETA before make is done
    assert format_progress(2100, 2000, 400) == \
        "2100/2000 objects compiled (99%), 6:40 elapsed, almost done"


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _cc(n):
    return b"  CC      kernel/f%d.o\n" % n


def test_progress_without_a_terminal_is_a_plain_line_about_once_a_minute():
    from kernelrepro.fixture import BuildProgress
    clock, said = FakeClock(), []
    bp = BuildProgress(said.append, expected=100, clock=clock)
    for i in range(100):                     # one object every 3 s: 300 s in all
        clock.t += 3
        bp.line(_cc(i))
        bp.line(b"  LD      vmlinux.o\n")    # not an object compiled
        bp.line(b"make[2]: Entering directory '/x'\n")
    assert said == ["20/100 objects compiled (20%), 1:00 elapsed, ETA 4:00",
                    "40/100 objects compiled (40%), 2:00 elapsed, ETA 3:00",
                    "60/100 objects compiled (60%), 3:00 elapsed, ETA 2:00",
                    "80/100 objects compiled (80%), 4:00 elapsed, ETA 1:00",
                    "100/100 objects compiled (99%), 5:00 elapsed, almost done"]
    bp.finish()                              # no terminal: nothing more
    assert len(said) == 5
    assert bp.done == 100


def test_progress_counts_cc_m_and_as_lines():
    from kernelrepro.fixture import BuildProgress
    bp = BuildProgress(lambda m: None, clock=FakeClock())
    for raw in (b"  CC [M]  fs/x.o\n", b"  AS      arch/x86/entry/entry_64.o\n",
                b"  CC      init/main.o\n", b"  HOSTCC  scripts/basic/fixdep\n",
                b"  AR      lib/lib.a\n", b"gcc -c CC x.o\n"):
        bp.line(raw)
    assert bp.done == 3


def test_progress_on_a_terminal_rewrites_one_line():
    from kernelrepro.fixture import BuildProgress
    clock, live, said = FakeClock(), [], []
    bp = BuildProgress(said.append, live=live.append, clock=clock)
    for i in range(10):
        clock.t += 0.25
        bp.line(_cc(i))
    bp.finish()
    assert said == []
    assert live == ["2 objects compiled, 0:00 elapsed", "4 objects compiled, 0:01 elapsed",
                    "6 objects compiled, 0:01 elapsed", "8 objects compiled, 0:02 elapsed",
                    "10 objects compiled, 0:02 elapsed", "10 objects compiled, 0:02 elapsed",
                    None]


def test_stages_on_a_terminal_update_in_place_and_end_the_line():
    import io
    from kernelrepro.demo import Stages
    out = io.StringIO()
    st = Stages(out, 7, tty=True)
    st.start("plain build A")
    st.live("1/10 objects compiled (10%), 0:01 elapsed, ETA 0:09")
    st.live("2/10 objects compiled (20%), 0:02 elapsed, ETA 0:08")
    st("x86_64-plain-a: built in 3 s")
    text = out.getvalue()
    assert "\r      2/10 objects compiled (20%), 0:02 elapsed, ETA 0:08\033[K\n" \
        "      x86_64-plain-a: built in 3 s" in text
    assert Stages(io.StringIO(), 7).live is None   # not a terminal: plain lines only


def test_run_streams_make_output_to_the_log_and_the_progress(tmp_path):
    from kernelrepro import fixture
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\necho 'make[1]: Entering directory'\n"
                    "for i in 1 2 3 4 5; do echo \"  CC      kernel/f$i.o\"; done\n"
                    "echo '  CC [M]  fs/m.o'\necho '  AS      arch/e.o'\n"
                    "echo '  LD      vmlinux' >&2\n")
    make.chmod(0o755)
    log = tmp_path / "build.log"
    said = []
    bp = fixture.BuildProgress(said.append, expected=7, interval=0)
    fixture._run([str(make), "-j2"], str(log), str(tmp_path), None, "build", on_line=bp.line)
    bp.finish()
    assert bp.done == 7
    assert len(said) == 7 and said[0].startswith("1/7 objects compiled (14%), 0:00 elapsed, ETA")
    assert said[-1].startswith("7/7 objects compiled (99%)")
    text = log.read_text()
    assert text.startswith("$ %s -j2\n" % make)
    assert "  CC      kernel/f5.o\n" in text and "  LD      vmlinux\n" in text


def test_run_failure_still_names_the_log_and_its_tail(tmp_path):
    from kernelrepro import fixture
    from kernelrepro.errors import KernelReproError
    make = tmp_path / "make"
    make.write_text("#!/bin/sh\necho '  CC      a.o'\necho 'a.c:1: error: boom' >&2\nexit 2\n")
    make.chmod(0o755)
    with pytest.raises(KernelReproError) as e:
        fixture._run([str(make)], str(tmp_path / "log"), str(tmp_path), None, "build",
                     on_line=lambda raw: None)
    assert "step 'build' failed (exit 2)" in str(e.value) and "a.c:1: error: boom" in str(e.value)


def test_expected_object_count_is_kept_beside_the_fixtures(tmp_path):
    from kernelrepro import fixture
    final = str(tmp_path / "fixtures" / "x86_64-plain-a-0123456789abcdef")
    os.makedirs(os.path.dirname(final))
    assert fixture._read_expected_objects(final) is None
    fixture._write_expected_objects(final, 1234)
    assert os.listdir(os.path.dirname(final)) == ["x86_64-plain-a.objects"]
    # another key of the same fixture (a new source, toolchain ...) starts from that count
    assert fixture._read_expected_objects(final[:-4] + "ffff") == 1234
