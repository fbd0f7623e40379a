# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Where a Yocto build keeps each copy of a kernel, read back as build-ids.

One implementation for the tier-3 tests, the oe-selftest cases and users
who want to audit a build directory or an sstate cache:

* ``package_files(rpm, dest)``: unpack an rpm from the package feed
  (Debian's or OE's ``rpm2cpio`` + ``cpio``; the rpm is only read);
* ``sstate_members(obj, dest, want)``: extract the members of an sstate
  object (``.tar.zst``, ``.tgz``) whose names ``want`` accepts;
* ``kernel_ids_in_files(paths)``: the GNU build-id of every kernel there is
  in a set of files (vmlinux, bzImage, fingerprint records, rpms inside);
* ``sstate_kernel_ids(obj, workdir)``: the same for one sstate object;
* ``task_runs(output, pn)``: which tasks of a recipe a bitbake run really
  ran and which it restored from sstate, from its console output.

Inputs are the build's own outputs; everything is only read, nothing is
executed. Sizes are bounded by the archive members' declared sizes.
"""

import fnmatch
import os
import re
import shutil
import subprocess
import tarfile

from .errors import KernelReproError

#: Files of a kernel recipe that hold a kernel, by basename.
KERNEL_FILE_PATTERNS = ("vmlinux-*", "vmlinux", "bzImage*", "Image*", "zImage*",
                        "vmlinuz*", "fitImage*", "*.buildid")
#: rpm files of a kernel recipe that carry a kernel, by basename.
KERNEL_RPM_PATTERNS = ("kernel-vmlinux-*.rpm", "kernel-dbg-*.rpm", "kernel-image-*.rpm")

# sstate:<pn>:<...>:<unihash, hex>_<task>.<ext> (the task name has "_" too)
_SSTATE_RE = re.compile(r"^sstate:(?P<pn>[^:]+):.*:[0-9a-f]+_(?P<task>[a-z0-9_]+)\.(?P<ext>tar\.zst|tgz|tar\.gz)$")


def sstate_task(path):
    """'sstate:pn:...:<hash>_deploy.tar.zst' -> ('pn', 'deploy'), else None."""
    m = _SSTATE_RE.match(os.path.basename(path))
    return (m.group("pn"), m.group("task")) if m else None


def sstate_objects(sstate_dir, pn):
    """{task: [object paths]} of recipe ``pn`` in an sstate cache (siginfo excluded)."""
    out = {}
    for dirpath, _dirs, files in os.walk(sstate_dir):
        for fn in files:
            got = sstate_task(fn)
            if got and got[0] == pn:
                out.setdefault(got[1], []).append(os.path.join(dirpath, fn))
    for paths in out.values():
        paths.sort()
    return out


def _open_tar(obj):
    if obj.endswith(".tar.zst"):
        try:
            import zstandard
        except ImportError as e:
            raise KernelReproError("reading %s needs the zstandard module "
                                   "(apt-get install python3-zstandard)" % obj) from e
        raw = open(obj, "rb")
        stream = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return tarfile.open(fileobj=stream, mode="r|")
    return tarfile.open(obj, mode="r|*")


def sstate_members(obj, dest, want):
    """Extract the regular-file members of sstate object ``obj`` for which
    ``want(member_name)`` is true into ``dest`` (flat, by basename, prefixed
    with a counter on collisions) -> {member name: extracted path}."""
    os.makedirs(dest, exist_ok=True)
    out = {}
    try:
        with _open_tar(obj) as tf:
            for m in tf:
                if not m.isfile() or not want(m.name):
                    continue
                base = os.path.basename(m.name)
                target = os.path.join(dest, base)
                n = 1
                while os.path.exists(target):
                    target = os.path.join(dest, "%d-%s" % (n, base))
                    n += 1
                src = tf.extractfile(m)
                with open(target, "wb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
                out[m.name] = target
    except (tarfile.TarError, OSError) as e:
        raise KernelReproError("cannot read sstate object %s: %s" % (obj, e)) from e
    return out


def package_files(rpm, dest):
    """Unpack ``rpm`` into ``dest`` with rpm2cpio | cpio -> list of regular files."""
    if not shutil.which("rpm2cpio") or not shutil.which("cpio"):
        raise KernelReproError("reading %s needs rpm2cpio and cpio (apt-get install rpm2cpio cpio)" % rpm)
    os.makedirs(dest, exist_ok=True)
    r = subprocess.run("rpm2cpio %s | cpio -idm --quiet --no-absolute-filenames" % _q(rpm),
                       shell=True, cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise KernelReproError("cannot unpack %s: %s" % (rpm, r.stderr.strip()))
    files = []
    for dirpath, _dirs, names in os.walk(dest):
        for fn in names:
            p = os.path.join(dirpath, fn)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append(p)
    return sorted(files)


#: newc ("070701") and crc ("070702") cpio headers: magic + 13 hex fields
_CPIO_HEADER = 110


def cpio_members(path, want, limit=1 << 31):
    """{member name: bytes} of the regular files in a cpio archive (an
    initramfs image, plain or gzip'd as OE-Core's cpio.gz) whose names
    ``want`` accepts, read in one pass from the stream: nothing is written
    anywhere, names with ".." or absolute paths are only names, and every
    member and the whole read are bounded by ``limit``. KernelReproError
    on a truncated or foreign archive."""
    import gzip
    out = {}
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    with (gzip.open if gz else open)(path, "rb") as f:
        total = 0
        while True:
            head = f.read(_CPIO_HEADER)
            if not head:
                break
            if len(head) < _CPIO_HEADER or head[:6] not in (b"070701", b"070702"):
                raise KernelReproError("%s: not a newc cpio archive (or truncated)" % path)
            try:
                fields = [int(head[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
            except ValueError:
                raise KernelReproError("%s: corrupt cpio header" % path)
            mode, size, namesize = fields[1], fields[6], fields[11]
            name = f.read(namesize)
            f.read((-(_CPIO_HEADER + namesize)) % 4)
            name = name.rstrip(b"\0").decode("utf-8", "surrogateescape")
            if name == "TRAILER!!!":
                break
            total += size
            if size > limit or total > limit:
                raise KernelReproError("%s: cpio member %s exceeds the size limit" % (path, name))
            regular = (mode & 0o170000) == 0o100000
            if regular and want(name.lstrip("./") if name.startswith("./") else name):
                data = f.read(size)
                if len(data) < size:
                    raise KernelReproError("%s: truncated cpio member %s" % (path, name))
                out[name] = data
            else:
                left = size
                while left:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        raise KernelReproError("%s: truncated cpio member %s" % (path, name))
                    left -= len(chunk)
            f.read((-size) % 4)
    return out


def image_kernel_ids(path, workdir):
    """{member: build-id} of the kernels and build-id records inside an
    initramfs image (``/boot/<imagetype>-*``, ``/boot/vmlinux-*``,
    ``/usr/share/kernel-repro/*.buildid``)."""
    def want(name):
        name = name.lstrip("/")
        return (name.startswith("boot/") and is_kernel_file(name)) or \
            (name.startswith("usr/share/kernel-repro/") and name.endswith(".buildid"))
    members = cpio_members(path, want)
    os.makedirs(workdir, exist_ok=True)
    files = {}
    for i, (name, data) in enumerate(sorted(members.items())):
        p = os.path.join(workdir, "m%d-%s" % (i, os.path.basename(name)))
        with open(p, "wb") as f:
            f.write(data)
        files[p] = name
    return {files[p]: bid for p, bid in kernel_ids_in_files(list(files), workdir).items()}


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def is_kernel_file(name):
    base = os.path.basename(name)
    return any(fnmatch.fnmatch(base, p) for p in KERNEL_FILE_PATTERNS) \
        or any(fnmatch.fnmatch(base, p) for p in KERNEL_RPM_PATTERNS)


def kernel_ids_in_files(paths, workdir):
    """{label: build-id} for the kernels in ``paths``: images and vmlinux
    files by their GNU build-id, ``*.buildid`` fingerprint records by their
    content, kernel rpms by the kernel files inside (label ``rpm!member``).
    Files that hold no kernel build-id (e.g. kernel-image's System.map)
    are left out."""
    from . import fingerprint, image
    out = {}
    for i, p in enumerate(sorted(paths)):
        base = os.path.basename(p)
        if base.endswith(".rpm"):
            unpacked = package_files(p, os.path.join(workdir, "rpm%d" % i))
            inner = {f: f for f in unpacked if is_kernel_file(f)}
            for label, bid in kernel_ids_in_files(inner, os.path.join(workdir, "rpm%d.in" % i)).items():
                out["%s!%s" % (p, os.path.relpath(label, os.path.join(workdir, "rpm%d" % i)))] = bid
        elif base.endswith(".buildid"):
            rec = fingerprint.read_record(p)
            if rec:
                out[p] = rec["build_id"]
        else:
            try:
                out[p] = image.read_build_id(p)
            except KernelReproError:
                continue
    return out


def sstate_kernel_ids(obj, workdir):
    """{member label: build-id} of every kernel carried by sstate object ``obj``."""
    tag = os.path.basename(obj)[-40:].replace(":", "_")
    members = sstate_members(obj, os.path.join(workdir, tag), is_kernel_file)
    by_path = kernel_ids_in_files(list(members.values()), os.path.join(workdir, tag + ".x"))
    back = {v: k for k, v in members.items()}
    out = {}
    for label, bid in by_path.items():
        path, _, inner = label.partition("!")
        out[back.get(path, path) + ("!" + inner if inner else "")] = bid
    return out


_TASK_LINE = re.compile(r"^NOTE: Running (setscene )?task \d+ of \d+ \((\S+):(do_\w+)\)\s*$", re.M)


def _is_recipe_file(fn, pn):
    base = os.path.basename(fn)
    return base == pn + ".bb" or (base.startswith(pn + "_") and base.endswith(".bb"))


def _mc_of(fn):
    return fn.split(":", 2)[1] if fn.startswith("mc:") and fn.count(":") >= 2 else ""


def task_runs(output, pn, mc=None):
    """(real, setscene, counts) for recipe ``pn`` from bitbake's console output.

    ``mc``: None counts the recipe in every multiconfig, "" in the default
    one only, a name in that multiconfig only (BitBake names its tasks
    ``mc:<name>:<recipe file>:<task>``).

    ``real`` and ``setscene`` are sets of task names without ``do_`` (a
    setscene task under the name of the task it restores); ``counts`` maps a
    real task name to how often it ran (a do_compile count is the number of
    kernel compiles)."""
    real, setscene, counts = set(), set(), {}
    for ss, fn, task in _TASK_LINE.findall(output):
        if not _is_recipe_file(fn, pn) or (mc is not None and _mc_of(fn) != mc):
            continue
        name = task[3:]
        if ss:
            setscene.add(name[:-len("_setscene")] if name.endswith("_setscene") else name)
        else:
            real.add(name)
            counts[name] = counts.get(name, 0) + 1
    return real, setscene, counts
