# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Byte sources ("blobs") of an image: random access, bounded and spooled.

A blob is read with ``read_at(offset, size)``: a window of a file
(FileBlob, SubBlob), bytes in memory (BytesBlob), or a decompressed stream
(StreamBlob) decoded only as far as it is read, its bytes kept in memory
and past SPOOL_MEM in a temporary file (Spool). ``reader`` turns a blob into
the sequential file a decoder reads; ``copy_counted`` writes one out.
"""

import bisect
import os

from . import decompress
from .errors import KernelReproError, naming
from .safefile import hold_signals, release_signals


class _WindowBlob:
    """Random-access bytes of known length: ``read_at`` is all a subclass needs."""

    length = 0

    def size(self):
        return self.length

    def copy_to(self, out, chunk=decompress.CHUNK):
        pos = 0
        while pos < self.length:
            b = self.read_at(pos, chunk)
            if not b:
                break
            out.write(b)
            pos += len(b)


class FileBlob(_WindowBlob):
    def __init__(self, f, base=0, length=None):
        self.f = f
        self.base = base
        if length is None:
            f.seek(0, os.SEEK_END)
            length = f.tell() - base
        self.length = length

    def read_at(self, offset, size):
        if offset >= self.length or size <= 0:
            return b""
        size = min(size, self.length - offset)
        self.f.seek(self.base + offset)
        return self.f.read(size)


class Rewind(Exception):
    """A look-up needs bytes a StreamBlob in look-up mode has dropped: start again
    keeping everything (see StreamBlob)."""


#: Look-up mode keeps this much of the start of a stream (in memory) ...
LOOKUP_KEEP = 64 << 20
#: ... and at least this much of its most recent output.
LOOKUP_TAIL = 4 << 20


#: The temporary file that holds a payload past what is kept in memory, for check.
PAYLOAD_PREFIX = "kernel-repro-payload-"


class _Spool:
    """Bytes appended in order, then read at random.

    The first SPOOL_MEM bytes stay in memory as the decoder's own chunks:
    nothing is copied on the way in, and a read of one whole chunk returns
    that chunk itself. The rest goes to a temporary file: a named one
    (``prefix`` + random, in TMPDIR) when ``prefix`` is given, else an
    unnamed one. ``close()`` removes it.
    """

    def __init__(self, prefix=None):
        self.chunks, self.starts = [], []
        self.mem = 0            # bytes [0, mem) are in chunks, [mem, size) in the file
        self.size = 0
        self.file = None
        self.prefix = prefix

    def append(self, b):
        if not b:
            return
        if self.file is None and self.mem + len(b) <= SPOOL_MEM:
            self.chunks.append(b)
            self.starts.append(self.mem)
            self.mem += len(b)
        else:
            if self.file is None:
                import tempfile  # here: most inputs never need it (start-up time)
                held = hold_signals()
                try:
                    self.file = (tempfile.NamedTemporaryFile(prefix=self.prefix) if self.prefix
                                 else tempfile.TemporaryFile())
                finally:
                    release_signals(held)  # self.file is set: close() removes it
            self.file.seek(self.size - self.mem)
            self.file.write(b)
        self.size += len(b)

    def iter_range(self, off, n, chunk=decompress.CHUNK):
        """Bytes [off, off + n) (clipped to what is held) as pieces: a whole chunk as it
        is, part of one as a copy of that part, from the file ``chunk`` at a time."""
        end = min(off + n, self.size)
        if off < 0:
            return
        if off < self.mem:
            i = bisect.bisect_right(self.starts, off) - 1
            stop = min(end, self.mem)
            while off < stop:
                c, s = self.chunks[i], self.starts[i]
                lo, hi = off - s, min(len(c), stop - s)
                yield c if lo == 0 and hi == len(c) else c[lo:hi]
                off = s + hi
                i += 1
        while off < end:
            self.file.seek(off - self.mem)
            b = self.file.read(min(chunk, end - off))
            if not b:
                return
            yield b
            off += len(b)

    def read(self, off, n):
        parts = list(self.iter_range(off, n))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def copy_to(self, out, chunk=decompress.CHUNK):
        for b in self.iter_range(0, self.size, chunk):
            out.write(b)

    def close(self):
        self.chunks, self.starts = [], []
        if self.file is not None:
            self.file.close()


#: A spool keeps this much in memory (see _Spool).
SPOOL_MEM = 64 << 20


class Spools:
    """How the StreamBlobs of one input keep their bytes, and closing them all."""

    def __init__(self, prefix=None):
        self.prefix = prefix
        self.spools = []

    def new(self):
        s = _Spool(self.prefix)
        self.spools.append(s)
        return s

    def close(self):
        for s in self.spools:
            s.close()


class StreamBlob:
    """A decompressed stream, buffered as far as it has been read.

    ``keep=None``: everything read is kept (in memory, in a temporary file
    past 64 MiB; see _Spool), for extraction. ``keep=N`` (look-up mode, for a build-id): only
    the first N bytes and the last LOOKUP_TAIL are kept, so a header that
    sends the reader far into a stream (a note or table claimed near the
    --max-size cap) costs decompression time, neither memory nor disk; a
    read of dropped bytes raises Rewind and the caller starts again in
    full mode. ``spools``: a Spools that names and closes the spool.
    """

    def __init__(self, chunks, cap=None, keep=None, spools=None):
        self.chunks = iter(chunks)
        self.cap = cap          # at most this many bytes (the --max-size budget)
        self.keep = keep
        self.buf = spools.new() if spools is not None else _Spool()
        self.have = 0
        self.done = False
        self.consumed = False
        self.kept = 0           # bytes [0, kept) are in buf
        self.tail = []          # (offset, chunk) of the newest output past ``kept``

    def _fill(self, upto):
        if self.consumed:
            raise RuntimeError("internal error: random access to a consumed stream")
        while not self.done and self.have < upto:
            try:
                c = next(self.chunks)
            except StopIteration:
                self.done = True
                break
            if self.keep is None or self.have + len(c) <= self.keep:
                self.buf.append(c)
                self.kept = self.have + len(c)
            else:
                self.tail.append((self.have, c))
                while len(self.tail) > 1 and \
                        self.have + len(c) - self.tail[1][0] >= LOOKUP_TAIL:
                    self.tail.pop(0)
            self.have += len(c)

    def read_at(self, offset, size):
        self._fill(offset + size)
        if offset >= self.have or size <= 0:
            return b""
        size = min(size, self.have - offset)
        if offset + size <= self.kept:
            return self.buf.read(offset, size)
        if not self.tail or offset < self.tail[0][0] or (offset < self.kept):
            raise Rewind()
        start = self.tail[0][0]
        data = b"".join(c for _o, c in self.tail)
        return data[offset - start:offset - start + size]

    def iter_range(self, offset, size, chunk=decompress.CHUNK):
        """Bytes [offset, offset + size) in pieces, without copying whole chunks
        (the stream is decoded that far first; see _Spool.iter_range)."""
        self._fill(offset + size)
        if offset + min(size, self.have - offset) > self.kept:
            raise Rewind()
        return self.buf.iter_range(offset, size, chunk)

    def size(self):
        self._fill(float("inf"))
        return self.have

    def next_chunk(self):
        """Decode one more chunk, kept as _fill keeps it, and return it (b"" at the end)."""
        before = self.have
        self._fill(before + 1)
        if self.have == before:
            return b""
        if self.tail and self.tail[-1][0] == before:
            return self.tail[-1][1]
        return self.buf.read(before, self.have - before)

    def copy_to(self, out, chunk=decompress.CHUNK):
        if self.kept < self.have:
            raise Rewind()
        self.buf.copy_to(out, chunk)
        for c in self.chunks:
            out.write(c)
        self.done = True

    def close(self):
        self.buf.close()


class _StreamTail:
    """Sequential reader of a StreamBlob from ``offset`` on that keeps nothing.

    When a decompressed stream is itself compressed (nested layers), the
    inner decoder reads it once, front to back: what was already buffered
    (the head used to identify it) is served from the buffer, the rest
    straight from the decoder, so an intermediate layer is never spooled.
    The blob is then consumed: it must not be read at random again.
    """

    def __init__(self, blob, offset, length=None):
        self.blob = blob
        self.pos = offset
        self.left = (1 << 62) if length is None else length
        self.pending = b""

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        n = min(n, self.left)
        if n <= 0:
            return b""
        blob = self.blob
        if self.pos < blob.have:
            b = blob.read_at(self.pos, min(n, blob.have - self.pos))
        else:
            if not self.pending:
                blob.consumed = True
                self.pending = next(blob.chunks, b"")
                if not self.pending:
                    blob.done = True
            b, self.pending = self.pending[:n], self.pending[n:]
        self.pos += len(b)
        self.left -= len(b)
        return b

    def readable(self):
        return True


def reader(blob, offset, length=None):
    """A sequential reader over ``blob`` for a decoder (see _StreamTail)."""
    if isinstance(blob, StreamBlob):
        return _StreamTail(blob, offset, length)
    return BlobReader(blob, offset, length)


class BlobReader:
    """A file-like sequential reader over a window of a blob (for decompressors)."""

    def __init__(self, blob, offset, length=None):
        self.blob = blob
        self.pos = offset
        self.end = None if length is None else offset + length

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        if self.end is not None:
            n = min(n, self.end - self.pos)
        b = self.blob.read_at(self.pos, n) if n > 0 else b""
        self.pos += len(b)
        return b

    def readinto(self, buf):
        b = self.read(len(buf))
        buf[:len(b)] = b
        return len(b)

    def readable(self):
        return True


class SubBlob(_WindowBlob):
    def __init__(self, blob, off, size):
        self.blob, self.off, self.length = blob, off, size

    def read_at(self, offset, size):
        if offset >= self.length:
            return b""
        return self.blob.read_at(self.off + offset, min(size, self.length - offset))


class BytesBlob(_WindowBlob):
    def __init__(self, data, base=0):
        self.data, self.base, self.length = data, base, len(data) - base

    def read_at(self, offset, size):
        if offset < 0 or offset >= self.length or size <= 0:
            return b""
        start = self.base + offset
        return bytes(self.data[start:start + size])


def extent(blob):
    """(most bytes ``blob`` can hold, whether that is its real size).

    A file window knows its size; a decompressed stream not read to its end
    is bounded by the --max-size budget.
    """
    if isinstance(blob, StreamBlob):
        if blob.done:
            return blob.have, True
        return (blob.cap if blob.cap is not None else decompress.DEFAULT_LIMIT), False
    return blob.length, True


class _OutputError(Exception):
    """A write to the output failed (kept apart from errors reading the input)."""


class _Counter:
    def __init__(self, f):
        self.f, self.n = f, 0

    def write(self, b):
        try:
            self.f.write(b)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputError(e) from None
        self.n += len(b)


def copy_counted(blob, o, out_name, path):
    """Copy ``blob`` to ``o``; errors name the input (reading) or the output (writing)."""
    c = _Counter(o)
    try:
        with naming(path):
            blob.copy_to(c)
        try:
            o.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputError(e) from None
    except _OutputError as e:
        e = e.args[0]
        raise KernelReproError("%s: cannot write: %s" % (out_name, e.strerror or e)) from None
    return c.n
