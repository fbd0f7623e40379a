# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""`kernel-repro running` on the device: the running kernel's build-id
(/sys/kernel/notes) against the build-id records the kernel package installs
(/usr/share/kernel-repro/<kernel PN>.buildid, the layer's fingerprint
format), and the boot check script the kernel-repro-bootcheck package runs."""

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
    # a debug vmlinux and --records/--debuginfod exclude each other
    _one_error_line(run_cli("running", "--notes", notes, "--records", records, junk),
                    "not both")
    _one_error_line(run_cli("running", "--notes", notes, "--records", records,
                            "--debuginfod", "http://127.0.0.1:9"), "not both")


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

@pytest.fixture
def bootcheck_env(tmp_path):
    """PATH with a `kernel-repro` running this checkout and a `logger` that
    records its arguments, one call per line."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    kr = bindir / "kernel-repro"
    kr.write_text("#!/bin/sh\nexec %s \"$@\"\n" % " ".join(CLI))
    kr.chmod(0o755)
    log = tmp_path / "logger.calls"
    logger = bindir / "logger"
    logger.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '[%%s]' \"$a\"; done >> %s\n"
                      "echo >> %s\n" % (log, log))
    logger.chmod(0o755)
    sh = shutil.which("sh")
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.path.dirname(sh)))
    return env, log


def _bootcheck(env, *args):
    return subprocess.run(["sh", BOOTCHECK] + [str(a) for a in args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


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


def test_bootcheck_without_logger_writes_the_kernel_log(device, tmp_path):
    notes, records = device
    fingerprint.write_record(str(records / "k.buildid"), ID_B, "k")
    bindir = tmp_path / "bin2"
    bindir.mkdir()
    (bindir / "kernel-repro").write_text("#!/bin/sh\nexec %s \"$@\"\n" % " ".join(CLI))
    (bindir / "kernel-repro").chmod(0o755)
    for tool in ("sh", "sed"):  # and no logger
        os.symlink(shutil.which(tool), bindir / tool)
    kmsg = tmp_path / "kmsg"
    env = dict(os.environ, PATH=str(bindir), KERNEL_REPRO_KMSG=str(kmsg))
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
