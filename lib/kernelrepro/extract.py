# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""``extract``: write an image's innermost kernel payload to a file, atomically.

Only a new name or (with --force) a regular file is ever written; the
payload goes to a temporary file beside it, moved into place when complete.
"""

import contextlib
import os
import stat

from . import decompress
from .errors import KernelReproError
from .image import open_image
from .safefile import hold_signals, kind_of, release_signals
from .stream import copy_counted


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_output(out, path, force):
    """Refuse an output that is anything but a new name or (with --force) a regular file.

    Never replaced, even with --force: devices (``-o /dev/null`` as root
    would swap the device node for a file), FIFOs, sockets, directories and
    symbolic links (``/dev/stdout``, or a link the user keeps): the
    replacement would be a rename over the name, not a write through it.
    """
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise KernelReproError("%s: cannot use as output: %s" % (out, e.strerror or e))
    if stat.S_ISLNK(st.st_mode):
        raise KernelReproError("%s: is a symbolic link; not replacing it (give the path of a "
                               "regular file, or -o - for standard output)" % out)
    if stat.S_ISDIR(st.st_mode):
        raise KernelReproError("%s: is a directory; give a file name for the output" % out)
    if not stat.S_ISREG(st.st_mode):
        raise KernelReproError("%s: is a %s; extract only creates or replaces regular files "
                               "(write to standard output with -o -)" % (out, kind_of(st.st_mode)))
    if not force:
        raise KernelReproError("%s: already exists; not overwriting it (use --force)" % out)
    with contextlib.suppress(OSError):
        if os.path.samefile(out, path):
            raise KernelReproError("%s: output is the input file" % out)
    return True


def _extract_to_stdout(path, limit, stdout=None):
    import sys
    o = stdout or sys.stdout.buffer
    if o.isatty():
        raise KernelReproError("not writing a kernel image to a terminal (redirect standard "
                               "output, or give -o FILE)")
    with open_image(path, limit) as (kind, blob, layers):
        if kind == "notes":
            raise KernelReproError("%s: holds only ELF notes, no kernel to extract" % path)
        size = copy_counted(blob, o, "standard output", path)
    return kind, layers, size


def extract(path, out, force=False, limit=decompress.DEFAULT_LIMIT, stdout=None):
    """Write the innermost kernel payload of ``path`` to ``out`` ('-': standard output).

    Atomic: written to a temporary file beside ``out`` (mode 0666 less the
    umask) and moved into place only when complete; an existing ``out`` is
    left alone unless ``force``, and only a regular file is ever replaced
    (see _check_output). Returns (kind, layers, bytes written).
    """
    if out == "-":
        return _extract_to_stdout(path, limit, stdout)
    if not out:
        raise KernelReproError("empty output file name")
    out_dir = os.path.dirname(os.path.abspath(out)) or "."
    _check_output(out, path, force)
    if not os.path.isdir(out_dir):
        raise KernelReproError("%s: output directory does not exist" % out_dir)
    with open_image(path, limit) as (kind, blob, layers):
        if kind == "notes":
            raise KernelReproError("%s: holds only ELF notes, no kernel to extract" % path)
        import tempfile
        tmp = None
        held = hold_signals()
        try:
            try:
                fd, tmp = tempfile.mkstemp(prefix=".kernel-repro-", dir=out_dir)
            except OSError as e:
                raise KernelReproError("%s: cannot write: %s" % (out_dir, e.strerror))
            finally:
                release_signals(held)  # a held signal lands here, with tmp known below
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as o:
                size = copy_counted(blob, o, out, path)
            # the name may have changed since the check: look again just before
            if _check_output(out, path, force):
                os.replace(tmp, out)
            else:
                os.link(tmp, out)  # fails if out appeared meanwhile: never clobber
                os.unlink(tmp)
        except FileExistsError:
            os.unlink(tmp)
            raise KernelReproError("%s: already exists; not overwriting it (use --force)" % out)
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
    return kind, layers, size
