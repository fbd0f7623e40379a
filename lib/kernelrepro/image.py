# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Open a kernel image of any format and read its GNU build-id.

The entry points of the readers: ``open_image`` resolves a file through its
layers (kernelrepro.formats) to a blob (kernelrepro.stream); the build-id is
then read from the ELF notes (kernelrepro.elfread) or found in the raw bytes
(kernelrepro.rawscan). Images are only ever read, nothing in one is executed.
"""

import contextlib
import os
import sys

from . import decompress
from .elfread import elf_build_id, gnu_build_id, parse_notes
from .errors import FormatError, KernelReproError, NoBuildIdError, naming
from .formats import resolve
from .rawscan import scan_build_id
from .safefile import hold_signals, open_input, release_signals
from .stream import LOOKUP_KEEP, PAYLOAD_PREFIX, FileBlob, Rewind, Spools, copy_counted


@contextlib.contextmanager
def open_image(path, limit=decompress.DEFAULT_LIMIT, keep=None, spools=None):
    """Open ``path`` and resolve it: yields (kind, blob, layers).

    ``keep``: look-up mode for decompressed streams (see stream.StreamBlob);
    ``spools``: where they keep their bytes (see open_payload).
    """
    f = open_input(path)
    with f:
        yield resolve(FileBlob(f), limit, name=path, keep=keep, spools=spools)


def _look_up(path, limit, fn):
    """fn(kind, blob, layers) on ``path`` opened in look-up mode; again keeping
    everything if the look-up needed bytes that mode dropped."""
    for keep in (LOOKUP_KEEP, None):
        try:
            with open_image(path, limit, keep) as (kind, blob, layers):
                return fn(kind, blob, layers)
        except Rewind:
            continue
    raise RuntimeError("internal error: look-up did not finish")


def build_id_of(kind, blob, name="input"):
    with naming(name):
        if kind == "elf":
            bid = elf_build_id(blob)
        elif kind == "notes":
            bid = gnu_build_id(parse_notes(blob.read_at(0, 1 << 16), "<", 4))
        else:
            bid = scan_build_id(blob)
    if not bid:
        raise NoBuildIdError("%s: no GNU build-id note (was it linked without --build-id?)" % name)
    return bid


def read_build_id(path, limit=decompress.DEFAULT_LIMIT):
    """The GNU build-id (hex) of any kernel image; decompresses only as far as needed."""
    return _look_up(path, limit, lambda kind, blob, _layers: build_id_of(kind, blob, path))


def notes_build_id(path):
    """Build-id from a /sys/kernel/notes-style file (a running kernel's notes)."""
    f = open_input(path)
    with f:
        try:
            data = f.read((1 << 16) + 1)
        except OSError as e:
            raise KernelReproError("%s: cannot read: %s" % (path, e.strerror or e))
    if len(data) > (1 << 16):
        raise FormatError("%s: too large for kernel notes (> 64 KiB); is it /sys/kernel/notes?" % path)
    return notes_data_build_id(data, path)


def notes_data_build_id(data, name="kernel notes"):
    """Build-id from the bytes of /sys/kernel/notes (strictly parsed, either byte order).

    The notes carry no byte-order mark: both orders are tried and the one
    that parses and holds a GNU build-id wins (a big-endian kernel's notes
    may parse as little-endian garbage without one). Where both do and
    disagree, the machine's own order wins: /sys/kernel/notes is the running
    kernel's, in the order of the machine reading it.
    """
    parsed = {}
    for order in ("<", ">"):
        try:
            parsed[order] = parse_notes(data, order, 4, strict=True)
        except FormatError:
            pass
    if not parsed:
        raise FormatError("%s: not ELF notes (expected the contents of /sys/kernel/notes)" % name)
    ids = {order: gnu_build_id(notes) for order, notes in parsed.items()}
    found = [order for order in ("<", ">") if ids.get(order)]
    if not found:
        notes = next(iter(parsed.values()))
        raise NoBuildIdError("%s: the kernel notes hold no GNU build-id note (%d other notes)"
                             % (name, len(notes)))
    native = "<" if sys.byteorder == "little" else ">"
    return ids[native] if native in found else ids[found[0]]


def describe(path, limit=decompress.DEFAULT_LIMIT):
    """Build-id and the layers of an image, as a dict."""
    return _look_up(path, limit, lambda kind, blob, layers: {
        "file": path, "kind": kind, "layers": [str(x) for x in layers],
        "build_id": build_id_of(kind, blob, path)})


@contextlib.contextmanager
def open_payload(path, limit=decompress.DEFAULT_LIMIT):
    """Open and resolve ``path`` for one pass that needs the whole payload: yields
    (kind, blob, layers).

    A compressed payload is decoded once, as far as it is read: the build-id
    look-up and then a read of every section (check) share the decoded
    bytes, kept as the decoder's chunks in memory up to 64 MiB and past that
    in a temporary file ``kernel-repro-payload-*`` in TMPDIR, removed on
    the way out (error and signal included).
    """
    spools = Spools(PAYLOAD_PREFIX)
    try:
        with open_image(path, limit, spools=spools) as opened:
            yield opened
    finally:
        spools.close()


@contextlib.contextmanager
def payload_file(path, limit=decompress.DEFAULT_LIMIT):
    """Yield (kind, layers, filename) of the innermost payload as a real file.

    The input itself when it is already ELF; else a temporary file that is
    removed afterwards.
    """
    with open_image(path, limit) as (kind, blob, layers):
        if isinstance(blob, FileBlob) and blob.base == 0:
            yield kind, layers, path
            return
        import tempfile
        held = hold_signals()
        try:
            t = tempfile.NamedTemporaryFile(prefix=PAYLOAD_PREFIX)
        finally:
            release_signals(held)  # t is set: its close (with, or collection) removes it
        with t:
            copy_counted(blob, t, "temporary copy of the payload of %s in %s (set TMPDIR "
                          "to a directory with room)" % (path, os.path.dirname(t.name)), path)
            yield kind, layers, t.name


def sha256_file(path, chunk=decompress.CHUNK):
    import hashlib  # here: buildid's start-up does not pay for it
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(chunk), b""):
            h.update(b)
    return h.hexdigest()
