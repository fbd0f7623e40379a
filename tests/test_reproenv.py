# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 1: kernelrepro.reproenv and the real pahole wrapper script."""

import os
import shutil
import stat
import subprocess

import pytest

from kernelrepro import reproenv

# pahole release -> what the kernel build needs for deterministic BTF.
# < 1.27: parallel encoding (-j) is not deterministic -> run serially.
# 1.27, 1.28: deterministic only when asked: --btf_features=+reproducible_build.
# >= 1.29: deterministic by itself.
PAHOLE_MATRIX = [((1, m), reproenv.PAHOLE_SERIAL) for m in range(16, 27)] + [
    ((1, 27), reproenv.PAHOLE_REPRODUCIBLE),
    ((1, 28), reproenv.PAHOLE_REPRODUCIBLE),
    ((1, 29), reproenv.PAHOLE_NONE),
    ((1, 30), reproenv.PAHOLE_NONE),
    ((1, 31), reproenv.PAHOLE_NONE),
]


@pytest.mark.parametrize("version,mode", PAHOLE_MATRIX,
                         ids=["%d.%d" % v for v, _ in PAHOLE_MATRIX])
def test_pahole_mode_matrix(version, mode):
    assert reproenv.pahole_mode(version) == mode
    # what `pahole --version` prints, through the parser
    assert reproenv.pahole_mode(reproenv.parse_pahole_version("v%d.%d\n" % version)) == mode


def test_pahole_mode_without_pahole():
    assert reproenv.pahole_mode(None) == reproenv.PAHOLE_NONE


@pytest.mark.parametrize("text", ["", "pahole", "version unknown", None])
def test_parse_pahole_version_rejects(text):
    with pytest.raises(ValueError):
        reproenv.parse_pahole_version(text)


def test_parse_pahole_version_two_digit_minor():
    assert reproenv.parse_pahole_version("v1.9") == (1, 9)
    assert reproenv.parse_pahole_version("v1.30") == (1, 30)
    assert reproenv.parse_pahole_version("v1.30") > (1, 29)


