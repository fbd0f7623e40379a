# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Exceptions of the library.

Every problem caused by the input (a missing file, a corrupt or unknown image,
a decompression bomb) is raised as a KernelReproError whose message is one
line a user can act on; the CLI prints it and exits with status 2.

It is also the first module of the package any entry point runs, so the
kernel-repro program's Ctrl-C handler is installed here (catch_interrupt).
"""

import contextlib
import os
import sys

try:
    import _signal as _sig     # built in and already loaded (signal itself imports enum)
except ImportError:             # pragma: no cover (not CPython)
    import signal as _sig

#: [True] while a command runs (cli._run): Ctrl-C raises KeyboardInterrupt
#: there, so that its cleanups run and the command reports it.
RAISE_ON_INTERRUPT = [False]


def _interrupted(signum, frame):
    """SIGINT handler of the kernel-repro program. While a command runs,
    KeyboardInterrupt; anywhere else -- the imports, the argument parsing,
    the way out -- nothing is half done: one line, exit 130, at once."""
    if RAISE_ON_INTERRUPT[0]:
        raise KeyboardInterrupt
    try:
        os.write(2, b"kernel-repro: interrupted\n")
    finally:
        os._exit(130)


def _is_the_program():
    """Is this process the kernel-repro command -- scripts/kernel-repro, the
    console script, the OE recipe's kernel-repro (all named so), python -m
    kernelrepro -- and not a program importing the library?"""
    main = sys.modules.get("__main__")
    if os.path.basename(getattr(main, "__file__", None) or "") == "kernel-repro":
        return True
    if getattr(getattr(main, "__spec__", None), "name", None) == "kernelrepro.__main__":
        return True
    if sys.argv[:1] != ["-m"]:     # python -m sets it so while it locates the module
        return False
    argv = list(getattr(sys, "orig_argv", None) or ())     # (3.10+) which module
    return any(a == "-mkernelrepro" or (a == "-m" and argv[i + 1:i + 2] == ["kernelrepro"])
               for i, a in enumerate(argv))


def catch_interrupt():
    """In the kernel-repro program, take SIGINT over (see _interrupted) unless
    it is ignored (a background job stays so). Called as early as the package
    runs: here, when an entry point's import reaches this module, and again by
    cli before its own imports (python -m imports the package first)."""
    try:
        if _sig.getsignal(_sig.SIGINT) is _sig.default_int_handler and _is_the_program():
            _sig.signal(_sig.SIGINT, _interrupted)
    except (ValueError, OSError):  # pragma: no cover (not the main thread)
        pass


catch_interrupt()


class KernelReproError(Exception):
    """A user-facing error: bad input, unsupported format, limits exceeded."""


class FormatError(KernelReproError):
    """The file is not a kernel image this library understands."""


class LimitExceeded(KernelReproError):
    """Decompression would exceed the configured output cap."""


class NoBuildIdError(KernelReproError):
    """The kernel image carries no GNU build-id note."""


@contextlib.contextmanager
def naming(name):
    """Prefix the input's name to a KernelReproError raised inside, if it lacks it."""
    try:
        yield
    except KernelReproError as e:
        msg = str(e)
        if name and not msg.startswith(name + ": "):
            raise type(e)("%s: %s" % (name, msg)) from None
        raise


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised from the signal handler so that every
    ``finally`` / ``except BaseException`` cleanup (partial outputs,
    temporary payload copies) runs as it does for Ctrl-C. A BaseException,
    so that no ``except Exception`` swallows it."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self):
        import signal
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return "signal %d" % self.signum


def raise_terminated(signum, _frame=None):
    """Signal handler: ignore further SIGTERM/SIGHUP (the cleanup must not be
    cut short by a second one) and raise Terminated."""
    import signal
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise Terminated(signum)


def printable(text):
    """``text`` made safe for one line of a terminal or a log.

    Undecodable bytes of a file name (surrogate-escaped by Python) become
    ``\\xNN``; newlines, escape sequences and other control or invisible
    characters become ``\\n``, ``\\x1b``, ``\\u200b``: a name can neither
    split a message in two nor drive the terminal.
    """
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif 0xdc80 <= o <= 0xdcff:
            out.append("\\x%02x" % (o - 0xdc00))
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x100:
            out.append("\\x%02x" % o)
        else:
            out.append("\\u%04x" % o if o < 0x10000 else "\\U%08x" % o)
    return "".join(out)


#: A Python module the toolkit may miss -> (what needs it, Debian package, pip package).
OPTIONAL_MODULES = {
    "elftools": ("diff", "python3-pyelftools", "pyelftools"),
    "zstandard": ("zstd images", "python3-zstandard", "zstandard"),
    "lz4": ("lz4 images", "python3-lz4", "lz4"),
    "lzo": ("lzo images", "python3-lzo", "python-lzo"),
}


def missing_module(e):
    """A one-line KernelReproError for an ImportError of a known optional module, or None."""
    name = (getattr(e, "name", None) or "").split(".")[0]
    if name not in OPTIONAL_MODULES:
        return None
    what, deb, pip = OPTIONAL_MODULES[name]
    return KernelReproError("%s need %s (Python module %s), which is not installed (Debian: "
                            "apt-get install %s; pip: pip install %s)" % (what, pip, name, deb, pip))


def require_module(name):
    """Raise the ImportError of the optional module ``name`` now if it is not
    installed, without importing it (pyelftools' import alone costs ~60 ms):
    a command that needs it fails before reading any input (missing_module)."""
    import importlib.util
    if importlib.util.find_spec(name) is None:
        raise ImportError("No module named %r" % name, name=name)
