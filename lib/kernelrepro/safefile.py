# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Open inputs and make temporary files safely: one job, never hang or leak.

An input is opened without ever blocking on what is not a regular file (a
FIFO, socket or device is refused with its kind named), and a temporary file
is created with SIGTERM, SIGHUP and SIGINT held until its cleanup owns it.
"""

import os
import stat

from .errors import KernelReproError


_NOT_REGULAR = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
                (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                (stat.S_ISSOCK, "socket"))


def kind_of(mode):
    for test, name in _NOT_REGULAR:
        if test(mode):
            return name
    return "special file"


def hold_signals():
    """Hold SIGTERM, SIGHUP and SIGINT (-> the old mask, for release_signals)
    while a temporary file is created and handed to its cleanup: a signal
    arriving in between (Python runs handlers between bytecodes, also inside
    tempfile) would otherwise leave the file behind. A held signal is
    delivered at release_signals, when the cleanup already owns the file."""
    import signal
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP, signal.SIGINT})


def release_signals(old):
    import signal
    signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _not_regular(path, mode):
    kind = kind_of(mode)
    if kind == "directory":
        return KernelReproError("%s: is a directory, not a kernel image" % path)
    return KernelReproError("%s: is a %s, not a regular file; kernel-repro reads only regular "
                            "files (copy the data to a file first)" % (path, kind))


def open_input(path):
    """Open a regular file for reading, never blocking on what is not one.

    A FIFO, socket or device would make open() or read() wait forever (or
    read without end): the file is opened with O_NONBLOCK, which returns at
    once even for a FIFO without a writer, and anything but a regular file
    is refused after fstat(). Regular files then read as usual.
    """
    if not path:
        raise KernelReproError("empty file name")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise KernelReproError("%s: no such file" % path)
    except PermissionError:
        raise KernelReproError("%s: permission denied" % path)
    except OSError as e:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = 0
        if mode and not stat.S_ISREG(mode):
            raise _not_regular(path, mode)   # a socket: ENXIO
        raise KernelReproError("%s: cannot open: %s" % (path, e.strerror or e))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