@pytest.mark.parametrize("epoch", [0, 1302044400, 1700000000, 951782400])
def test_kbuild_timestamp_matches_date(epoch):
    """Independent oracle: what OE-Core's kernel.bbclass runs (TZ is UTC in BitBake)."""
    date = shutil.which("date")
    if not date:
        pytest.skip("no date(1)")
    want = subprocess.run([date, "-d", "@%d" % epoch], env={"LC_ALL": "C", "TZ": "UTC"},
                          stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    assert reproenv.kbuild_timestamp(epoch) == want


@pytest.mark.parametrize("bad", ["", "abc", "-5", "1.5"])
def test_kbuild_timestamp_rejects(bad):
    with pytest.raises(ValueError):
        reproenv.kbuild_timestamp(bad)


def test_resolve_source_date_epoch_like_kernel_bbclass():
    assert reproenv.resolve_source_date_epoch("1700000000", lambda: "5", "7") == 1700000000
    # "" and "0" mean unset: git log of S, then REPRODUCIBLE_TIMESTAMP_ROOTFS
    assert reproenv.resolve_source_date_epoch("0", lambda: "1600000000\n", "7") == 1600000000
    assert reproenv.resolve_source_date_epoch("", lambda: "", "1520598896") == 1520598896
    assert reproenv.resolve_source_date_epoch(None, None, "3") == 3
    with pytest.raises(ValueError):
        reproenv.resolve_source_date_epoch("", lambda: None, "")


def test_unmapped_paths():
    cc = ("x86_64-oe-linux-gcc -fuse-ld=bfd -ffile-prefix-map=/w/git=/usr/src/debug/k/1 "
          "-fdebug-prefix-map=/w/build=/usr/src/debug/k/1 -ffile-prefix-map=/sysroot=")
    assert reproenv.unmapped_paths(cc, ["/w/git", "/w/build/", "/w/build/sub", "/other", ""]) \
        == ["/other"]
    # a sibling with a common string prefix is not covered
    assert reproenv.unmapped_paths(cc, ["/w/gitx"]) == ["/w/gitx"]
    assert reproenv.unmapped_paths("gcc", ["/a", "/a"]) == ["/a"]
    # unbalanced quotes do not crash
    assert reproenv.unmapped_paths('gcc "-ffile-prefix-map=/a=/b', ["/c"]) == ["/c"]


def test_make_override_last_wins():
    assert reproenv.make_override(' ARCH="x86" PAHOLE=false', "PAHOLE") == "false"
    assert reproenv.make_override("PAHOLE=/a PAHOLE=/b", "PAHOLE") == "/b"
    assert reproenv.make_override("PAHOLE_FLAGS=-j", "PAHOLE") is None
    assert reproenv.make_override(None, "PAHOLE") is None


def test_prefix_map_order_longest_last():
    flags = reproenv.prefix_map_flags(["/src", "/src/build", "/src"], "/p")
    assert flags == ["-ffile-prefix-map=/src=/p", "-ffile-prefix-map=/src/build=/p"]


def test_make_variables_basic():
    v = reproenv.make_variables(1700000000, paths=["/s", "/b"], user="u", host="h",
                                build_version="3", prefix="/p", extra_kcflags="-O2")
    assert v["KBUILD_BUILD_TIMESTAMP"] == reproenv.kbuild_timestamp(1700000000)
    assert (v["KBUILD_BUILD_USER"], v["KBUILD_BUILD_HOST"], v["KBUILD_BUILD_VERSION"]) == ("u", "h", "3")
    assert v["KCONFIG_NOTIMESTAMP"] == "1"
    # C *and* assembler get the map
    assert v["KCFLAGS"] == "-ffile-prefix-map=/s=/p -ffile-prefix-map=/b=/p -O2"
    assert v["KAFLAGS"] == "-ffile-prefix-map=/s=/p -ffile-prefix-map=/b=/p"
    assert "PAHOLE" not in v


def test_make_variables_no_paths_no_flags():
    v = reproenv.make_variables(1)
    assert "KCFLAGS" not in v and "KAFLAGS" not in v


@pytest.mark.parametrize("version,mode", [((1, 25), "serial"), ((1, 27), "reproducible_build"),
                                          ((1, 29), None), (None, None)])
def test_make_variables_pahole(version, mode):
    v = reproenv.make_variables(1, pahole="/usr/bin/pahole", pahole_version=version)
    if mode is None:
        assert "PAHOLE" not in v and "KERNEL_REPRO_PAHOLE_MODE" not in v
    else:
        assert v["PAHOLE"] == reproenv.pahole_wrapper_path()
        assert v["KERNEL_REPRO_PAHOLE"] == "/usr/bin/pahole"
        assert v["KERNEL_REPRO_PAHOLE_MODE"] == mode


def test_format_variables_shell_puts_wrapper_on_path():
    v = reproenv.make_variables(1, pahole="/usr/bin/pahole", pahole_version=(1, 26))
    text = reproenv.format_variables(v, "shell")
    assert "export PATH=%s:\"$PATH\"" % os.path.dirname(reproenv.pahole_wrapper_path()) in text
    assert "export PAHOLE=" not in text
    with pytest.raises(ValueError):
        reproenv.format_variables(v, "yaml")


def test_pahole_version_of_fake(tmp_path):
    fake = tmp_path / "pahole"
    fake.write_text("#!/bin/sh\necho v1.27\n")
    fake.chmod(0o755)
    assert reproenv.pahole_version_of(str(fake)) == (1, 27)
    assert reproenv.pahole_version_of(str(tmp_path / "missing")) is None


# --- the real wrapper script, with a fake pahole that echoes its arguments ---

@pytest.fixture
def fake_pahole(tmp_path):
    p = tmp_path / "real-pahole"
    p.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    p.chmod(0o755)
    return str(p)


def run_wrapper(real, mode, args, extra_env=None):
    sh = shutil.which("dash") or shutil.which("sh")
    env = {"PATH": "/usr/bin:/bin"}
    if real is not None:
        env["KERNEL_REPRO_PAHOLE"] = real
    if mode is not None:
        env["KERNEL_REPRO_PAHOLE_MODE"] = mode
    env.update(extra_env or {})
    return subprocess.run([sh, reproenv.pahole_wrapper_path()] + args, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_wrapper_is_executable_and_named_pahole():
    path = reproenv.pahole_wrapper_path()
    assert os.path.basename(path) == "pahole"
    assert os.stat(path).st_mode & stat.S_IXUSR


# Makefile.btf (6.x): "pahole -J -j8 --btf_features=... --lang_exclude=rust"
# pahole-flags.sh (5.x/6.1): "pahole -J --btf_gen_floats -j --lang_exclude=rust ..."
@pytest.mark.parametrize("args,expected", [
    (["-J", "-j", "--btf_gen_floats", "vmlinux"], ["-J", "--btf_gen_floats", "vmlinux"]),
    (["-J", "-j8", "vmlinux"], ["-J", "vmlinux"]),
    (["-J", "--jobs=4", "--jobs", "vmlinux"], ["-J", "vmlinux"]),
    (["--version"], ["--version"]),
    (["-J", "--lang_exclude=rust", "a b"], ["-J", "--lang_exclude=rust", "a b"]),
])
def test_wrapper_serial(fake_pahole, args, expected):
    r = run_wrapper(fake_pahole, "serial", args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected


def test_wrapper_reproducible_adds_flag_only_when_encoding(fake_pahole):
    r = run_wrapper(fake_pahole, "reproducible_build",
                    ["-J", "-j8", "--btf_features=encode_force,var", "vmlinux"])
    assert r.stdout.splitlines() == ["-J", "-j8", "--btf_features=encode_force,var", "vmlinux",
                                     "--btf_features=+reproducible_build"]
    r = run_wrapper(fake_pahole, "reproducible_build", ["--version"])
    assert r.stdout.splitlines() == ["--version"]
    r = run_wrapper(fake_pahole, "reproducible_build", ["--btf_encode", "x.o"])
    assert r.stdout.splitlines()[-1] == "--btf_features=+reproducible_build"


def test_wrapper_reproducible_not_twice(fake_pahole):
    # newer kernels pass it themselves
    args = ["-J", "-j6", "--btf_features=+reproducible_build", "vmlinux"]
    r = run_wrapper(fake_pahole, "reproducible_build", args)
    assert r.stdout.splitlines() == args


@pytest.mark.parametrize("mode", ["none", None])
def test_wrapper_passthrough(fake_pahole, mode):
    args = ["-J", "-j", "vmlinux"]
    assert run_wrapper(fake_pahole, mode, args).stdout.splitlines() == args


@pytest.mark.parametrize("real", [None, "pahole", "relative/pahole"])
def test_wrapper_refuses_non_absolute_real(real):
    r = run_wrapper(real, "serial", ["-J"])
    assert r.returncode != 0
    assert "KERNEL_REPRO_PAHOLE" in r.stderr


def test_wrapper_propagates_exit_status(tmp_path):
    p = tmp_path / "failing"
    p.write_text("#!/bin/sh\nexit 3\n")
    p.chmod(0o755)
    assert run_wrapper(str(p), "serial", ["-J"]).returncode == 3


def test_wrapper_on_path_shadows_real_pahole(fake_pahole, tmp_path):
    """What the class and `kernel-repro env` do: the wrapper's directory first on
    PATH, so the kernel's default PAHOLE=pahole (Makefile) finds the wrapper."""
    v = reproenv.make_variables(1, pahole=fake_pahole, pahole_version=(1, 24))
    env = {"PATH": os.path.dirname(v["PAHOLE"]) + ":/usr/bin:/bin",
           "KERNEL_REPRO_PAHOLE": v["KERNEL_REPRO_PAHOLE"],
           "KERNEL_REPRO_PAHOLE_MODE": v["KERNEL_REPRO_PAHOLE_MODE"]}
    r = subprocess.run(["sh", "-c", 'pahole -J -j vmlinux'], env=env,
                       stdout=subprocess.PIPE, text=True)
    assert r.stdout.splitlines() == ["-J", "vmlinux"]


# --- `kernel-repro env` (envcmd), the fixture builder's interface ---

def _env_cmd(argv):
    import io
    import json
    from kernelrepro import cli
    args = cli.build_parser().parse_args(argv)
    out = io.StringIO()
    assert args.func(args, out) == 0
    return json.loads(out.getvalue()) if "json" in argv else out.getvalue()


def test_env_json_interface(tmp_path):
    src = tmp_path / "linux"
    src.mkdir()
    (src / "Makefile").write_text("VERSION = 6\n")
    fake = tmp_path / "bin" / "pahole"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho v1.27\n")
    fake.chmod(0o755)
    j = _env_cmd(["env", "--srctree", str(src), "--source-date-epoch", "1700000000",
                  "--pahole", str(fake), "--format", "json"])
    v = j["variables"]
    assert v["KBUILD_BUILD_TIMESTAMP"] == "Tue Nov 14 22:13:20 UTC 2023"
    assert v["KCFLAGS"] == "-ffile-prefix-map=%s=/usr/src/kernel" % src
    assert v["KERNEL_REPRO_PAHOLE"] == str(fake)
    assert (j["pahole_version"], j["pahole_mode"]) == ("1.27", "reproducible_build")
    assert j["source_date_epoch"] == 1700000000


def test_env_shell_output_is_sourceable(tmp_path):
    src = tmp_path / "linux"
    src.mkdir()
    (src / "Makefile").write_text("x\n")
    text = _env_cmd(["env", "--srctree", str(src), "--source-date-epoch", "0",
                     "--pahole", str(tmp_path / "none")])
    r = subprocess.run(["sh", "-c", text + 'printf "%s" "$KBUILD_BUILD_TIMESTAMP"'],
                       stdout=subprocess.PIPE, text=True, check=True)
    assert r.stdout == "Thu Jan  1 00:00:00 UTC 1970"


def test_user_kaflags_are_kept_beside_the_prefix_maps():
    """A user's KAFLAGS are not overwritten by the exported prefix maps."""
    v = reproenv.make_variables(1700000000, paths=["/build/linux"], extra_kaflags="-Wa,--noexecstack",
                                extra_kcflags="-O2")
    assert "-Wa,--noexecstack" in v["KAFLAGS"].split() and "-ffile-prefix-map=/build/linux=" in v["KAFLAGS"]
    assert v["KCFLAGS"].split()[-1] == "-O2"
    assert reproenv.make_variables(1700000000, extra_kaflags="-g")["KAFLAGS"] == "-g"


def test_prefix_maps_longest_first():
    cc = ("gcc -ffile-prefix-map=/w/build=/usr/src/debug/k/1 -fdebug-prefix-map=/w=/X "
          "-ffile-prefix-map=/w/shared/kernel-source=/usr/src/kernel -O2")
    assert reproenv.prefix_maps(cc) == [("/w/shared/kernel-source", "/usr/src/kernel"),
                                        ("/w/build", "/usr/src/debug/k/1"), ("/w", "/X")]
    assert reproenv.prefix_maps("") == []


def test_map_generated_sources_like_the_compiler_keeps_mtime(tmp_path):
    """consolemap_deftbl.c as kbuild 6.1 writes it out of tree: the absolute
    source path in its header (what made two tier-3 builders' -src packages
    differ) becomes the mapped one; the mtime stays, so make rebuilds nothing."""
    src = "/srv/b1/tmp/work-shared/qemux86-64/kernel-source"
    gen = tmp_path / "drivers" / "tty" / "vt" / "consolemap_deftbl.c"
    gen.parent.mkdir(parents=True)
    text = ("/*\n * Do not edit this file; it was automatically generated by\n *\n"
            " * conmakehash %s/drivers/tty/vt/cp437.uni > [this file]\n *\n */\n"
            "u8 dfont_unicount[256] = {1};\n" % src)
    gen.write_text(text)
    os.utime(str(gen), ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    maps = reproenv.prefix_maps("-ffile-prefix-map=%s=/usr/src/kernel -ffile-prefix-map=/srv/b1=/X" % src)
    assert reproenv.map_generated_sources(str(tmp_path), maps) == [str(gen)]
    assert gen.read_text() == text.replace(src, "/usr/src/kernel")
    assert os.stat(str(gen)).st_mtime_ns == 1_000_000_000_000_000_000
    # a second builder elsewhere gets the same bytes
    other = tmp_path / "b2"
    (other / "drivers" / "tty" / "vt").mkdir(parents=True)
    src2 = "/somewhere/much/longer/kernel-source"
    (other / "drivers/tty/vt/consolemap_deftbl.c").write_text(text.replace(src, src2))
    reproenv.map_generated_sources(str(other), reproenv.prefix_maps("-ffile-prefix-map=%s=/usr/src/kernel" % src2))
    assert (other / "drivers/tty/vt/consolemap_deftbl.c").read_bytes() == gen.read_bytes()
    # nothing to map, or no such file: nothing changed
    assert reproenv.map_generated_sources(str(tmp_path), maps) == []
    assert reproenv.map_generated_sources(str(tmp_path / "none"), maps) == []
