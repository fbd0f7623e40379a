# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Where a Yocto build keeps each copy of a kernel, read back as build-ids.

One implementation for the tier-3 tests, the oe-selftest cases and users
who want to audit a build directory or an sstate cache:

* ``package_files(rpm, dest)``: the regular files of an rpm from the
  package feed, written under ``dest``;
* ``sstate_members(obj, dest, want)``: extract the members of an sstate
  object (``.tar.zst``, ``.tgz``) whose names ``want`` accepts;
* ``cpio_members(path, want)``: members of an initramfs image, in memory;
* ``kernel_ids_in_files(paths)``: the GNU build-id of every kernel there is
  in a set of files (vmlinux, bzImage, fingerprint records, rpms inside);
* ``sstate_kernel_ids(obj, workdir)``: the same for one sstate object;
* ``image_kernel_ids(path, workdir)``: the same for an initramfs image;
* ``task_runs(output, pn)``: which tasks of a recipe a bitbake run really
  ran and which it restored from sstate, from its console output.

The archives are read here, in one pass from the stream (no rpm2cpio, cpio
or tar is run; the decoders are the image readers' own, ``decompress``):

* only regular files are ever written, and only under the destination:
  every directory on the way is created or opened without following links
  and every file is created afresh, so neither a link in the archive (none
  is created) nor one already in the destination is written through;
* a member name that is absolute or has a ``..`` component, or that lies
  under a symbolic link member, makes the archive an error;
* everything is bounded by one limit (``limit``; default the image
  readers' ``--max-size``: ``$KERNEL_REPRO_MAX_SIZE`` or 2 GiB): what
  the archive decompresses to, each member and the total written (a file
  counted as at least one 4 KiB block). Headers are bounded on their own
  (1 MiB of extended tar headers per member, 4 KiB cpio names);
* a truncated, corrupt or foreign archive, a member or total beyond the
  limit: KernelReproError, one line, naming the archive.
"""

import errno
import fnmatch
import os
import re
import struct
import tarfile

from . import decompress
from .errors import FormatError, KernelReproError, LimitExceeded, printable

#: Files of a kernel recipe that hold a kernel, by basename.
KERNEL_FILE_PATTERNS = ("vmlinux-*", "vmlinux", "bzImage*", "Image*", "zImage*",
                        "vmlinuz*", "fitImage*", "*.buildid")
#: rpm files of a kernel recipe that carry a kernel, by basename.
KERNEL_RPM_PATTERNS = ("kernel-vmlinux-*.rpm", "kernel-dbg-*.rpm", "kernel-image-*.rpm")
#: A bundled initramfs kernel (kernel.bbclass: <type>-${INITRAMFS_NAME}.bin,
#: the layer's <type>-${INITRAMFS_NAME}.buildid) is the compile relinked with
#: the initramfs: another build-id by design, not another compile. Its
#: record says so (``source=bundle-of:<compile>``).
BUNDLE_NAME_PATTERN = "*-initramfs-*"
BUNDLE_SOURCE = "bundle-of:"

#: Bytes of extended tar headers (pax, GNU long name, sparse map) before one member.
TAR_HEADER_MAX = 1 << 20
#: Extended tar headers in a row before one member (pax, then long name, ...).
TAR_NESTING_MAX = 8
#: Longest cpio member name, its NUL included: PATH_MAX, as the kernel's initramfs takes.
CPIO_NAME_MAX = 4096
#: A file or directory written counts as at least this many bytes of the limit.
BLOCK = 4096

_CHUNK = 1 << 20

# sstate:<pn>:<...>:<unihash, hex>_<task>.<ext> (the task name has "_" too)
_SSTATE_RE = re.compile(r"^sstate:(?P<pn>[^:]+):(?P<spec>.*):(?P<hash>[0-9a-f]+)_(?P<task>[a-z0-9_]+)"
                        r"\.(?P<ext>tar\.zst|tgz|tar\.gz)$")


def sstate_name(path):
    """The fields of an sstate object's name (OE-Core's SSTATE_PKGSPEC, then
    ``<unihash>_<task>.<ext>``): {'pn', 'spec' (PACKAGE_ARCH-TARGET_OS:PV:PR:
    SSTATE_PKGARCH:SSTATE_VERSION), 'hash', 'task' (without do_), 'ext'}, or
    None when it is not one (a .siginfo is not)."""
    m = _SSTATE_RE.match(os.path.basename(path))
    return m.groupdict() if m else None


def sstate_task(path):
    """'sstate:pn:...:<hash>_deploy.tar.zst' -> ('pn', 'deploy'), else None."""
    m = sstate_name(path)
    return (m["pn"], m["task"]) if m else None


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


# ---------------------------------------------------------------- bounds

def default_limit():
    """The image readers' cap (``--max-size``): $KERNEL_REPRO_MAX_SIZE when
    set, else decompress.DEFAULT_LIMIT (2 GiB)."""
    text = os.environ.get("KERNEL_REPRO_MAX_SIZE")
    if not text:
        return decompress.DEFAULT_LIMIT
    try:
        return decompress.parse_limit(text)
    except KernelReproError as e:
        raise KernelReproError("$KERNEL_REPRO_MAX_SIZE: %s" % e) from None


class _Bounds:
    """What one call may cost: ``limit`` bytes of decompressed data (one
    decompress.Budget for every archive and image it reads, nested ones
    included) and ``limit`` bytes written (a file or a directory at least
    BLOCK)."""

    def __init__(self, limit):
        self.limit = default_limit() if limit is None else limit
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit <= 0:
            raise KernelReproError("limit must be a positive number of bytes, got %r" % (limit,))
        self.budget = decompress.Budget(self.limit)
        self.written = 0

    def reading(self, label):
        """The shared Budget, naming ``label`` in its messages."""
        self.budget.name = label
        return self.budget

    def take(self, size, label, name):
        if size > self.limit:
            raise LimitExceeded("%s: member %s is %d bytes, more than the %d-byte limit "
                                "(--max-size, $KERNEL_REPRO_MAX_SIZE)"
                                % (label, printable(name), size, self.limit))
        cost = max(BLOCK, -(-size // BLOCK) * BLOCK)
        if self.written + cost > self.limit:
            raise LimitExceeded("%s: member %s would take what is written past the %d-byte "
                                "limit (--max-size, $KERNEL_REPRO_MAX_SIZE)"
                                % (label, printable(name), self.limit))
        self.written += cost


class _Broken(Exception):
    """The archive is corrupt or hostile: the message, without the archive's name."""


#: What a corrupt archive makes the stream readers (tarfile, struct) raise.
_CORRUPT = (tarfile.TarError, EOFError, ValueError, IndexError, OverflowError, struct.error,
            RecursionError)


class _Reading:
    """``with _Reading(label):`` every error while reading one archive becomes
    one KernelReproError line that names it."""

    def __init__(self, label):
        self.label = label

    def __enter__(self):
        return self

    def __exit__(self, typ, e, _tb):
        if typ is None or issubclass(typ, KernelReproError) or not issubclass(typ, Exception):
            return False
        if isinstance(e, _Broken):
            raise FormatError("%s: %s" % (self.label, e)) from None
        if isinstance(e, OSError):
            where = " (%s)" % printable(e.filename) if e.filename else ""
            raise KernelReproError("%s: %s%s" % (self.label, e.strerror or e, where)) from None
        if isinstance(e, _CORRUPT):
            raise FormatError("%s: corrupt or truncated archive (%s)"
                              % (self.label, printable(e) or type(e).__name__)) from None
        return False


def _parts(name):
    """The components of member ``name`` below the destination. An absolute
    name or a '..' component makes the archive an error."""
    if name.startswith("/"):
        raise _Broken("member %s has an absolute name" % printable(name))
    parts = name.split("/")
    if "" in parts or "." in parts:
        parts = [p for p in parts if p not in ("", ".")]
    parts = tuple(parts)
    if ".." in parts:
        raise _Broken("member %s has a '..' component (path traversal)" % printable(name))
    return parts


# ---------------------------------------------------------------- streams

class _Prefixed:
    def __init__(self, head, f):
        self.head, self.f = head, f

    def read(self, n=-1):
        if self.head:
            if n is None or n < 0:
                b, self.head = self.head + self.f.read(), b""
            else:
                b, self.head = self.head[:n], self.head[n:]
            return b
        return self.f.read(n)


def _skippable(b):
    """A zstd / lz4 skippable frame's header (magic 0x184D2A5?, size)."""
    return len(b) == 8 and b[1:4] == b"\x2a\x4d\x18" and 0x50 <= b[0] <= 0x5f


def _plain(f):
    while True:
        b = f.read(_CHUNK)
        if not b:
            return
        yield b


class _Decoded:
    """The rest of ``f`` as a file, decompressed when it starts with the
    magic of a compressor the image readers know (gzip, xz, zstd, bzip2,
    lz4, lzo), with ``budget`` bounding what that expands to."""

    def __init__(self, f, budget):
        head = f.read(16)
        method = decompress.detect(head)
        # pzstd (OE's sstate objects on older releases) starts with skippable
        # frames: the compressor is told by the frame after them
        at = 0
        while method is None and _skippable(head[at:at + 8]):
            at += 8 + struct.unpack_from("<I", head, at + 4)[0]
            if at > (1 << 16):
                break
            head += f.read(at + 16 - len(head))
            method = decompress.detect(head[at:at + 16])
        src = _Prefixed(head, f)
        self._chunks = decompress.stream(src, method, budget) if method else _plain(src)
        self._buf = memoryview(b"")
        self.compressed = method is not None

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        out = []
        while n > 0:
            if not self._buf:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buf = memoryview(chunk)
                continue
            piece = self._buf[:n]
            self._buf = self._buf[len(piece):]
            out.append(piece)
            n -= len(piece)
        return b"".join(out)

    def finish(self):
        """After the archive's end marker: a compressed stream is read to its
        end (bounded by the budget), so that its decoder checks it whole (a
        cut or corrupt trailer is an error); plain data after it is left."""
        if self.compressed:
            for _chunk in self._chunks:
                pass

    def close(self):
        self._chunks.close()


def _exact(f, n, what):
    b = f.read(n)
    if len(b) != n:
        raise _Broken("truncated %s" % what)
    return b


# ---------------------------------------------------------------- writing

class _Dest:
    """Files written under ``dest`` and nowhere else.

    A directory is entered the first time by a walk from the deepest one
    already checked, each step relative to its parent and without following
    a link (O_NOFOLLOW), creating what is missing; the checked ones are
    kept in a tree (``tree``), so the walk is paid once per directory and a
    member costs O(its name) whatever the depth. No link is ever created,
    and a file is created afresh (an old one unlinked first; O_EXCL,
    O_NOFOLLOW): neither a link in the destination nor a file already
    there is written through. ``links``: names of link members, under which
    no directory is made. What is written (each new directory too) is
    charged to ``bounds``."""

    _DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    _NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def __init__(self, dest, bounds, label):
        os.makedirs(dest, exist_ok=True)
        self.dest, self.bounds, self.label = dest, bounds, label
        self.root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.tree = {}              # checked directories: name -> {name: ...}
        self.links = set()
        self.last = ((), None)      # the last parent directory: (parts, fd)
        self.used = {}              # flat names: basename -> next counter

    def close(self):
        if self.last[1] is not None:
            os.close(self.last[1])
        os.close(self.root)

    def _fail(self, parts, e):
        path = os.path.join(self.dest, "/".join(parts))
        why = e.strerror or str(e)
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            why += " (a link or a file where a directory is needed: nothing is written through one)"
        raise KernelReproError("%s: cannot write %s: %s" % (self.label, printable(path), why)) from None

    def _dir(self, parts, name):
        """An fd of directory ``parts`` (created as needed) for member
        ``name``; the caller must not close it."""
        if not parts:
            return self.root
        if self.last[0] == parts:
            return self.last[1]
        node, known = self.tree, 0
        for p in parts:
            if p not in node:
                break
            node, known = node[p], known + 1
        cur = self.root
        try:
            if known:       # checked before: the kernel walks it, no link on the way
                cur = os.open("/".join(parts[:known]), self._DIR, dir_fd=self.root)
            for i in range(known, len(parts)):
                p = parts[i]
                if self.links and "/".join(parts[:i + 1]) in self.links:
                    raise _Broken("member %s lies under the symbolic link member %s"
                                  % (printable(name), printable("/".join(parts[:i + 1]))))
                try:
                    nfd = os.open(p, self._DIR, dir_fd=cur)
                except FileNotFoundError:
                    self.bounds.take(0, self.label, "/".join(parts[:i + 1]))
                    os.mkdir(p, 0o755, dir_fd=cur)
                    nfd = os.open(p, self._DIR, dir_fd=cur)
                if cur != self.root:
                    os.close(cur)
                cur = nfd
                node = node.setdefault(p, {})
        except BaseException as e:
            if cur != self.root:
                os.close(cur)
            if isinstance(e, OSError):
                self._fail(parts, e)
            raise
        if self.last[1] is not None:
            os.close(self.last[1])
        self.last = (parts, cur)
        return cur

    def _create(self, dirfd, base, parts):
        try:
            try:
                os.unlink(base, dir_fd=dirfd)
            except FileNotFoundError:
                pass
            return os.open(base, self._NEW, 0o644, dir_fd=dirfd)
        except OSError as e:
            self._fail(parts, e)

    def write(self, parts, chunks, size, name, mode=0o644):
        """Member ``name`` (``size`` bytes from ``chunks``) as dest/``parts`` -> its path."""
        self.bounds.take(size, self.label, name)
        dirfd = self._dir(parts[:-1], name)
        fd = self._create(dirfd, parts[-1], parts)
        self._fill(fd, chunks, size, name, parts, dirfd, mode)
        return os.path.join(self.dest, "/".join(parts))

    def write_flat(self, base, chunks, size, name):
        """Member ``name`` as dest/<base>, or dest/<n>-<base> when that is
        taken (linear: a counter per base name) -> its path."""
        self.bounds.take(size, self.label, name)
        n = self.used.get(base, 0)
        while True:
            fn = base if n == 0 else "%d-%s" % (n, base)
            try:
                fd = os.open(fn, self._NEW, 0o644, dir_fd=self.root)
                break
            except FileExistsError:
                n += 1
            except OSError as e:
                self._fail((fn,), e)
        self.used[base] = n + 1
        self._fill(fd, chunks, size, name, (fn,), self.root, 0o644)
        return os.path.join(self.dest, fn)

    def link(self, target, parts):
        """dest/``parts`` as a hard link to ``target`` (a file written here)."""
        self.bounds.take(0, self.label, "/".join(parts))
        dirfd = self._dir(parts[:-1], "/".join(parts))
        try:
            try:
                os.unlink(parts[-1], dir_fd=dirfd)
            except FileNotFoundError:
                pass
            os.link(target, parts[-1], dst_dir_fd=dirfd, follow_symlinks=False)
        except OSError as e:
            self._fail(parts, e)
        return os.path.join(self.dest, "/".join(parts))

    def _fill(self, fd, chunks, size, name, parts, dirfd, mode):
        done = False
        try:
            with os.fdopen(fd, "wb") as f:
                have = 0
                for chunk in chunks:
                    have += len(chunk)
                    if have > size:
                        raise _Broken("member %s holds more than its %d bytes" % (printable(name), size))
                    f.write(chunk)
                if have != size:
                    raise _Broken("truncated member %s" % printable(name))
                os.fchmod(f.fileno(), 0o644 | (mode & 0o111))
            done = True
        except OSError as e:
            self._fail(parts, e)
        finally:
            if not done:
                try:
                    os.unlink(parts[-1], dir_fd=dirfd)
                except OSError:
                    pass


# ---------------------------------------------------------------- tar

_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.GNUTYPE_SPARSE,
             tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class _Capped:
    """tarfile's stream while extended headers are read: at most
    TAR_HEADER_MAX bytes, TAR_NESTING_MAX headers deep."""

    def __init__(self, stream):
        self.stream, self.left, self.depth = stream, TAR_HEADER_MAX, 1

    def _spend(self, n):
        self.left -= n
        if self.left < 0:
            raise _Broken("more than %d bytes of extended tar headers before one member"
                          % TAR_HEADER_MAX)

    def read(self, n):
        self._spend(n)
        return self.stream.read(n)

    def seek(self, pos):
        self._spend(max(0, pos - self.stream.tell()))
        return self.stream.seek(pos)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _TarInfo(tarfile.TarInfo):
    """tarfile's member header, strict and bounded: a truncated or corrupt
    header is an error, not the end of the archive; extended headers (pax,
    GNU long names, sparse maps) are bounded (_Capped)."""

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            return super().frombuf(buf, encoding, errors)
        except tarfile.EOFHeaderError:
            raise                   # a zero block: the end of the archive
        except tarfile.EmptyHeaderError:
            raise _Broken("the tar archive ends without its end-of-archive blocks "
                          "(truncated?)") from None
        except tarfile.HeaderError as e:
            raise _Broken("bad tar header (%s): truncated or not a tar archive" % e) from None

    def _proc_member(self, tf):
        if self.type not in _EXTENDED:
            return super()._proc_member(tf)
        if self.type != tarfile.GNUTYPE_SPARSE and self.size > TAR_HEADER_MAX:
            raise _Broken("extended tar header of %d bytes (at most %d)" % (self.size, TAR_HEADER_MAX))
        if self.type == tarfile.XGLTYPE:
            tf.kr_global = getattr(tf, "kr_global", 0) + self.size
            if tf.kr_global > TAR_HEADER_MAX:
                raise _Broken("more than %d bytes of global pax headers" % TAR_HEADER_MAX)
        outer = tf.fileobj
        try:
            if isinstance(outer, _Capped):
                outer.depth += 1
                if outer.depth > TAR_NESTING_MAX:
                    raise _Broken("more than %d extended tar headers in a row" % TAR_NESTING_MAX)
                try:
                    return super()._proc_member(tf)
                finally:
                    outer.depth -= 1
            tf.fileobj = _Capped(outer)
            try:
                return super()._proc_member(tf)
            finally:
                tf.fileobj = outer
        except tarfile.HeaderError as e:
            # tarfile would end the archive there, silently
            raise _Broken("bad extended tar header (%s)" % e) from None


def _tar_members(reader):
    """(TarFile, member) for each member of the tar stream ``reader``, in one
    pass: a member's data can be read (tf.extractfile) until the next one."""
    tf = tarfile.open(fileobj=reader, mode="r|", tarinfo=_TarInfo)
    try:
        while True:
            m = tf.next()
            if m is None:
                return
            del tf.members[:]       # a stream needs none of them again: memory stays flat
            yield tf, m
    finally:
        tf.close()


def _tar_chunks(tf, m):
    src = tf.extractfile(m)
    left = m.size
    while left:
        b = src.read(min(left, _CHUNK))
        if not b:
            raise _Broken("truncated member %s" % printable(m.name))
        left -= len(b)
        yield b


def sstate_members(obj, dest, want, limit=None):
    """Extract the regular-file members of sstate object ``obj`` for which
    ``want(member_name)`` is true into ``dest`` (flat, by basename, prefixed
    with a counter on collisions) -> {member name: extracted path}.

    ``obj`` is read in one pass (zstd, gzip, xz or plain tar, by its
    magic); a member name that is absolute or has a '..', a truncated or
    corrupt archive, or more than ``limit`` bytes (see default_limit)
    decompressed or written: KernelReproError."""
    return _sstate_members(obj, dest, want, _Bounds(limit))


def _sstate_members(obj, dest, want, bounds):
    label = printable(obj)
    out = {}
    with _Reading(label):
        with open(obj, "rb") as f:
            reader = _Decoded(f, bounds.reading(label))
            try:
                d = _Dest(dest, bounds, label)
                try:
                    for tf, m in _tar_members(reader):
                        parts = _parts(m.name)
                        if not m.isfile() or not want(m.name):
                            continue
                        if not parts:
                            raise _Broken("file member %s has no name" % printable(m.name))
                        out[m.name] = d.write_flat(parts[-1], _tar_chunks(tf, m), m.size, m.name)
                    reader.finish()
                finally:
                    d.close()
            finally:
                reader.close()
    return out


# ---------------------------------------------------------------- cpio, rpm

#: newc ("070701") and crc ("070702") cpio headers: magic + 13 hex fields
_CPIO_HEADER = 110
_HEX = re.compile(rb"[0-9A-Fa-f]{104}\Z")
_S_IFMT, _S_IFREG, _S_IFLNK, _S_IFDIR = 0o170000, 0o100000, 0o120000, 0o040000


class _Entry:
    """One cpio member: its header fields; its data can be read (chunks())
    until the next member."""

    def __init__(self, f, name, fields):
        self.f, self.name = f, name
        self.mode, self.nlink, self.size = fields[1], fields[4], fields[6]
        # hard links share (inode, device); the data comes with one of them
        self.key = (fields[0], fields[9], fields[10])
        self.left = self.size

    @property
    def kind(self):
        return self.mode & _S_IFMT

    def chunks(self):
        while self.left:
            b = self.f.read(min(self.left, _CHUNK))
            if not b:
                raise _Broken("truncated cpio member %s" % printable(self.name))
            self.left -= len(b)
            yield b


def _cpio_entries(f):
    """The members of the newc cpio stream ``f`` up to its TRAILER!!!, in
    one pass. A name is bounded (CPIO_NAME_MAX) and cut at its first NUL;
    data not read by the consumer is skipped."""
    while True:
        head = f.read(_CPIO_HEADER)
        if not head:
            raise _Broken("the cpio archive ends without its TRAILER!!! entry (truncated?)")
        if len(head) < _CPIO_HEADER or head[:6] not in (b"070701", b"070702"):
            if head[:6] == b"07070X":
                raise _Broken("stripped cpio payload (rpm's format for files over 4 GiB): "
                              "not supported")
            raise _Broken("not a newc cpio archive (or truncated)")
        if not _HEX.match(head, 6):
            raise _Broken("corrupt cpio header")
        fields = [int(head[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        namesize = fields[11]
        if not 0 < namesize <= CPIO_NAME_MAX:
            raise _Broken("cpio member name of %d bytes (at most %d)" % (namesize, CPIO_NAME_MAX))
        name = _exact(f, namesize, "cpio member name")
        _exact(f, (-(_CPIO_HEADER + namesize)) % 4, "cpio header padding")
        name = name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if name == "TRAILER!!!":
            return
        e = _Entry(f, name, fields)
        yield e
        for _chunk in e.chunks():
            pass
        _exact(f, (-e.size) % 4, "cpio data padding")


def _want_name(name):
    """A member name as ``want`` callbacks see it: without the leading './'."""
    return name.lstrip("./") if name.startswith("./") else name


def cpio_members(path, want, limit=None):
    """{member name: bytes} of the regular files in a cpio archive (an
    initramfs image, plain or compressed as OE-Core's cpio.gz, .xz, .zst,
    ...) whose names ``want`` accepts, read in one pass from the stream:
    nothing is written anywhere, names with ".." or absolute paths are only
    names, and every member and the whole read are bounded by ``limit``
    (see default_limit). A hard-linked file's data is under each of its
    names. KernelReproError on a truncated or foreign archive."""
    return _cpio_walk(path, want, _Bounds(limit), lambda e: b"".join(e.chunks()) if e else b"")


def _cpio_walk(path, want, bounds, keep, charge=True):
    """{name: keep(entry)} of the wanted regular files of cpio archive ``path``
    (``keep(None)``: a hard-linked file without data); ``charge``: count what
    is kept against ``bounds`` (else ``keep`` does)."""
    label = printable(path)
    out, linked, pending = {}, {}, {}
    with _Reading(label):
        with open(path, "rb") as f:
            reader = _Decoded(f, bounds.reading(label))
            try:
                for e in _cpio_entries(reader):
                    if e.kind != _S_IFREG or not want(_want_name(e.name)):
                        continue
                    if e.nlink > 1 and e.size == 0:
                        # a hard link whose data comes with another name (or came)
                        if e.key in linked:
                            out[e.name] = linked[e.key]
                        else:
                            pending.setdefault(e.key, []).append(e.name)
                        continue
                    if charge:
                        if e.size > bounds.limit or bounds.written + e.size > bounds.limit:
                            raise LimitExceeded("%s: cpio member %s exceeds the %d-byte limit "
                                                "(--max-size, $KERNEL_REPRO_MAX_SIZE)"
                                                % (label, printable(e.name), bounds.limit))
                        bounds.written += e.size
                    out[e.name] = kept = keep(e)
                    if e.nlink > 1:
                        linked[e.key] = kept
                        for other in pending.pop(e.key, ()):
                            out[other] = kept
                reader.finish()
            finally:
                reader.close()
    for names in pending.values():
        for name in names:
            out[name] = keep(None)
    return out


_RPM_LEAD = b"\xed\xab\xee\xdb"
_RPM_HEADER = b"\x8e\xad\xe8\x01"


def _rpm_payload(f):
    """Skip the lead and the two headers of rpm ``f``: it is then at its
    payload (a cpio archive, compressed as the header says; told here by
    its magic). Bounded as rpm bounds them: 65535 tags, 256 MiB of data."""
    lead = f.read(96)
    if lead[:4] != _RPM_LEAD:
        raise _Broken("not an rpm package (no rpm lead)")
    if len(lead) < 96:
        raise _Broken("truncated rpm lead")
    for what in ("signature header", "header"):
        head = _exact(f, 16, "rpm " + what)
        if head[:4] != _RPM_HEADER:
            raise _Broken("corrupt rpm %s (bad magic)" % what)
        il, dl = struct.unpack(">II", head[8:16])
        if il > 0xffff or dl > 0x0fffffff:
            raise _Broken("corrupt rpm %s (%d tags, %d bytes of data)" % (what, il, dl))
        n = 16 * il + dl
        if what == "signature header":
            n += (-(16 + n)) % 8
        while n:
            b = f.read(min(n, _CHUNK))
            if not b:
                raise _Broken("truncated rpm %s" % what)
            n -= len(b)


def package_files(rpm, dest, want=None, limit=None):
    """The regular files of ``rpm`` (those whose payload names ``want``
    accepts, without the leading './'; all by default) written under ``dest``
    at their paths -> sorted list of the paths written.

    The rpm is read here in one pass (lead, headers, then its payload: a
    cpio archive, gzip, xz, zstd, bzip2 or plain); nothing is run. Only
    regular files are written (hard links as links): no symbolic link,
    device or FIFO is created. A member name that is absolute or has a
    '..', or that lies under a symbolic link member of the same rpm, a
    truncated or corrupt rpm, or more than ``limit`` bytes (see
    default_limit) decompressed or written: KernelReproError."""
    return _package_files(rpm, dest, want, _Bounds(limit))


def _package_files(rpm, dest, want, bounds):
    label = printable(rpm)
    files, linked, pending = [], {}, {}
    with _Reading(label):
        with open(rpm, "rb") as f:
            _rpm_payload(f)
            reader = _Decoded(f, bounds.reading(label))
            try:
                d = _Dest(dest, bounds, label)
                try:
                    for e in _cpio_entries(reader):
                        parts = _parts(e.name)
                        if e.kind == _S_IFLNK:
                            d.links.add("/".join(parts))
                            continue
                        if e.kind != _S_IFREG or (want is not None and not want(_want_name(e.name))):
                            continue
                        if not parts:
                            raise _Broken("file member %s has no name" % printable(e.name))
                        if e.nlink > 1 and e.size == 0:
                            if e.key in linked:
                                files.append(d.link(linked[e.key], parts))
                            else:
                                pending.setdefault(e.key, []).append(parts)
                            continue
                        path = d.write(parts, e.chunks(), e.size, e.name, e.mode)
                        files.append(path)
                        if e.nlink > 1:
                            linked[e.key] = path
                            for other in pending.pop(e.key, ()):
                                files.append(d.link(path, other))
                    for group in pending.values():     # hard-linked empty files
                        for parts in group:
                            files.append(d.write(parts, (), 0, "/".join(parts)))
                    reader.finish()
                finally:
                    d.close()
            finally:
                reader.close()
    return sorted(set(files))


# ---------------------------------------------------------------- build-ids

def image_kernel_ids(path, workdir, limit=None):
    """{member: build-id} of the kernels and build-id records inside an
    initramfs image (``/boot/<imagetype>-*``, ``/boot/vmlinux-*``,
    ``/usr/share/kernel-repro/*.buildid``). They are streamed into
    ``workdir`` (flat) and read there; ``limit`` (see default_limit) bounds
    the whole call."""
    def want(name):
        name = name.lstrip("/")
        return (name.startswith("boot/") and is_kernel_file(name)) or \
            (name.startswith("usr/share/kernel-repro/") and name.endswith(".buildid"))
    bounds = _Bounds(limit)
    with _Reading(printable(path)):
        d = _Dest(workdir, bounds, printable(path))
    try:
        def keep(e):
            if e is None:
                return d.write_flat("empty", (), 0, "empty")
            return d.write_flat(os.path.basename(e.name), e.chunks(), e.size, e.name)
        members = _cpio_walk(path, want, bounds, keep, charge=False)
    finally:
        d.close()
    back = {p: name for name, p in members.items()}
    out = {}
    for label, bid in _kernel_ids(list(back), workdir, bounds, rpms=True).items():
        p, _, inner = label.partition("!")
        out[back.get(p, p) + ("!" + inner if inner else "")] = bid
    return out


def is_kernel_file(name):
    """A file that carries the compile's kernel or its record (a bundled
    initramfs kernel does not: see BUNDLE_NAME_PATTERN)."""
    base = os.path.basename(name)
    if fnmatch.fnmatch(base, BUNDLE_NAME_PATTERN) and not base.endswith(".rpm"):
        return False
    return any(fnmatch.fnmatch(base, p) for p in KERNEL_FILE_PATTERNS) \
        or any(fnmatch.fnmatch(base, p) for p in KERNEL_RPM_PATTERNS)


def kernel_ids_in_files(paths, workdir, limit=None):
    """{label: build-id} for the kernels in ``paths``: images and vmlinux
    files by their GNU build-id, ``*.buildid`` fingerprint records by their
    content, kernel rpms by the kernel files inside (label ``rpm!member``;
    an rpm inside an rpm is not opened). Files that hold no kernel build-id
    (e.g. kernel-image's System.map) are left out. ``limit`` (see
    default_limit) bounds the whole call: what all rpms and images
    decompress to, what is written into ``workdir``."""
    return _kernel_ids(paths, workdir, _Bounds(limit), rpms=True)


def _kernel_ids(paths, workdir, bounds, rpms):
    from . import image
    out = {}
    for i, p in enumerate(sorted(paths)):
        base = os.path.basename(p)
        if base.endswith(".rpm"):
            if not rpms:
                continue
            dest = os.path.join(workdir, "rpm%d" % i)
            inner = _package_files(p, dest, is_kernel_file, bounds)
            for label, bid in _kernel_ids(inner, os.path.join(workdir, "rpm%d.in" % i), bounds,
                                          rpms=False).items():
                out["%s!%s" % (p, os.path.relpath(label, dest))] = bid
        elif base.endswith(".buildid"):
            rec = _read_record(p)
            if rec and not rec.get("source", "").startswith(BUNDLE_SOURCE):
                out[p] = rec["build_id"]
        else:
            try:
                out[p] = image.read_build_id(p, bounds.reading(printable(p)))
            except LimitExceeded:
                raise
            except KernelReproError:
                continue
    return out


def _read_record(path):
    """fingerprint.read_record, its OSError worded as the other readers' errors."""
    from . import fingerprint
    try:
        return fingerprint.read_record(path)
    except OSError as e:
        raise KernelReproError("%s: cannot read: %s" % (printable(path), e.strerror or e)) from None


def sstate_record_ids(obj, workdir, limit=None):
    """{member name: build-id} of the layer's compile records (``*.buildid``;
    a bundle's record names its relink and is left out) in sstate object
    ``obj``: one streamed pass that writes only the records."""
    bounds = _Bounds(limit)
    members = _sstate_members(obj, os.path.join(workdir, "records"), lambda n: n.endswith(".buildid"), bounds)
    back = {v: k for k, v in members.items()}
    return {back.get(p, p): b for p, b in _kernel_ids(list(members.values()), workdir, bounds, rpms=False).items()}


def sstate_kernel_ids(obj, workdir, limit=None):
    """{member label: build-id} of every kernel carried by sstate object
    ``obj`` (rpms in it opened, one level). ``limit`` (see default_limit)
    bounds the whole call."""
    bounds = _Bounds(limit)
    tag = os.path.basename(obj)[-40:].replace(":", "_")
    if tag in ("", ".", ".."):
        tag = "object"
    members = _sstate_members(obj, os.path.join(workdir, tag), is_kernel_file, bounds)
    by_path = _kernel_ids(list(members.values()), os.path.join(workdir, tag + ".x"), bounds, rpms=True)
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
