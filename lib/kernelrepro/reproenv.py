# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The settings that make a kernel build reproducible, from plain inputs.

One implementation serves the bbclass (through kernelrepro.bbadapter), the
``kernel-repro env`` command for plain kernel builds, the fixture builder of
the test suite and the demo.

Sources of non-reproducibility handled here:

* the build timestamp baked into ``uname -v``, the banner and kheaders
  (KBUILD_BUILD_TIMESTAMP, from SOURCE_DATE_EPOCH, in the format of
  ``LC_ALL=C date -d @EPOCH`` as OE-Core's kernel.bbclass uses);
* ``user@host`` in the banner (KBUILD_BUILD_USER / KBUILD_BUILD_HOST);
* the ``#N`` build counter (KBUILD_BUILD_VERSION);
* the absolute source/build path in DWARF, for C *and* assembler sources
  (``-ffile-prefix-map`` in both KCFLAGS and KAFLAGS);
* the .config header timestamp (KCONFIG_NOTIMESTAMP);
* parallel BTF encoding by pahole (see :func:`pahole_mode`).
"""

import os
import re
import shlex
import time

#: pahole modes: how BTF encoding is made deterministic for a pahole version.
PAHOLE_NONE = "none"                # deterministic as is (>= 1.29) or no pahole
PAHOLE_SERIAL = "serial"            # < 1.27: parallel encoding is not stable, drop -j
PAHOLE_REPRODUCIBLE = "reproducible_build"  # 1.27, 1.28: ask for it explicitly

#: The flag pahole 1.27+ understands. The leading '+' means "the default
#: feature set plus this one" (dwarves: "pahole: Introduce
#: --btf_features=+extra_features syntax", Arnaldo Carvalho de Melo,
#: 2024-04-19); a plain --btf_features=LIST starts from the initial values
#: (init_btf_features() in pahole.c) and enables only LIST, so
#: "--btf_features=reproducible_build" alone would drop the standard features
#: when the kernel passes none itself (scripts/pahole-flags.sh kernels).
#: Several --btf_features options accumulate, so appending it after the
#: kernel's own list (scripts/Makefile.btf kernels) is safe.
PAHOLE_REPRO_FLAG = "--btf_features=+reproducible_build"

DEFAULT_PREFIX = "/usr/src/kernel"
DEFAULT_USER = "kernel-repro"
DEFAULT_HOST = "kernel-repro"

_PAHOLE_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)")


def parse_pahole_version(text):
    """``'v1.24'`` (what ``pahole --version`` prints) -> ``(1, 24)``.

    Raises ValueError on text that carries no version.
    """
    m = _PAHOLE_VERSION_RE.search(text or "")
    if not m:
        raise ValueError("not a pahole version: %r" % (text,))
    return int(m.group(1)), int(m.group(2))


def pahole_mode(version):
    """Decide how to make BTF encoding deterministic for a pahole version.

    ``version`` is a ``(major, minor)`` tuple or None (no pahole / BTF off).
    """
    if version is None:
        return PAHOLE_NONE
    if version < (1, 27):
        return PAHOLE_SERIAL
    if version < (1, 29):
        return PAHOLE_REPRODUCIBLE
    return PAHOLE_NONE


#: The latest SOURCE_DATE_EPOCH taken: the last second of the year 9999. The
#: timestamp made from it goes through ``date -d`` and ``tar --mtime``
#: (kheaders), which read four-digit years; far larger values overflow
#: time_t (OverflowError, OSError from gmtime).
MAX_SOURCE_DATE_EPOCH = 253402300799

_EPOCH_RE = re.compile(r"-?[0-9]+")


def parse_source_date_epoch(value, what="SOURCE_DATE_EPOCH"):
    """``value`` (an int, or its text as ``date +%s`` prints it) -> int.

    Decimal ASCII digits only (no sign but a minus, no fraction, exponent,
    underscore or other script's digits), surrounding blanks ignored, 0 to
    MAX_SOURCE_DATE_EPOCH. Else ValueError, one line naming ``what``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        epoch = value
    else:
        text = str(value).strip()
        if not _EPOCH_RE.fullmatch(text):
            raise ValueError("%s must be a whole number of seconds since 1970 (decimal digits, "
                             "as date +%%s prints it), got %r" % (what, value))
        if len(text.lstrip("-")) > 20:
            raise ValueError("%s is too large (%d digits; at most %d, the end of the year 9999)"
                             % (what, len(text.lstrip("-")), MAX_SOURCE_DATE_EPOCH))
        epoch = int(text)
    if epoch < 0:
        raise ValueError("%s must not be negative, got %d" % (what, epoch))
    if epoch > MAX_SOURCE_DATE_EPOCH:
        raise ValueError("%s is too large: %d is after the year 9999 (at most %d)"
                         % (what, epoch, MAX_SOURCE_DATE_EPOCH))
    return epoch


def kbuild_timestamp(source_date_epoch):
    """SOURCE_DATE_EPOCH -> the string ``LC_ALL=C TZ=UTC date -d @EPOCH`` prints.

    The kernel puts this string verbatim into the banner/uname and gives it to
    ``tar --mtime`` for kheaders, so it must be a date both understand.
    ValueError for what parse_source_date_epoch refuses.
    """
    epoch = parse_source_date_epoch(source_date_epoch)
    t = time.gmtime(epoch)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
              "Oct", "Nov", "Dec")
    return "%s %s %2d %02d:%02d:%02d UTC %d" % (
        days[t.tm_wday], months[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min,
        t.tm_sec, t.tm_year)


def prefix_map_flags(paths, prefix=DEFAULT_PREFIX):
    """``-ffile-prefix-map`` options mapping each build path to ``prefix``.

    GCC (and clang >= 15) use the *last* matching option, so the options are
    emitted shortest path first, longest last: a build directory inside the
    source tree is then mapped by its own option, not by the tree's.
    """
    seen = []
    for p in paths:
        if p and p not in seen:
            seen.append(os.path.normpath(p))
    seen.sort(key=len)
    return ["-ffile-prefix-map=%s=%s" % (p, prefix) for p in seen]


def pahole_wrapper_path():
    """The shell wrapper that applies a pahole mode to the kernel's pahole calls."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bin", "pahole")


def make_variables(source_date_epoch, paths=(), user=DEFAULT_USER, host=DEFAULT_HOST,
                   build_version="1", prefix=DEFAULT_PREFIX, pahole=None,
                   pahole_version=None, extra_kcflags="", extra_kaflags=""):
    """The make variables / environment for a reproducible kernel build.

    ``paths``: absolute source and build directories to hide from DWARF.
    ``pahole``: the pahole the build would use (name or path), with its
    ``pahole_version`` tuple; when that version needs help, PAHOLE points to
    the wrapper and KERNEL_REPRO_PAHOLE / KERNEL_REPRO_PAHOLE_MODE tell the
    wrapper what to run and how.

    Returns an ordered dict of name -> value.
    """
    flags = " ".join(prefix_map_flags(paths, prefix))
    kcflags = " ".join(x for x in (flags, extra_kcflags) if x)
    kaflags = " ".join(x for x in (flags, extra_kaflags) if x)
    out = {
        "KBUILD_BUILD_TIMESTAMP": kbuild_timestamp(source_date_epoch),
        "KBUILD_BUILD_USER": user,
        "KBUILD_BUILD_HOST": host,
        "KBUILD_BUILD_VERSION": str(build_version),
        "KCONFIG_NOTIMESTAMP": "1",
    }
    if kcflags:
        out["KCFLAGS"] = kcflags
    if kaflags:
        out["KAFLAGS"] = kaflags
    mode = pahole_mode(pahole_version) if pahole else PAHOLE_NONE
    if mode != PAHOLE_NONE:
        out["PAHOLE"] = pahole_wrapper_path()
        out["KERNEL_REPRO_PAHOLE"] = pahole
        out["KERNEL_REPRO_PAHOLE_MODE"] = mode
    return out


def format_variables(variables, style="shell"):
    """Render make_variables() output: 'shell' exports, 'make' arguments.

    The kernel's Makefile assigns PAHOLE itself, so an exported PAHOLE would
    be ignored: the shell form puts the wrapper (named ``pahole``) first on
    PATH instead.
    """
    if style == "shell":
        lines = []
        for k, v in variables.items():
            if k == "PAHOLE":
                lines.append("export PATH=%s:\"$PATH\"\n" % shlex.quote(os.path.dirname(v)))
            else:
                lines.append("export %s=%s\n" % (k, shlex.quote(v)))
        return "".join(lines)
    if style == "make":
        return " ".join(shlex.quote("%s=%s" % (k, v)) for k, v in variables.items()) + "\n"
    raise ValueError("unknown style %r (use shell or make)" % (style,))


def pahole_version_of(pahole, run=None):
    """Run ``pahole --version`` -> (major, minor), or None when it cannot run."""
    import subprocess  # here: the CLI's start-up does not pay for it
    try:
        out = (run or subprocess.run)([pahole, "--version"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, timeout=30).stdout
        return parse_pahole_version(out)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def git_commit_epoch(srctree):
    """The commit time of the last commit in ``srctree``'s own git repository,
    as the string git prints, or None (no ``.git`` there, git missing or failing).

    Only ``srctree/.git`` counts: a tree unpacked inside another repository
    must not take that repository's date.
    """
    gitdir = os.path.join(srctree, ".git")
    if not os.path.exists(gitdir):
        return None
    import subprocess  # here: the CLI's start-up does not pay for it
    try:
        out = subprocess.run(["git", "--git-dir=%s" % gitdir, "log", "-1", "--format=%ct"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def resolve_source_date_epoch(value, git_epoch=None, fallback=None):
    """The SOURCE_DATE_EPOCH a kernel build uses, as OE-Core's kernel.bbclass picks it.

    Mirrors kernel_do_compile (OE-Core meta/classes-recipe/kernel.bbclass,
    master lines 364-369): a value of "" or "0" means "not set"; then the
    last commit time of the source tree (``git_epoch``, a callable returning
    a string or None), else ``fallback`` (REPRODUCIBLE_TIMESTAMP_ROOTFS).
    Returns an int; raises ValueError when nothing usable is left.
    """
    value = str(value or "").strip()
    if value and value != "0":
        return parse_source_date_epoch(value)
    if git_epoch is not None:
        got = (git_epoch() or "").strip()
        if got:
            return parse_source_date_epoch(got, "the last commit time of the source tree")
    if fallback is not None and str(fallback).strip():
        return parse_source_date_epoch(fallback, "the fallback timestamp")
    raise ValueError("no SOURCE_DATE_EPOCH: the variable is unset, the source tree "
                     "has no git history and no fallback was given")


def _split(words):
    """shlex.split that never raises (unbalanced quotes fall back to whitespace)."""
    try:
        return shlex.split(words or "")
    except ValueError:
        return (words or "").split()


_PREFIX_MAP_RE = re.compile(r"^-f(?:file|debug)-prefix-map=(.*)=(.*)$")


def prefix_maps(command):
    """[(OLD, NEW)] of every ``-ffile-prefix-map``/``-fdebug-prefix-map`` in
    ``command``, OLD normalised, the longest OLD first (the most specific
    map wins, whatever the option order)."""
    maps = []
    for word in _split(command):
        m = _PREFIX_MAP_RE.match(word)
        if m and m.group(1):
            maps.append((os.path.normpath(m.group(1)), m.group(2)))
    return sorted(maps, key=lambda m: -len(m[0]))


def unmapped_paths(command, paths):
    """The ``paths`` that no ``-ffile-prefix-map``/``-fdebug-prefix-map`` in
    ``command`` (a compiler command line, e.g. OE-Core's KERNEL_CC) rewrites.

    A path is covered when an option's OLD part equals it or is one of its
    parent directories. Empty paths are ignored; order is kept.
    """
    olds = [old for old, _new in prefix_maps(command)]
    out = []
    for p in paths:
        if not p:
            continue
        p = os.path.normpath(p)
        if p in out:
            continue
        if not any(p == o or p.startswith(o.rstrip("/") + "/") for o in olds):
            out.append(p)
    return out


def make_override(make_args, name):
    """The value ``name=VALUE`` is given on a make command line (e.g. OE-Core's
    EXTRA_OEMAKE), the last one winning as in make; None when not given."""
    value = None
    for word in _split(make_args):
        if word.startswith(name + "="):
            value = word[len(name) + 1:]
    return value



#: Sources kbuild *generates* with the absolute path of an input written into
#: them, which OE-Core's debug-source package (<pn>-src) then ships:
#: drivers/tty/vt/consolemap_deftbl.c ("conmakehash <srctree>/drivers/tty/vt/
#: cp437.uni" in its header comment, kernels before upstream changed
#: conmakehash in v6.11). Two builders in different directories differ there
#: although every binary is the same (found by oe-selftest case 3 on tier 3).
GENERATED_WITH_PATHS = ("drivers/tty/vt/consolemap_deftbl.c",)


def map_generated_sources(builddir, maps, names=GENERATED_WITH_PATHS):
    """Rewrite the absolute paths in kbuild-generated sources as the
    compiler's prefix ``maps`` (:func:`prefix_maps`) rewrite them in debug
    info; each file keeps its modification time, so make sees nothing new
    and recompiles nothing. -> the files changed."""
    changed = []
    for name in names:
        path = os.path.join(builddir, name)
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        new = data
        for old, rep in maps:
            new = new.replace(old.encode() + b"/", rep.encode() + b"/")
        if new != data:
            tmp = path + ".kernel-repro.tmp"
            with open(tmp, "wb") as f:
                f.write(new)
            os.chmod(tmp, st.st_mode & 0o7777)
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(tmp, path)
            changed.append(path)
    return changed
