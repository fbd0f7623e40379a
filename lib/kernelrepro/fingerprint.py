# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The kernel build-id fingerprint: record it once, check it where outputs meet.

When a kernel recipe links vmlinux, its GNU build-id is written to a small
text file (the *fingerprint*). Every member of the kernel's sstate group
carries a copy: do_deploy next to the image in DEPLOY_DIR_IMAGE, do_package /
do_packagedata in pkgdata. Where two of them meet (deploy vs pkgdata, the
kernel in an image rootfs vs deploy) they must be equal; if not, the build
stops with ``FingerprintMismatch``, whose message names the recipe, both
build-ids and the commands that repair the cache.

Plain functions over paths and strings. Reading a build-id goes through
``kernelrepro.image.read_build_id`` (any kernel image format; standard
library only for ELF, so the build host's python is enough).
"""

import os
import re
import stat

from kernelrepro.errors import FormatError, KernelReproError, printable

__all__ = [
    "FORMAT",
    "FingerprintMismatch",
    "read_build_id",
    "format_record",
    "parse_record",
    "write_record",
    "read_record",
    "deploy_names",
    "pkgdata_path",
    "kernel_release",
    "rootfs_kernel_files",
    "check_pair",
    "mismatch_message",
    "fetch_failed_message",
]

#: First line of a fingerprint file; lets a later format be told apart.
FORMAT = "kernel-repro-buildid-1"

_HEX = re.compile(r"^[0-9a-f]{8,128}$")


class FingerprintMismatch(KernelReproError):
    """Two outputs of one kernel recipe come from different compiles."""

    def __init__(self, message, recipe, ids):
        KernelReproError.__init__(self, message)
        self.recipe = recipe
        self.ids = dict(ids)


# ---------------------------------------------------------------- build-ids

def read_build_id(path):
    """Hex GNU build-id of a kernel image or vmlinux; KernelReproError if none.

    The one reader of the library (kernelrepro.image): it needs only the
    standard library for ELF files and the common compressors, so it works
    with the build host's python as well.
    """
    from kernelrepro import image
    return image.read_build_id(path)


def format_record(build_id, recipe, source=""):
    """Text of a fingerprint file."""
    build_id = build_id.strip().lower()
    if not _HEX.match(build_id):
        raise KernelReproError("not a build-id: %r" % build_id)
    lines = [FORMAT, "build_id=" + build_id, "recipe=" + recipe]
    if source:
        lines.append("source=" + source)
    return "\n".join(lines) + "\n"


def parse_record(text, where="fingerprint"):
    """Fingerprint text -> dict with at least 'build_id' and 'recipe'."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != FORMAT:
        raise KernelReproError("%s: not a %s file" % (where, FORMAT))
    out = {}
    for line in lines[1:]:
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    if not _HEX.match(out.get("build_id", "")):
        raise KernelReproError("%s: no valid build_id" % where)
    out.setdefault("recipe", "")
    return out


def write_record(path, build_id, recipe, source=""):
    """Write a fingerprint file atomically (tmp + rename)."""
    text = format_record(build_id, recipe, source)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


#: Largest record read. A record is four short lines (the format, build_id,
#: recipe, source: a path); anything larger under a *.buildid name is not one
#: a kernel package installed, and is refused like any corrupt record (exit
#: 2, naming it) rather than read whole or skipped: skipping a record could
#: turn a verdict into a false MISMATCH.
RECORD_MAX = 64 << 10


def read_record(path):
    """Parsed fingerprint file; None when ``path`` does not exist or is not a
    regular file (opened without blocking: a FIFO is never waited on).

    Read with a bound (RECORD_MAX, checked on the size first: a record is
    never read in part) and strictly: too large or not UTF-8 text is a
    FormatError naming the file. OSError otherwise, for the caller to word.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        data = b"" if st.st_size > RECORD_MAX else f.read(RECORD_MAX + 1)
    size = max(st.st_size, len(data))
    if size > RECORD_MAX:
        raise FormatError("%s: not a fingerprint record: too large for a build-id record (%d "
                          "bytes; a record is a few lines, at most %d KiB read)"
                          % (printable(path), size, RECORD_MAX >> 10))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("%s: not a fingerprint record (not text: not UTF-8)" % printable(path)) from None
    return parse_record(text, printable(path))


def deploy_names(imagetype, image_name, link_name=""):
    """(file, symlink or None) names of the deployed fingerprint."""
    name = "%s-%s.buildid" % (imagetype, image_name)
    link = "%s-%s.buildid" % (imagetype, link_name) if link_name else "%s.buildid" % imagetype
    return name, (link if link != name else None)


def pkgdata_path(pkgdata_dir, pn):
    """Where a kernel recipe's fingerprint lives in PKGDATA_DIR."""
    return os.path.join(pkgdata_dir, "kernel-repro", pn + ".buildid")


def kernel_release(pkgdata_dir, pn):
    """``uname -r`` of kernel recipe ``pn`` as its pkgdata says, or None.

    kernel.bbclass writes ``<KERNEL_PACKAGE_NAME>-depmod/<KERNEL_PACKAGE_NAME>-abiversion``
    into pkgdata (OE-Core's rootfs.py runs depmod once per such directory);
    which KERNEL_PACKAGE_NAME belongs to ``pn`` is read from the recipe's
    pkgdata file (``PACKAGES:``), so a second kernel (its own
    KERNEL_PACKAGE_NAME) is never taken for the preferred one.
    """
    try:
        with open(os.path.join(pkgdata_dir, pn)) as f:
            packages = next((l.partition(":")[2].split() for l in f if l.startswith("PACKAGES:")), [])
    except (OSError, UnicodeDecodeError):
        return None
    for pkg in packages:
        try:
            with open(os.path.join(pkgdata_dir, pkg + "-depmod", pkg + "-abiversion")) as f:
                release = f.read().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if release and "/" not in release:
            return release
    return None


def rootfs_kernel_files(rootfs, imagetype, release):
    """Kernel files of one kernel in an image rootfs -> [(path in rootfs, real path)].

    /boot/vmlinux-<release> and /boot/<imagetype>-<release>, regular files
    only (the unversioned links point at them). ``release`` None: every
    /boot/vmlinux-* and /boot/<imagetype>-* (a kernel without pkgdata
    release: only right when it is the rootfs's only kernel).
    """
    import glob
    version = glob.escape(release) if release else "*"
    out = []
    for pattern in ("/boot/vmlinux-" + version, "/boot/%s-%s" % (glob.escape(imagetype), version)):
        for path in sorted(glob.glob(rootfs + pattern)):
            if os.path.isfile(path) and not os.path.islink(path):
                out.append((path[len(rootfs):], path))
    return out


# ---------------------------------------------------------------- checks

def mismatch_message(recipe, ids, fix_target=""):
    """The error text: recipe, every build-id with its origin, and the fix.

    The fix is a command that can be pasted as it is: ``fix_target`` (an
    image) or else the kernel recipe itself is rebuilt after cleansstate.
    """
    return ("kernel-repro: %s: kernel outputs come from different compiles "
            "(GNU build-ids differ: %s). The sstate cache holds a mixed kernel "
            "group. Fix: bitbake -c cleansstate %s && bitbake %s ; if an "
            "SSTATE_MIRRORS mirror served the objects, also remove this "
            "recipe's objects from the mirror (they never get overwritten)."
            % (recipe, _ids_text(ids), recipe, fix_target or recipe))


def _ids_text(ids):
    return ", ".join("%s=%s" % (where, bid) for where, bid in ids)


def fetch_failed_message(recipe, ids, fix_target=""):
    """The error text when this build compiled the kernel while other group
    members were restored from sstate in the same build. The hash check
    found the whole group, or nothing would have been restored; so a member
    found then could not be used after all (its fetch from a mirror failed,
    or hash equivalence changed its hash in mid-build): the cache itself is
    not known to be mixed, and cleansstate is not the first thing to do."""
    return ("kernel-repro: %s: this build compiled the kernel while other outputs of the same "
            "sstate group were restored from sstate (GNU build-ids differ: %s): the hash check "
            "had found the whole group, so one member's object could not be used after all -- "
            "its fetch failed (a mirror that timed out or served a broken object; see the "
            "'Setscene task ... failed' lines above) or hash equivalence changed its hash during "
            "the build. Nothing was published from the mix. Run the same command again (bitbake "
            "%s); if it fails the same way, the object is broken where it is served: remove this "
            "recipe's objects there, or bitbake -c cleansstate %s for a local cache."
            % (recipe, _ids_text(ids), fix_target or recipe, recipe))


def check_pair(recipe, ids, fix_target="", message=None):
    """Raise FingerprintMismatch unless all given build-ids are equal.

    ``ids`` is a sequence of (where, build_id); entries whose build_id is
    None or empty (an output that is absent) are skipped. Returns the common
    build-id, or None when fewer than one id was given. ``message``:
    callable(present ids) -> the error text (default ``mismatch_message``).
    """
    present = [(w, b.strip().lower()) for w, b in ids if b]
    values = {b for _, b in present}
    if len(values) > 1:
        text = message(present) if message else mismatch_message(recipe, present, fix_target)
        raise FingerprintMismatch(text, recipe, present)
    return values.pop() if values else None
