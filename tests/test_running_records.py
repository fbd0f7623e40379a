# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""`kernel-repro running` on the device: the running kernel's build-id
(/sys/kernel/notes) against the build-id records the kernel package installs
(/usr/share/kernel-repro/<kernel PN>.buildid, the layer's fingerprint
format), and the boot check (recipes-kernel/kernel-repro/kernel-repro-bootcheck,
POSIX sh + busybox) that must say the same."""

import os
import shutil
import struct
import subprocess

import pytest

from conftest import CLI, ROOT, readelf_build_id, run_cli
from kernelrepro import fingerprint

BOOTCHECK = os.path.join(ROOT, "recipes-kernel", "kernel-repro", "files", "kernel-repro-bootcheck")
ID_A = "1e026b3949f2bbe507e95b659d7a96f89c387f4f"
ID_B = "bd86f105f1ee9115c13ab7d737e3e6c67e3aa8de"


def notes_bytes(build_id, endian="<"):
    """/sys/kernel/notes as the kernel exports it: a "Xen"-free x86 example
    with the "Linux" version note and the GNU build-id note."""
    desc = bytes.fromhex(build_id)
    linux = struct.pack(endian + "III", 6, 4, 0x101) + b"Linux\0\0\0" + b"\0\x06\x01\0"
    gnu = struct.pack(endian + "III", 4, len(desc), 3) + b"GNU\0" + desc
    return linux + gnu + b"\0" * (-len(gnu) % 4)


def vmlinux_notes(vmlinux, dest):
    """The bytes /sys/kernel/notes shows for this kernel: its .notes section."""
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.notes", str(vmlinux), str(dest)],
                   check=True)
    return dest


@pytest.fixture
def device(tmp_path):
    """A fake device: notes file + records directory."""
    notes = tmp_path / "notes"
    notes.write_bytes(notes_bytes(ID_A))
    records = tmp_path / "usr-share-kernel-repro"
    records.mkdir()
    return notes, records


def _one_error_line(r, needle):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr, r.stderr


def test_record_names_the_running_kernel(device):
    notes, records = device
    fingerprint.write_record(str(records / "linux-other.buildid"), ID_B, "linux-other")
    fingerprint.write_record(str(records / "linux-yocto.buildid"), ID_A, "linux-yocto",
                             source="vmlinux")
    r = run_cli("running", "--notes", notes, "--records", records, check=0)
    lines = r.stdout.splitlines()
    assert lines[0] == "running kernel: %s  %s" % (ID_A, notes)
    assert lines[-1] == ("match: the running kernel %s is the build recorded for linux-yocto (%s)"
                         % (ID_A, records / "linux-yocto.buildid"))
    # --json carries the same verdict and every record
    import json
    j = json.loads(run_cli("running", "--json", "--notes", notes, "--records", records,
                           check=0).stdout)
    assert j["match"] is True and j["running"] == ID_A
    assert [x["recipe"] for x in j["records"]] == ["linux-other", "linux-yocto"]


def test_no_record_names_the_running_kernel(device):
    notes, records = device
    fingerprint.write_record(str(records / "linux-yocto.buildid"), ID_B, "linux-yocto")
    r = run_cli("running", "--notes", notes, "--records", records, check=1)
    assert r.stdout.splitlines()[-1] == (
        "MISMATCH: the running kernel %s is not the kernel this image's build-id records "
        "describe (linux-yocto=%s): its debug symbols are from another build" % (ID_A, ID_B))
    assert r.stderr == ""


def test_big_endian_notes_are_read_too(device):
    notes, records = device
    notes.write_bytes(notes_bytes(ID_A, ">"))
    fingerprint.write_record(str(records / "k.buildid"), ID_A, "k")
    run_cli("running", "--notes", notes, "--records", records, check=0)


def test_record_errors_are_one_line_exit_2(device, tmp_path):
    notes, records = device
    _one_error_line(run_cli("running", "--notes", notes, "--records", tmp_path / "absent"),
                    "no build-id records here (not a directory)")
    _one_error_line(run_cli("running", "--notes", notes, "--records", records),
                    "no *.buildid build-id records in this directory")
    (records / "bad.buildid").write_text("build_id=%s\n" % ID_A)
    _one_error_line(run_cli("running", "--notes", notes, "--records", records),
                    "not a kernel-repro-buildid-1 file")
    (records / "bad.buildid").write_bytes(b"\xff\xfe\x00binary")
    _one_error_line(run_cli("running", "--notes", notes, "--records", records), "not text")
    (records / "bad.buildid").unlink()
    fingerprint.write_record(str(records / "k.buildid"), ID_A, "k")
    _one_error_line(run_cli("running", "--notes", tmp_path / "no-notes", "--records", records),
                    "no such file")
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x01" * 40)
    _one_error_line(run_cli("running", "--notes", junk, "--records", records), "not ELF notes")
    # a debug vmlinux and --records/--debuginfod exclude each other (argparse's rule)
    _one_error_line(run_cli("running", "--notes", notes, "--records", records, junk),
                    "argument debug_vmlinux: not allowed with argument --records")
    _one_error_line(run_cli("running", "--notes", notes, "--records", records,
                            "--debuginfod", "http://127.0.0.1:9"),
                    "argument --debuginfod: not allowed with argument --records")


def test_default_records_dir_is_the_packaged_one(device):
    notes, _ = device
    if os.path.isdir("/usr/share/kernel-repro"):
        pytest.skip("this machine has /usr/share/kernel-repro")
    _one_error_line(run_cli("running", "--notes", notes),
                    "/usr/share/kernel-repro: no build-id records here")


@pytest.mark.kernel
def test_records_of_real_kernels(plain_a, plain_b, tmp_path):
    """Notes of a real kernel (its .notes section is what /sys/kernel/notes
    shows) against records written the way the layer writes them."""
    notes = vmlinux_notes(plain_a.path("vmlinux"), tmp_path / "notes")
    rec = tmp_path / "records"
    fingerprint.write_record(str(rec / "linux-kr.buildid"),
                             fingerprint.read_build_id(plain_b.path("bzImage")), "linux-kr")
    r = run_cli("running", "--notes", notes, "--records", rec, check=1)
    assert readelf_build_id(plain_a.path("vmlinux")) in r.stdout.splitlines()[-1]
    fingerprint.write_record(str(rec / "linux-kr.buildid"),
                             fingerprint.read_build_id(plain_a.path("bzImage")), "linux-kr")
    r = run_cli("running", "--notes", notes, "--records", rec, check=0)
    assert r.stdout.splitlines()[-1].startswith("match: the running kernel %s"
                                                % readelf_build_id(plain_a.path("vmlinux")))


# ------------------------------------------------------------- boot check
# kernel-repro-bootcheck is POSIX sh + busybox (od, sed): it must say what
# `kernel-repro running` says, on images without Python.

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def busybox_path(tmp_path, applets=("sh", "od", "sed")):
    """A PATH with only busybox applets (no logger unless asked)."""
    bindir = tmp_path / "busybox-bin"
    bindir.mkdir(exist_ok=True)
    for a in applets:
        if not (bindir / a).exists():
            os.symlink(BUSYBOX, bindir / a)
    return str(bindir)


@pytest.fixture
def syslog_socket(tmp_path):
    """A listening syslog socket: the boot check uses logger only when one exists."""
    import socket
    path = tmp_path / "log"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    yield str(path)
    s.close()


@pytest.fixture
def bootcheck_env(tmp_path, syslog_socket):
    """PATH with busybox's sh/od/sed and a `logger` that records its
    arguments, one call per line; a syslog socket that listens."""
    bindir = busybox_path(tmp_path)
    log = tmp_path / "logger.calls"
    logger = tmp_path / "busybox-bin" / "logger"
    logger.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '[%%s]' \"$a\"; done >> %s\n"
                      "echo >> %s\n" % (log, log))
    logger.chmod(0o755)
    # the system's POSIX sh: busybox's sh would run its own logger applet
    env = {"PATH": bindir, "KERNEL_REPRO_SYSLOG": syslog_socket, "SH": "/bin/sh"}
    return env, log


def _bootcheck(env, *args):
    sh = env.get("SH") or os.path.join(env["PATH"].split(":")[0], "sh")
    return subprocess.run([sh, BOOTCHECK] + [str(a) for a in args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed")
def test_bootcheck_logs_one_line_and_never_fails(device, bootcheck_env):
    notes, records = device
    env, log = bootcheck_env
    fingerprint.write_record(str(records / "linux-yocto.buildid"), ID_A, "linux-yocto")
    r = _bootcheck(env, "--notes", notes, "--records", records)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert log.read_text() == (
        "[-t][kernel-repro][-p][daemon.info][match: the running kernel %s is the build "
        "recorded for linux-yocto (%s)]\n" % (ID_A, records / "linux-yocto.buildid"))

    log.unlink()
    fingerprint.write_record(str(records / "linux-yocto.buildid"), ID_B, "linux-yocto")
    r = _bootcheck(env, "--notes", notes, "--records", records)
    assert r.returncode == 0
    assert log.read_text() == (
        "[-t][kernel-repro][-p][daemon.warning][MISMATCH: the running kernel %s is not the "
        "kernel this image's build-id records describe (linux-yocto=%s): its debug symbols "
        "are from another build]\n" % (ID_A, ID_B))

    log.unlink()
    r = _bootcheck(env, "--notes", notes, "--records", records / "absent")
    assert r.returncode == 0
    text = log.read_text()
    assert text.count("\n") == 1 and "[daemon.err][cannot check the running kernel: " in text
    assert "no build-id records here" in text and "kernel-repro: error" not in text


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed")
def test_bootcheck_without_logger_writes_the_kernel_log(device, tmp_path):
    """No syslog daemon (no socket): the kernel log, as on a busybox image."""
    notes, records = device
    fingerprint.write_record(str(records / "k.buildid"), ID_B, "k")
    kmsg = tmp_path / "kmsg"
    env = {"PATH": busybox_path(tmp_path, ("sh", "od", "sed", "logger")),
           "KERNEL_REPRO_KMSG": str(kmsg), "KERNEL_REPRO_SYSLOG": str(tmp_path / "no-socket")}
    r = _bootcheck(env, "--notes", notes, "--records", records)
    assert r.returncode == 0 and r.stderr == ""
    assert kmsg.read_text() == (
        "<4>kernel-repro: MISMATCH: the running kernel %s is not the kernel this image's "
        "build-id records describe (k=%s): its debug symbols are from another build\n"
        % (ID_A, ID_B))
    # no kernel log either: stderr, still exit 0
    env["KERNEL_REPRO_KMSG"] = str(tmp_path / "no-such-dir" / "kmsg")
    r = _bootcheck(env, "--notes", notes, "--records", records)
    assert r.returncode == 0 and r.stderr.startswith("kernel-repro: MISMATCH: the running kernel")


def _bootcheck_line(tmp_path, notes, records):
    kmsg = tmp_path / "kmsg-eq"
    if kmsg.exists():
        kmsg.unlink()
    env = {"PATH": busybox_path(tmp_path), "KERNEL_REPRO_KMSG": str(kmsg),
           "KERNEL_REPRO_SYSLOG": str(tmp_path / "no-socket")}
    r = _bootcheck(env, "--notes", notes, "--records", records)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    line = kmsg.read_text()
    assert line.count("\n") == 1, line
    return line


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed")
@pytest.mark.parametrize("endian", ["<", ">"])
def test_bootcheck_says_what_the_python_tool_says(tmp_path, endian):
    """Same verdict, same words, as `kernel-repro running`: match, mismatch
    (several records, sorted), a record of another case, both byte orders,
    a notes file without a build-id, a corrupt record."""
    notes = tmp_path / "notes"
    notes.write_bytes(notes_bytes(ID_A, endian))
    records = tmp_path / "records"
    records.mkdir()
    fingerprint.write_record(str(records / "b-other.buildid"), ID_B, "b-other")
    fingerprint.write_record(str(records / "a-kernel.buildid"), ID_A.upper().lower(), "a-kernel")
    cases = []
    line = _bootcheck_line(tmp_path, notes, records)
    py = run_cli("running", "--notes", notes, "--records", records, check=0).stdout.splitlines()[-1]
    cases.append((line, "<6>kernel-repro: " + py + "\n"))
    os.unlink(records / "a-kernel.buildid")
    line = _bootcheck_line(tmp_path, notes, records)
    py = run_cli("running", "--notes", notes, "--records", records, check=1).stdout.splitlines()[-1]
    cases.append((line, "<4>kernel-repro: " + py + "\n"))
    for got, want in cases:
        assert got == want
    # errors: the Python tool's one-line error, behind "cannot check the running kernel: "
    (records / "bad.buildid").write_text("not a record\n")
    line = _bootcheck_line(tmp_path, notes, records)
    assert line == "<3>kernel-repro: cannot check the running kernel: %s: not a %s file\n" % (
        records / "bad.buildid", fingerprint.FORMAT)
    os.unlink(records / "bad.buildid")
    notes.write_bytes(struct.pack(endian + "III", 6, 4, 0x101) + b"Linux\0\0\0" + b"\0" * 4)
    line = _bootcheck_line(tmp_path, notes, records)
    assert line.startswith("<3>kernel-repro: cannot check the running kernel: ") and "GNU build-id" in line


@pytest.mark.kernel
@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed")
def test_bootcheck_on_real_kernel_notes(plain_a, plain_b, tmp_path):
    """The .notes of real kernels (what /sys/kernel/notes shows), busybox only."""
    notes = vmlinux_notes(plain_a.path("vmlinux"), tmp_path / "notes")
    records = tmp_path / "records"
    records.mkdir()
    want = readelf_build_id(plain_a.path("vmlinux"))
    fingerprint.write_record(str(records / "linux.buildid"), want, "linux")
    assert _bootcheck_line(tmp_path, notes, records).startswith(
        "<6>kernel-repro: match: the running kernel %s " % want)
    other = readelf_build_id(plain_b.path("vmlinux"))
    fingerprint.write_record(str(records / "linux.buildid"), other, "linux")
    assert _bootcheck_line(tmp_path, notes, records).startswith(
        "<4>kernel-repro: MISMATCH: the running kernel %s is not" % want)
