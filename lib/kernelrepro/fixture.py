# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Build small real kernels from Debian's linux-source for tests and the demo.

A fixture is one kernel build, named ``<arch>-<mode>-<variant>``:

* ``arch``: ``x86_64`` (debug info DWARF5, BTF, kallsyms, kheaders, two
  modules, EFI stub, boots in qemu with a serial console) or ``arm64``
  (cross-built: Image, Image.gz and an EFI zboot vmlinuz.efi);
* ``mode``: ``plain`` (what a developer gets by default) or ``repro`` (the
  settings ``kernel-repro env`` prints);
* ``variant``: ``a`` or ``b`` -- b is built from another, longer path, later.

Results are cached outside the repository, keyed by everything that goes
into the build (source tarball, config, toolchain and pahole versions, this
module's recipe), so a warm machine never rebuilds. The cache directory is
``$KERNEL_REPRO_CACHE`` or ``~/.cache/kernel-repro``.
"""

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from .errors import KernelReproError

#: Bump when the build recipe below changes in a way that changes outputs.
RECIPE_VERSION = "3"

#: A fixed SOURCE_DATE_EPOCH for reproducible fixture builds (2023-11-14).
FIXTURE_SOURCE_DATE_EPOCH = 1700000000

LINUX_SOURCE_GLOB = "/usr/src/linux-source-*.tar.xz"

CONFIG_FRAGMENTS = {
    "x86_64": """\
CONFIG_64BIT=y
CONFIG_PRINTK=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
CONFIG_DEBUG_KERNEL=y
CONFIG_DEBUG_INFO_DWARF5=y
CONFIG_DEBUG_INFO_BTF=y
CONFIG_BPF_SYSCALL=y
CONFIG_KALLSYMS=y
CONFIG_KALLSYMS_ALL=y
CONFIG_IKHEADERS=y
CONFIG_CRC7=m
CONFIG_CRC_ITU_T=m
CONFIG_ACPI=y
CONFIG_EFI=y
CONFIG_EFI_STUB=y
CONFIG_KERNEL_XZ=y
# CONFIG_LOCALVERSION_AUTO is not set
""",
    "arm64": """\
CONFIG_PRINTK=y
CONFIG_TTY=y
CONFIG_BINFMT_ELF=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_KALLSYMS=y
CONFIG_EFI=y
CONFIG_EFI_ZBOOT=y
CONFIG_KERNEL_GZIP=y
# CONFIG_LOCALVERSION_AUTO is not set
""",
}

ARCH_MAKE = {
    "x86_64": {"args": ["ARCH=x86_64"], "targets": ["bzImage", "modules"]},
    "arm64": {"args": ["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"],
              "targets": ["Image", "Image.gz", "vmlinuz.efi"]},
}

ARTIFACTS = {
    "x86_64": {"vmlinux": "vmlinux", "System.map": "System.map", "config": ".config",
               "bzImage": "arch/x86/boot/bzImage",
               "kheaders_data.tar.xz": "kernel/kheaders_data.tar.xz"},
    "arm64": {"vmlinux": "vmlinux", "System.map": "System.map", "config": ".config",
              "Image": "arch/arm64/boot/Image", "Image.gz": "arch/arm64/boot/Image.gz",
              "vmlinuz.efi": "arch/arm64/boot/vmlinuz.efi"},
}

#: Where each variant builds, below the build root: b is longer and elsewhere.
VARIANT_PATHS = {
    "a": "kr-a/linux",
    "b": "kr-b-another-builder/with/a/much/longer/build/path/linux-src",
}

MODES = ("plain", "repro")


def default_cache_dir():
    return os.environ.get("KERNEL_REPRO_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "kernel-repro")


def find_linux_source():
    """The newest Debian linux-source tarball, or raise with the apt command."""
    override = os.environ.get("KERNEL_REPRO_LINUX_SOURCE")
    cands = [override] if override else sorted(glob.glob(LINUX_SOURCE_GLOB))
    cands = [c for c in cands if c and os.path.isfile(c)]
    if not cands:
        raise KernelReproError(
            "no Debian kernel source found (%s); install it with: "
            "apt-get install linux-source-6.1" % (override or LINUX_SOURCE_GLOB))
    return cands[-1]


def _tool_version(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30).stdout
        return out.splitlines()[0].strip() if out else ""
    except (OSError, subprocess.SubprocessError):
        return "missing"


def _file_digest(path):
    st = os.stat(path)
    # Debian's tarball is 130+ MiB; name+size+mtime identify the package build.
    return "%s:%d:%d" % (os.path.basename(path), st.st_size, int(st.st_mtime))


def fixture_key(arch, mode, variant, source):
    cross = ARCH_MAKE[arch]["args"]
    cc = "aarch64-linux-gnu-gcc" if arch == "arm64" else "gcc"
    parts = [RECIPE_VERSION, arch, mode, variant, _file_digest(source),
             CONFIG_FRAGMENTS[arch], " ".join(cross), _tool_version([cc, "--version"]),
             _tool_version(["pahole", "--version"]), _tool_version(["ld", "--version"])]
    if mode == "repro":
        parts.append(str(FIXTURE_SOURCE_DATE_EPOCH))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class Fixture:
    """A built kernel in the cache: ``path(name)`` gives an artifact."""

    def __init__(self, directory):
        self.dir = directory
        with open(os.path.join(directory, "meta.json")) as f:
            self.meta = json.load(f)
        self.name = self.meta["name"]

    def path(self, artifact):
        return os.path.join(self.dir, artifact)

    @property
    def modules(self):
        return sorted(glob.glob(os.path.join(self.dir, "modules", "*.ko")))

    def __repr__(self):
        return "Fixture(%s at %s)" % (self.name, self.dir)


#: The x86_64 fixture artifacts compared byte for byte (modules come on top).
COMPARED_ARTIFACTS = ("vmlinux", "bzImage", "kheaders_data.tar.xz")


def compare_builds(fa, fb):
    """Byte comparison of everything two x86_64 fixture builds produced.

    -> {artifact: same?}, with ``modules/<name>.ko`` entries (a module only
    one build has counts as different).
    """
    from .image import sha256_file
    out = {}
    for art in COMPARED_ARTIFACTS:
        out[art] = sha256_file(fa.path(art)) == sha256_file(fb.path(art))
    mods_a = {os.path.basename(m): m for m in fa.modules}
    mods_b = {os.path.basename(m): m for m in fb.modules}
    for name in sorted(set(mods_a) | set(mods_b)):
        out["modules/" + name] = (name in mods_a and name in mods_b
                                  and sha256_file(mods_a[name]) == sha256_file(mods_b[name]))
    return out


def _say(progress, msg):
    if progress:
        progress(msg)


#: A kbuild line for one object compiled or assembled ("  CC      kernel/fork.o",
#: "  CC [M]  fs/x.o", "  AS      arch/x86/entry/entry_64.o").
KBUILD_OBJECT_RE = re.compile(rb"^\s+(?:CC|AS)(?: \[M\])?\s+\S")


def _clock_text(seconds):
    seconds = max(0, int(seconds))
    return "%d:%02d" % (seconds // 60, seconds % 60)


def format_progress(done, expected, elapsed):
    """One progress line: objects compiled / expected, elapsed, ETA (no ETA without expected)."""
    if not expected:
        return "%d objects compiled, %s elapsed" % (done, _clock_text(elapsed))
    pct = min(99, 100 * done // expected) if done < expected else 99
    if done >= expected:
        eta = "almost done"
    elif done:
        eta = "ETA %s" % _clock_text(elapsed * (expected - done) / done)
    else:
        eta = "ETA unknown"
    return "%d/%d objects compiled (%d%%), %s elapsed, %s" % (
        done, expected, pct, _clock_text(elapsed), eta)


class BuildProgress:
    """Counts kbuild's CC/AS lines as make prints them and reports progress.

    ``live(text)`` (a terminal) gets the line rewritten at most every
    ``live_interval`` seconds; without it ``say(text)`` gets a plain line
    about every ``interval`` seconds. ``clock`` is injectable for tests.
    """

    def __init__(self, say, live=None, expected=None, clock=time.monotonic, interval=60.0,
                 live_interval=0.5):
        self.say, self.live, self.expected, self.clock = say, live, expected, clock
        self.interval, self.live_interval = interval, live_interval
        self.done = 0
        self.t0 = self.last = clock()

    def line(self, raw):
        if KBUILD_OBJECT_RE.match(raw):
            self.done += 1
            self.tick()

    def tick(self):
        now = self.clock()
        if now - self.last >= (self.live_interval if self.live else self.interval):
            self.last = now
            self._emit(now)

    def _emit(self, now):
        text = format_progress(self.done, self.expected, now - self.t0)
        (self.live or self.say)(text)

    def finish(self):
        if self.live:
            self._emit(self.clock())
            self.live(None)     # end the live line


def _expected_objects_path(final):
    """Where the object count of the last build of this fixture (any key) is kept."""
    name = os.path.basename(final).rsplit("-", 1)[0]
    return os.path.join(os.path.dirname(final), name + ".objects")


def _read_expected_objects(final):
    try:
        with open(_expected_objects_path(final)) as f:
            n = int(f.read().strip())
        return n if n > 0 else None
    except (OSError, ValueError):
        return None


def _write_expected_objects(final, n):
    if n <= 0:
        return
    path = _expected_objects_path(final)
    try:
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % n)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def _run(argv, log, cwd, env, what, on_line=None):
    """Run one build step, its output to ``log``, each line also to ``on_line``."""
    with open(log, "ab") as lf:
        lf.write(("$ %s\n" % " ".join(argv)).encode())
        lf.flush()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            for raw in p.stdout:
                lf.write(raw)
                if on_line:
                    on_line(raw)
            p.stdout.close()
            returncode = p.wait()
        except BaseException:
            p.kill()
            p.wait()
            raise
    if returncode != 0:
        with open(log, errors="replace") as lf:
            tail = lf.read()[-3000:]
        raise KernelReproError("fixture build step '%s' failed (exit %d); log: %s\n%s"
                               % (what, returncode, log, tail))


def repro_env_for(srctree):
    """The reproducible settings for a plain kernel build, as the CLI prints them.

    Runs ``kernel-repro env --format json`` (the user-facing path), so the
    fixture proves the command, not just the library function.
    """
    lib = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=lib + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-m", "kernelrepro", "env", "--srctree", srctree,
         "--source-date-epoch", str(FIXTURE_SOURCE_DATE_EPOCH), "--format", "json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise KernelReproError("kernel-repro env failed: %s" % out.stderr.strip())
    return json.loads(out.stdout)["variables"]


def _cache_entry(arch, mode, variant, cache_dir):
    """(name, key, source, cache directory) of one fixture kernel."""
    if arch not in CONFIG_FRAGMENTS:
        raise KernelReproError("unknown fixture arch %r (known: %s)" % (arch, ", ".join(CONFIG_FRAGMENTS)))
    if mode not in MODES or variant not in VARIANT_PATHS:
        raise KernelReproError("unknown fixture mode/variant %r/%r" % (mode, variant))
    source = find_linux_source()
    name = "%s-%s-%s" % (arch, mode, variant)
    key = fixture_key(arch, mode, variant, source)
    final = os.path.join(cache_dir or default_cache_dir(), "fixtures", "%s-%s" % (name, key))
    return name, key, source, final


def cached(arch="x86_64", mode="plain", variant="a", cache_dir=None):
    """The fixture kernel if it is already in the cache, else None (never builds)."""
    try:
        final = _cache_entry(arch, mode, variant, cache_dir)[3]
    except KernelReproError:
        return None
    return Fixture(final) if os.path.exists(os.path.join(final, "meta.json")) else None


def build(arch="x86_64", mode="plain", variant="a", cache_dir=None, jobs=None,
          progress=None, build_root=None, force=False):
    """Build (or fetch from the cache) one fixture kernel; returns a Fixture."""
    name, key, source, final = _cache_entry(arch, mode, variant, cache_dir)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    lock_path = final + ".lock"
    with open(lock_path, "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(final, "meta.json")) and not force:
            _say(progress, "%s: cached (%s)" % (name, final))
            return Fixture(final)
        shutil.rmtree(final, ignore_errors=True)
        return _build(arch, mode, variant, name, key, source, final, jobs, progress, build_root)


def _build(arch, mode, variant, name, key, source, final, jobs, progress, build_root):
    jobs = jobs or os.cpu_count() or 1
    build_root = build_root or os.environ.get("KERNEL_REPRO_BUILD_ROOT") or "/var/tmp"
    top = tempfile.mkdtemp(prefix="kernel-repro-fixture-", dir=build_root)
    tree = os.path.join(top, VARIANT_PATHS[variant])
    staging = final + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    log = os.path.join(staging, "build.log")
    t0 = time.time()
    try:
        _say(progress, "%s: unpacking %s" % (name, os.path.basename(source)))
        os.makedirs(os.path.dirname(tree))
        with tarfile.open(source) as tf:
            top_member = tf.next().name.split("/")[0]
        _run(["tar", "xf", source, "-C", os.path.dirname(tree)], log, top, None, "unpack")
        os.rename(os.path.join(os.path.dirname(tree), top_member), tree)

        env = dict(os.environ, LC_ALL="C")
        for k in list(env):
            if k.startswith("KBUILD_") or k in ("KCFLAGS", "KAFLAGS", "SOURCE_DATE_EPOCH",
                                                "KERNEL_REPRO_PAHOLE", "KERNEL_REPRO_PAHOLE_MODE"):
                del env[k]
        make = ["make", "-j%d" % jobs] + ARCH_MAKE[arch]["args"]
        settings = {}
        if mode == "repro":
            settings = repro_env_for(tree)
        make_vars = ["%s=%s" % (k, v) for k, v in settings.items()
                     if not k.startswith("KERNEL_REPRO_")]
        env.update({k: v for k, v in settings.items() if k.startswith("KERNEL_REPRO_")})

        _say(progress, "%s: configuring (tinyconfig + fragment)" % name)
        with open(os.path.join(tree, "fixture.config"), "w") as f:
            f.write(CONFIG_FRAGMENTS[arch])
        _run(make + make_vars + ["tinyconfig"], log, tree, env, "tinyconfig")
        _run(["scripts/kconfig/merge_config.sh", "-m", ".config", "fixture.config"],
             log, tree, dict(env, ARCH=ARCH_MAKE[arch]["args"][0].split("=")[1]), "merge_config")
        _run(make + make_vars + ["olddefconfig"], log, tree, env, "olddefconfig")
        check_config(tree, CONFIG_FRAGMENTS[arch])

        _say(progress, "%s: compiling %s with -j%d (a few minutes)" % (
            name, " ".join(ARCH_MAKE[arch]["targets"]), jobs))
        tb = time.time()
        bp = BuildProgress(lambda m: _say(progress, "%s: %s" % (name, m)),
                           live=getattr(progress, "live", None),
                           expected=_read_expected_objects(final))
        try:
            _run(make + make_vars + ARCH_MAKE[arch]["targets"], log, tree, env, "build",
                 on_line=bp.line)
        finally:
            bp.finish()
        build_seconds = time.time() - tb
        _write_expected_objects(final, bp.done)

        produced = {}
        for art, rel in ARTIFACTS[arch].items():
            src = os.path.join(tree, rel)
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(staging, art))
                produced[art] = rel
        mods = []
        for dirpath, _dirs, files in os.walk(tree):
            for fn in files:
                if fn.endswith(".ko"):
                    os.makedirs(os.path.join(staging, "modules"), exist_ok=True)
                    shutil.copy2(os.path.join(dirpath, fn), os.path.join(staging, "modules", fn))
                    mods.append(os.path.relpath(os.path.join(dirpath, fn), tree))
        meta = {"name": name, "arch": arch, "mode": mode, "variant": variant, "key": key,
                "source": source, "tree": tree, "built_at": int(t0),
                "build_seconds": round(build_seconds, 1),
                "total_seconds": round(time.time() - t0, 1), "jobs": jobs,
                "settings": settings, "artifacts": produced, "modules": sorted(mods)}
        with open(os.path.join(staging, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        os.rename(staging, final)
        _say(progress, "%s: built in %.0f s" % (name, time.time() - t0))
        return Fixture(final)
    finally:
        if not os.environ.get("KERNEL_REPRO_KEEP_TREES"):
            shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def check_config(tree, fragment):
    """Fail loudly when Kconfig dropped a requested option (the fixture lies otherwise)."""
    with open(os.path.join(tree, ".config")) as f:
        have = set(line.strip() for line in f)
    missing = [line for line in fragment.splitlines()
               if line.startswith("CONFIG_") and line not in have]
    if missing:
        raise KernelReproError("fixture config lost options after olddefconfig: %s"
                               % ", ".join(missing))


def main(argv=None):
    """``python -m kernelrepro.fixture [ARCH-MODE-VARIANT ...]``: prebuild fixtures."""
    import argparse
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("names", nargs="*", default=["x86_64-plain-a"])
    p.add_argument("--jobs", type=int)
    args = p.parse_args(argv)
    for n in args.names:
        try:
            arch, mode, variant = n.rsplit("-", 2)
            fx = build(arch, mode, variant, jobs=args.jobs,
                       progress=lambda m: print("[fixture] " + m, file=sys.stderr, flush=True))
        except (KernelReproError, ValueError) as e:
            print("kernel-repro fixture: error: %s" % e, file=sys.stderr)
            return 2
        print(fx.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
