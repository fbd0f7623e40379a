# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""`kernel-repro sstate-audit` (issue 20): crafted sstate caches.

Each cache is laid out as OE-Core lays out SSTATE_DIR (<2 hex>/<2 hex>/
sstate:<pn>:<spec>:<unihash>_<task>.tar.zst with its .siginfo, zstd JSON as
BitBake's siggen writes it), with tar.zst objects holding real ELF files
with build-id notes (tests/fuzz/fuzz_archives.crafted_elf), layer records
and kernel rpms. Every safety assertion has its control: the clean cache
says clean, the mixed one does not.
"""

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import CLI, run_cli
from test_hostile import assert_error

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fuzz"))

import fuzz_archives as fa  # noqa: E402
from fuzz_archives import newc, rpm_bytes, tar_bytes, zstd, zstd_rle_tar  # noqa: E402
from kernelrepro import sstateaudit  # noqa: E402

PN = "linux-kr-t3"
SPEC = "qemux86_64-oe-linux:6.1:r0:qemux86_64:14"
A, B = bytes(range(1, 21)), bytes(range(101, 121))
FILE = 0o100644


def h(word):
    return hashlib.sha256(word.encode()).hexdigest()


def put(cache, name, data):
    unihash = re.search(r":([0-9a-f]{64})_", name).group(1)
    d = cache / unihash[:2] / unihash[2:4]
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return str(d / name)


def siginfo(task, unihash, deps, pn=PN, kernel=False):
    varvals = {"KERNEL_IMAGETYPES": "bzImage"} if kernel else {"PN": pn}
    return zstd(json.dumps({"task": task, "taskhash": unihash, "unihash": unihash,
                            "runtaskdeps": sorted("%s:%s" % (pn, t) for t in deps),
                            "runtaskhashes": {"%s:%s" % (pn, t): v for t, v in deps.items()},
                            "varvals": varvals}).encode())


def obj(cache, task, unihash, members, deps, pn=PN, spec=SPEC, sig=True, kernel=False, data=None):
    name = "sstate:%s:%s:%s_%s.tar.zst" % (pn, spec, unihash, task)
    path = put(cache, name, data if data is not None else zstd(tar_bytes(members)))
    if sig:
        put(cache, name + ".siginfo", siginfo("do_" + task, unihash, deps, pn, kernel))
    return path


def kernel_cache(cache, deploy, package, rpm=None, records=True, sig=True, compile_word="c1",
                 pn=PN):
    """A kernel's group objects of one compile: do_deploy holding a kernel of
    build-id ``deploy``, do_package / do_packagedata / do_package_write_rpm
    of ``package`` (``rpm``: the rpm object's, default ``package``), with the
    siginfo of do_install (which names do_compile) -> {task: object path}."""
    rpm = package if rpm is None else rpm
    hx = {t: h(compile_word + pn + t) for t in ("compile", "install", "deploy", "package",
                                               "packagedata", "package_write_rpm", "create_spdx")}
    if sig:
        put(cache, "sstate:%s:%s:%s_install.tar.zst.siginfo" % (pn, SPEC, hx["install"]),
            siginfo("do_install", hx["install"], {"do_compile": hx["compile"]}, pn))

    def rec(bid):
        return [("./x/kernel-repro/%s.buildid" % pn, fa.record(bid.hex(), pn))] if records else []
    elf_d, elf_p, elf_r = fa.crafted_elf(deploy), fa.crafted_elf(package), fa.crafted_elf(rpm)
    out = {}
    out["deploy"] = obj(cache, "deploy", hx["deploy"], [
        ("./deploy-%s/bzImage-6.1.bin" % pn, elf_d), ("./deploy-%s/bzImage" % pn, None, "bzImage-6.1.bin")]
        + rec(deploy), {"do_install": hx["install"], "do_packagedata": hx["packagedata"]}, pn, sig=sig,
        kernel=True)
    out["package"] = obj(cache, "package", hx["package"], [
        ("./package/boot/vmlinux-6.1", elf_p), ("./package/boot/.debug/vmlinux-6.1", elf_p)]
        + rec(package), {"do_install": hx["install"]}, pn, sig=sig, kernel=True)
    out["packagedata"] = obj(cache, "packagedata", hx["packagedata"],
                             [("./pkgdata/runtime/kernel-vmlinux", b"PKG: kernel-vmlinux\n")] + rec(package),
                             {"do_package": hx["package"]}, pn, sig=sig)
    rpmfile = rpm_bytes(newc([("./boot/vmlinux-6.1", FILE, elf_r)]), "none", "kernel-vmlinux-6.1")
    out["package_write_rpm"] = obj(cache, "package_write_rpm", hx["package_write_rpm"], [
        ("./deploy-rpms/q/kernel-vmlinux-6.1-r0.q.rpm", rpmfile)] + rec(rpm),
        {"do_package": hx["package"], "do_packagedata": hx["packagedata"]}, pn, sig=sig)
    out["create_spdx"] = obj(cache, "create_spdx", hx["create_spdx"], [("./spdx/x.json", b"{}")],
                             {"do_package": hx["package"]}, pn, sig=sig)
    return out


def other_recipe(cache):
    """A recipe that is not a kernel (its do_package object must never be read or deleted)."""
    return obj(cache, "package", h("busybox"), [("./package/bin/busybox", fa.crafted_elf(B))], {},
               pn="busybox", spec="core2-64-oe-linux:1.0:r0:core2-64:14")


def files(cache):
    return sorted(os.path.relpath(os.path.join(d, f), cache) for d, _, fs in os.walk(cache) for f in fs)


def mixed_groups(r):
    return sum(1 for line in r.stdout.splitlines() if line.startswith("MIXED "))


def audit(*args, code=None):
    r = run_cli("sstate-audit", *args)
    assert "Traceback" not in r.stderr, r.stderr
    if code is not None:
        assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    return r


# ---------------------------------------------------------------- verdicts

@pytest.mark.parametrize("records", [True, False], ids=["layer-records", "pre-layer-kernels"])
def test_clean_cache_is_clean_and_mixed_one_is_not(tmp_path, records):
    clean, mixed = tmp_path / "clean", tmp_path / "mixed"
    kernel_cache(clean, A, A, records=records)
    other_recipe(clean)
    got = kernel_cache(mixed, A, B, records=records)
    other_recipe(mixed)
    r = audit(clean, code=0)
    assert r.stdout.startswith("clean: 1 kernel compile group (%s)" % PN), r.stdout
    assert "MIXED" not in r.stdout and r.stderr == ""
    r = audit(mixed, code=1)
    assert "MIXED %s, do_compile %s" % (PN, h("c1" + PN + "compile")[:16]) in r.stdout, r.stdout
    assert "build-id %s: do_deploy\n" % A.hex() in r.stdout
    # a pre-layer packagedata object holds no kernel: it does not vote, but goes with its group
    tasks = "do_package do_packagedata do_package_write_rpm" if records else \
        "do_package do_package_write_rpm"
    assert "build-id %s: %s\n" % (B.hex(), tasks) in r.stdout
    delete = r.stdout.split("delete (all 5 objects of the group, with their .siginfo):\n")[1]
    for p in got.values():
        assert "    %s\n" % p in delete
    assert "busybox" not in r.stdout
    assert r.stderr == ""       # not a terminal: no progress line


def test_rpm_holding_another_compile_is_named(tmp_path):
    """The packaged rpm (read inside the package_write_rpm object) from a third run."""
    kernel_cache(tmp_path / "c", A, A, rpm=B, records=False)
    r = audit(tmp_path / "c", code=1)
    assert "build-id %s: do_package_write_rpm\n" % B.hex() in r.stdout
    assert "build-id %s: do_deploy do_package\n" % A.hex() in r.stdout


def test_two_compiles_with_their_own_kernels_are_two_clean_groups(tmp_path):
    """Different kernels from different do_compile hashes are not a mix (control of the grouping)."""
    kernel_cache(tmp_path / "c", A, A, compile_word="one")
    kernel_cache(tmp_path / "c", B, B, compile_word="two")
    r = audit(tmp_path / "c", code=0)
    assert r.stdout.startswith("clean: 2 kernel compile groups"), r.stdout
    kernel_cache(tmp_path / "c", B, A, compile_word="three")
    r = audit(tmp_path / "c", code=1)
    assert mixed_groups(r) == 1 and h("three" + PN + "compile")[:16] in r.stdout


def test_without_siginfo_groups_by_name_and_says_so(tmp_path):
    kernel_cache(tmp_path / "c", A, B, sig=False)
    r = audit(tmp_path / "c", code=1)
    assert "MIXED %s, name %s (no siginfo)" % (PN, SPEC) in r.stdout
    assert "note: 5 %s objects without a readable siginfo: grouped by name" % PN in r.stdout
    assert "taken as kernel recipes by name" in r.stdout
    kernel_cache(tmp_path / "d", A, A, sig=False)
    assert audit(tmp_path / "d", code=0).stdout.splitlines()[-1].startswith("clean: 1")


def test_pickled_siginfo_is_never_unpickled(tmp_path):
    """BitBake's old pickle siginfo: grouped by name; a pickle that would run
    code when loaded runs none."""
    got = kernel_cache(tmp_path / "c", A, B)
    marker = tmp_path / "pwned"
    evil = b"\x80\x04cos\nsystem\n(V touch %s\ntR." % str(marker).encode()
    for p in got.values():
        with open(p + ".siginfo", "wb") as f:
            f.write(evil)
    r = audit(tmp_path / "c", "--pn", PN, code=1)
    assert "(no siginfo)" in r.stdout and not marker.exists()


def test_json(tmp_path):
    got = kernel_cache(tmp_path / "c", A, B)
    r = audit(tmp_path / "c", "--json", code=1)
    rep = json.loads(r.stdout)
    assert rep["mixed"] == 1 and rep["recipes"] == [PN]
    g, = rep["groups"]
    assert g["mixed"] and g["basis"] == "do_compile" and g["key"] == h("c1" + PN + "compile")
    assert g["build_ids"] == {A.hex(): [got["deploy"]],
                              B.hex(): [got["package"], got["packagedata"], got["package_write_rpm"]]}
    assert g["delete"] == sorted(got.values())
    clean = tmp_path / "d"
    kernel_cache(clean, A, A)
    rep = json.loads(audit(clean, "--json", code=0).stdout)
    assert rep["mixed"] == 0 and not rep["groups"][0]["mixed"] and rep["groups"][0]["delete"] == []


# ---------------------------------------------------------------- --delete

def test_delete_removes_exactly_the_named_objects(tmp_path):
    cache = tmp_path / "c"
    got = kernel_cache(cache, A, B)
    kernel_cache(cache, A, A, compile_word="good")      # another compile, clean: kept
    other_recipe(cache)
    (cache / "hashserv.db").write_bytes(b"x")
    before = files(cache)
    r = audit(cache, "--delete", code=1)
    gone = sorted(set(before) - set(files(cache)))
    want = sorted(os.path.relpath(p + ext, cache) for p in got.values() for ext in ("", ".siginfo"))
    assert gone == want
    for p in want:
        assert "deleted %s\n" % os.path.join(str(cache), p) in r.stdout
    assert not set(files(cache)) - set(before)
    # afterwards: clean; and --delete on a clean cache deletes nothing (control)
    before = files(cache)
    r = audit(cache, "--delete", code=0)
    assert "deleted" not in r.stdout and files(cache) == before


def test_delete_refuses_a_url_before_reading_anything(tmp_path):
    cache = tmp_path / "c"
    kernel_cache(cache, A, B)
    before = files(cache)
    for url in ("file://%s" % cache, "http://127.0.0.1:9/"):
        r = audit(url, "--delete")
        assert_error(r, "local SSTATE_DIRs only")
    assert files(cache) == before
    assert mixed_groups(audit("file://%s" % cache, code=1)) == 1     # read it may


def test_delete_removes_a_link_not_its_target(tmp_path):
    """An object that is a symbolic link into a mirror (OE-Core's file://
    mirror fetch leaves such links): the link goes, the mirror's file stays."""
    mirror, cache = tmp_path / "mirror", tmp_path / "c"
    got = kernel_cache(mirror, A, B)
    shutil.copytree(mirror, cache, symlinks=True)
    for p in got.values():
        local = os.path.join(cache, os.path.relpath(p, mirror))
        os.unlink(local)
        os.symlink(p, local)
    before = files(mirror)
    audit(cache, "--delete", code=1)
    assert files(mirror) == before


# ---------------------------------------------------------------- hostile

def _hostile(cache, kind):
    got = kernel_cache(cache, A, A)
    p = got["deploy"]
    if kind == "traversal":
        data = zstd(tar_bytes([("../../evil/bzImage", fa.crafted_elf(A))]))
    elif kind == "bomb":
        data = zstd_rle_tar("./deploy/bzImage", 3 << 30)
    elif kind == "truncated":
        with open(p, "rb") as f:
            data = f.read()[:-40]
    elif kind == "not-zstd":
        data = b"this is not an archive at all" * 100
    elif kind.startswith("siginfo"):
        with open(p + ".siginfo", "wb") as f:
            f.write(zstd(b"{not json") if kind == "siginfo" else zstd(b" " * (80 << 20)))
        return
    with open(p, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("kind,needle", [("traversal", "path traversal"), ("bomb", "limit"),
                                         ("truncated", "truncated"), ("not-zstd", "not a tar archive"),
                                         ("siginfo", "not a BitBake siginfo"),
                                         ("siginfo-bomb", "limit")])
def test_hostile_object_is_one_line_exit_2(tmp_path, kind, needle):
    clean = tmp_path / "clean"
    kernel_cache(clean, A, A)
    audit(clean, code=0)                                   # control
    cache = tmp_path / "c"
    _hostile(cache, kind)
    r = audit(cache, "--max-size", "64M")
    assert_error(r, needle)
    assert not (tmp_path / "evil").exists()


def test_max_size_from_the_environment_bounds_the_audit(tmp_path):
    cache = tmp_path / "c"
    _hostile(cache, "bomb")
    r = subprocess.run(CLI + ["sstate-audit", str(cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=dict(os.environ, KERNEL_REPRO_MAX_SIZE="32M"), timeout=120)
    assert_error(r, "33554432-byte limit")


# ---------------------------------------------------------------- http

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(directory):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                              functools.partial(_Quiet, directory=str(directory)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return "http://127.0.0.1:%d/" % srv.server_address[1]
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_http_mirror_crawled_and_by_index(tmp_path, serve):
    mixed, clean = tmp_path / "mixed", tmp_path / "clean"
    got = kernel_cache(mixed, A, B)
    other_recipe(mixed)
    kernel_cache(clean, A, A)
    url = serve(mixed)
    before = files(mixed)
    r = audit(url, code=1)
    for p in got.values():
        assert url + os.path.relpath(p, mixed) in r.stdout
    assert "build-id %s: do_deploy\n" % A.hex() in r.stdout
    assert audit(serve(clean), code=0).stdout.startswith("clean: 1 kernel compile group")
    index = tmp_path / "index.txt"
    index.write_text("# the mirror's objects\n" + "\n".join(
        os.path.basename(f) if i % 2 else f for i, f in enumerate(files(mixed))) + "\n")
    r2 = audit(url, "--index", index, code=1)
    assert r2.stdout == r.stdout
    assert files(mixed) == before      # nothing written to the served cache


def test_http_mirror_errors_are_one_line(tmp_path, serve):
    index = tmp_path / "index.txt"
    index.write_text("../../etc/passwd\n")
    assert_error(audit(serve(tmp_path), "--index", index), "not a path below the cache")
    assert_error(audit("http://127.0.0.1:9/"), "127.0.0.1")
    assert_error(audit("ftp://example.org/sstate"), "only a directory")


def test_library_returns_data(tmp_path):
    kernel_cache(tmp_path / "c", A, B)
    seen = []
    rep = sstateaudit.audit([str(tmp_path / "c")], progress=lambda *a: seen.append(a))
    assert rep["mixed"] == 1 and seen[-1][:2] == (5, 5)
    assert sstateaudit.format_report(rep)[-1].startswith("1 of 1 kernel compile groups MIXED")


def test_progress_on_a_terminal_only(tmp_path):
    """A progress line on stderr when it is a terminal (20+ objects to read);
    none otherwise (the other tests: stderr is empty)."""
    import pty
    for i in range(4):
        kernel_cache(tmp_path / "c", A, A, compile_word="run%d" % i)
    master, slave = pty.openpty()
    try:
        r = subprocess.run(CLI + ["sstate-audit", str(tmp_path / "c")], stdout=subprocess.PIPE,
                           stderr=slave, text=True, timeout=120)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    assert r.returncode == 0, r
    assert b"sstate-audit: object 20 of 20" in err and b"Traceback" not in err
    assert "object" not in audit(tmp_path / "c", code=0).stderr


def test_real_kernels_without_records(tmp_path, plain_a, plain_b):
    """Pre-layer objects holding the fixture kernels themselves: a bzImage
    in do_deploy, vmlinux in do_package; the build-ids are the kernels'
    (readelf's for the vmlinux)."""
    from conftest import readelf_build_id
    with open(plain_a.path("bzImage"), "rb") as f:
        bz_a = f.read()
    ids = {}
    for name, fx in (("a", plain_a), ("b", plain_b)):
        ids[name] = readelf_build_id(fx.path("vmlinux"))
    assert ids["a"] != ids["b"]
    for case, vm in (("clean", plain_a), ("mixed", plain_b)):
        cache = tmp_path / case
        hi, hd, hp = h(case + "install"), h(case + "deploy"), h(case + "package")
        put(cache, "sstate:%s:%s:%s_install.tar.zst.siginfo" % (PN, SPEC, hi),
            siginfo("do_install", hi, {"do_compile": h("compile")}))
        obj(cache, "deploy", hd, [("./deploy-%s/bzImage-6.1.bin" % PN, bz_a)], {"do_install": hi},
            kernel=True)
        with open(vm.path("vmlinux"), "rb") as f:
            obj(cache, "package", hp, [("./package/boot/vmlinux-6.1", f.read())], {"do_install": hi},
                kernel=True)
    assert audit(tmp_path / "clean", code=0).stdout.splitlines()[-1].startswith("clean: 1")
    r = audit(tmp_path / "mixed", code=1)
    assert "build-id %s: do_deploy\n" % ids["a"] in r.stdout
    assert "build-id %s: do_package\n" % ids["b"] in r.stdout


def test_fifos_and_directory_links_are_never_opened(tmp_path):
    """A FIFO named like an object or a siginfo would hang a reader: it is
    not listed; a link to a directory outside is not entered."""
    cache = tmp_path / "c"
    got = kernel_cache(cache, A, A)
    os.unlink(got["package"] + ".siginfo")
    os.mkfifo(got["package"] + ".siginfo")
    fifo = os.path.join(os.path.dirname(got["deploy"]), "sstate:%s:%s:%s_deploy.tar.zst" % (PN, SPEC, "e" * 64))
    os.mkfifo(fifo)
    outside = tmp_path / "outside"
    kernel_cache(outside, A, B, compile_word="elsewhere")
    os.symlink(outside, cache / "zz")
    r = subprocess.run(CLI + ["sstate-audit", str(cache)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r
    assert "MIXED" not in r.stdout and "elsewhere" not in r.stdout
