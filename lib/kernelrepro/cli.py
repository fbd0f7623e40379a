# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""The ``kernel-repro`` command line: a thin layer over the library.

Exit status: 0 same / ok, 1 different / mismatch, 2 error (one line on stderr).
"""

# Before any other import (they take tens of milliseconds): Ctrl-C from here
# on is one line and status 130, never a traceback (errors.catch_interrupt,
# which the package's first import has already run for most entry points).
from .errors import RAISE_ON_INTERRUPT, catch_interrupt

catch_interrupt()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from . import __version__, decompress, image, reproenv  # noqa: E402
from .errors import (KernelReproError, Terminated, missing_module, printable,  # noqa: E402
                     raise_terminated)

PROG = "kernel-repro"


#: --json was on the command line: errors also go to stdout as JSON, even usage errors.
_json_wanted = False


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        message = "%s (see %s --help)" % (printable(message), self.prog)
        if _json_wanted:
            sys.stdout.write(_dumps({"error": message, "exit": 2}) + "\n")
        self.exit(2, "%s: error: %s\n" % (PROG, message))


def _dumps(obj, **kw):
    import json  # here: plain-text runs do not pay for it at start-up
    return json.dumps(obj, **kw)


def _limit(args):
    """--max-size (even if given as ''), else $KERNEL_REPRO_MAX_SIZE (empty: unset), parsed once."""
    if getattr(args, "_limit_bytes", None) is None:
        text = getattr(args, "max_size", None)
        if text is None:
            text = os.environ.get("KERNEL_REPRO_MAX_SIZE") or None
        args._limit_bytes = (decompress.parse_limit(text) if text is not None
                             else decompress.DEFAULT_LIMIT)
    return args._limit_bytes


def _check_args(args):
    """Mistakes that must stop the command before it reads anything (one line, once)."""
    if getattr(args, "notes", None) == "":
        raise KernelReproError("--notes: empty path (an unset shell variable?); give the notes "
                               "file, or leave --notes out to read this machine's "
                               "/sys/kernel/notes")
    if hasattr(args, "max_size"):
        try:
            _limit(args)
        except KernelReproError as e:
            raise KernelReproError("--max-size: %s" % e) from None


def cmd_buildid(args, out):
    status, results = 0, []
    for path in args.files:
        try:
            d = image.describe(path, _limit(args))
        except KernelReproError as e:
            _err(e)
            status = 2
            if args.json:
                results.append({"file": path, "error": _message(e), "exit": 2})
            continue
        results.append(d)
        if not args.json:
            out.write("%s  %s\n" % (d["build_id"], printable(path)))
            if args.verbose:
                out.write("    %s\n" % " -> ".join(d["layers"]))
    if args.json:
        out.write(_dumps(results, indent=1) + "\n")
    return status


def cmd_extract(args, out):
    from . import extract  # only extract writes files
    kind, layers, size = extract.extract(args.image, args.output, args.force, _limit(args))
    if args.output == "-":
        return 0    # standard output carries the payload
    if args.json:
        out.write(_dumps({"image": args.image, "output": args.output, "kind": kind,
                              "layers": [str(x) for x in layers], "bytes": size}) + "\n")
    else:
        out.write("%s: wrote %s (%s, %d bytes) via %s\n" % (
            printable(args.image), printable(args.output), "ELF" if kind == "elf" else "raw image", size,
            " -> ".join(str(x) for x in layers)))
    return 0


def cmd_check(args, out):
    if args.debug_vmlinux is None:
        return _check_debuginfod(args, out)
    from . import check  # imported only where needed (fast buildid)
    r = check.check(args.image, args.debug_vmlinux, _limit(args))
    return _report_check(args, r, args.debug_vmlinux, out)


def _check_debuginfod(args, out):
    """``check IMAGE --debuginfod [URL]``: the image against the debug file a
    debugger would download."""
    if args.debuginfod is None:
        raise KernelReproError("check needs a DEBUG_VMLINUX or --debuginfod [URL]")
    from . import debuginfod
    limit = _limit(args)
    servers = debuginfod.servers(args.debuginfod)
    from . import check
    wanted = image.read_build_id(args.image, limit)
    try:
        with debuginfod.fetched(wanted, servers, limit) as found:
            _debuginfod_notes(found)
            r = check.check(args.image, found.path, limit)
    except debuginfod.NotFound as e:
        verdict = "no debug info for %s (%s) on %s" % (args.image, wanted, ", ".join(e.servers))
        _write(args, out, {"image": args.image, "build_id": wanted, "servers": servers,
                           "found": None, "match": False, "verdict": verdict},
               ["image:         %s  %s" % (wanted, args.image), verdict])
        return 1
    r["debug"]["file"] = found.source
    r["debuginfod"] = found.as_dict()
    if not args.json:
        out.write("found:         %s\n" % found.where())
    return _report_check(args, r, found.source, out)


def _debuginfod_notes(found):
    """The notes of a fetch (the cache not written, servers skipped) on stderr."""
    for n in found.notes:
        sys.stderr.write("kernel-repro: note: %s\n" % printable(n))
    for p in found.problems:
        sys.stderr.write("kernel-repro: note: skipped %s\n" % printable(p))


def _write(args, out, obj, lines):
    """``obj`` as JSON with --json, else ``lines`` (escaped)."""
    if args.json:
        out.write(_dumps(obj, indent=1) + "\n")
    else:
        out.write("\n".join(printable(x) for x in lines) + "\n")


def _report_check(args, r, debug_name, out):
    if args.json:
        out.write(_dumps(r, indent=1) + "\n")
    else:
        out.write("image:         %s  %s\n" % (r["image"]["build_id"], args.image))
        out.write("debug vmlinux: %s  %s\n" % (r["debug"]["build_id"], debug_name))
        sec = r["sections"]
        if sec and sec.get("raw"):
            out.write("sections:      %s\n" % (
                "%d allocated sections compared at their load addresses, %d differ"
                % (sec["compared"], len(sec["differ"])) if sec["laid_out"] else
                "not compared (a raw image not laid out as the debug file's segments say)"))
        elif sec:
            out.write("sections:      %d allocated sections compared, %d differ (of %d on both "
                      "sides; addresses and flags compared for all)\n"
                      % (sec["compared"], len(sec["differ"]), sec["layout"]))
            for key, where in (("only_in_image", "image only"), ("only_in_debug", "debug only")):
                if sec[key]:
                    out.write("%-15s%s\n" % (where + ":", _names(sec[key])))
            if sec["skipped"]:
                out.write("skipped:       %s\n" % _skipped_line(sec))
        out.write(r["verdict"] + "\n")
    return 0 if r["match"] else 1


def _names(names, n=5):
    more = len(names) - n
    return ", ".join(names[:n]) + (", ... (%d more)" % more if more > 0 else "")


def _skipped_line(sec):
    """'22 sections (no bytes in the debug file: .text, .rodata, ...)' on one line."""
    in_image = sec.get("skipped_no_bytes_in_image", [])
    in_debug = [n for n in sec["skipped"] if n not in in_image]
    parts = ["%s: %s" % (where, _names(names)) for where, names in
             (("no bytes in the debug file", in_debug), ("no bytes in the image", in_image)) if names]
    n = len(sec["skipped"])
    return "%d section%s (%s)" % (n, "" if n == 1 else "s", "; ".join(parts))


def cmd_running(args, out):
    if args.debuginfod is not None:
        return _running_debuginfod(args, out)
    if args.debug_vmlinux is None:
        return _running_records(args, out)
    notes = args.notes or "/sys/kernel/notes"
    running = image.notes_build_id(notes)
    dbg = image.describe(args.debug_vmlinux, _limit(args))
    match = running == dbg["build_id"]
    verdict = ("match: the running kernel is build %s" % running if match else
               "MISMATCH: running kernel build-id %s != %s build-id %s: these symbols are "
               "from another build" % (running, args.debug_vmlinux, dbg["build_id"]))
    if args.json:
        out.write(_dumps({"running": running, "notes": notes, "debug": dbg,
                              "match": match, "verdict": verdict}, indent=1) + "\n")
    else:
        out.write("running kernel: %s  %s\n" % (running, notes))
        out.write("debug vmlinux:  %s  %s\n" % (dbg["build_id"], args.debug_vmlinux))
        out.write(verdict + "\n")
    return 0 if match else 1


def _running_records(args, out):
    """``running`` without a DEBUG_VMLINUX: the build-id records the kernel package installs."""
    from . import running
    notes = args.notes or running.NOTES
    r = running.check_records(notes, args.records or running.RECORDS_DIR)
    if args.json:
        out.write(_dumps(r, indent=1) + "\n")
    else:
        out.write("running kernel: %s  %s\n" % (r["running"], notes))
        for rec in r["records"]:
            out.write("record:         %s  %s (%s)\n" % (rec["build_id"], rec["file"],
                                                       rec.get("recipe") or "?"))
        out.write(r["verdict"] + "\n")
    return 0 if r["match"] else 1


def _running_debuginfod(args, out):
    """``running --debuginfod [URL]``: can a debugger get the running kernel's symbols?"""
    from . import debuginfod
    notes = args.notes or "/sys/kernel/notes"
    limit = _limit(args)
    servers = debuginfod.servers(args.debuginfod)
    running = image.notes_build_id(notes)
    try:
        with debuginfod.fetched(running, servers, limit) as found:
            _debuginfod_notes(found)
    except debuginfod.NotFound as e:
        verdict = "no debug info for the running kernel %s on %s" % (running, ", ".join(e.servers))
        _write(args, out, {"running": running, "notes": notes, "servers": servers,
                           "found": None, "match": False, "verdict": verdict},
               ["running kernel: %s  %s" % (running, notes), verdict])
        return 1
    if found.cached:
        verdict = ("match: debug info for the running kernel %s is in the debuginfod cache %s"
                   % (running, found.cache_dir))
    else:
        verdict = ("match: debug info for the running kernel %s is on %s"
                   % (running, found.server))
    _write(args, out, {"running": running, "notes": notes, "servers": servers,
                       "found": found.as_dict(), "match": True, "verdict": verdict},
           ["running kernel: %s  %s" % (running, notes),
            "debug info:     %s  %s" % (found.build_id, found.where()), verdict])
    return 0


def cmd_env(args, out):
    from . import envcmd
    r = envcmd.settings(args.srctree, args.objtree, args.source_date_epoch, args.pahole,
                        args.user, args.host, args.build_version, args.prefix)
    version = r["pahole_version"]
    if args.format == "json":
        out.write(_dumps({
            "variables": r["variables"], "source_date_epoch": r["source_date_epoch"],
            "pahole": r["pahole"], "pahole_version": ".".join(map(str, version)) if version else None,
            "pahole_mode": r["pahole_mode"]}, indent=1) + "\n")
    else:
        out.write(reproenv.format_variables(r["variables"], args.format))
    return 0


def _build_host_module(name, command):
    """A module the OE recipe leaves out on the target (KERNEL_REPRO_BUILD_ONLY):
    one line naming where the command runs, not a traceback."""
    import importlib
    try:
        return importlib.import_module("." + name, __package__)
    except ModuleNotFoundError as e:
        if e.name != "%s.%s" % (__package__, name):
            raise
        raise KernelReproError("%s is not installed here: it runs on a build host (this is the "
                               "device's kernel-repro, which has only the commands a device "
                               "needs); use the layer's scripts/kernel-repro or pip install "
                               "kernelrepro there" % command) from None


def cmd_demo(args, out):
    demo = _build_host_module("demo", "kernel-repro demo")  # pyelftools and the fixture builder
    return demo.run(out, args.report, args.jobs)


def cmd_diff(args, out):
    from . import diff
    r = diff.diff(args.a, args.b, _limit(args))
    if args.json:
        out.write(_dumps(r, indent=1, default=str) + "\n")
    else:
        out.write(format_diff(r))
    return 0 if r["identical"] else 1


def format_diff(r):
    lines = []
    for side in ("a", "b"):
        d = r[side]
        lines.append("%s: %s\n   build-id %s, %s" % (side.upper(), d["file"], d["build_id"],
                                                  " -> ".join(d["layers"])))
    verdict = "IDENTICAL" if r["identical"] else "DIFFERENT"
    lines.append("verdict: %s" % verdict)
    for s in r["explanation"]:
        lines.append("  - " + s)
    st = r.get("strings", {})
    if "paths" in st:
        p = st["paths"]
        for side in ("a", "b"):
            for ex in p["examples_" + side][:3]:
                lines.append("      e.g. only in %s: %s" % (side.upper(), ex))
    sy = r.get("symbols", {})
    if sy.get("available") and sy.get("moved"):
        lines.append("  largest symbol moves:")
        for m in sy["moved"][:5]:
            lines.append("      %-40s %s -> %s (%+d)" % (m["name"], m["a"], m["b"], m["delta"]))
    sec = r.get("sections")
    if sec and sec["differ"]:
        lines.append("  differing sections (size A -> size B):")
        for d in sec["differ"][:15]:
            lines.append("      %-28s %10d -> %-10d" % (d["name"], d["size_a"], d["size_b"]))
    return "\n".join(lines) + "\n"


def cmd_sstate_audit(args, out):
    sstateaudit = _build_host_module("sstateaudit", "kernel-repro sstate-audit")
    if args.delete and any(sstateaudit.is_url(p) for p in args.caches):
        raise KernelReproError("--delete removes objects from local SSTATE_DIRs only; "
                               "a mirror URL is never modified (delete there by hand)")
    progress = None
    if sys.stderr.isatty():
        def progress(done, total, name):
            if total >= 20:
                sys.stderr.write("\r\x1b[Ksstate-audit: object %d of %d %s"
                                 % (done, total, printable(name)[:60]) + ("\n" if done == total else ""))
                sys.stderr.flush()
    r = sstateaudit.audit(args.caches, pns=args.pn, limit=_limit(args), index=args.index,
                          progress=progress)
    if args.delete:
        r["deleted"] = sstateaudit.delete(r)
    if args.json:
        out.write(_dumps(r, indent=1) + "\n")
    else:
        out.write("".join(line + "\n" for line in sstateaudit.format_report(r)))
        for p in r.get("deleted", ()):
            out.write("deleted %s\n" % printable(p))
    return 1 if r["mixed"] else 0


def _message(e):
    return printable(str(e))


def _err(e):
    sys.stderr.write("%s: error: %s\n" % (PROG, _message(e)))


def _fail(args, out, e):
    """The error line on stderr (and with --json, the error as JSON on stdout) -> 2."""
    _err(e)
    if getattr(args, "json", False):
        try:
            out.write(_dumps({"error": _message(e), "exit": 2}) + "\n")
        except OSError:
            pass
    return 2


def build_parser():
    p = _Parser(prog=PROG, description="Read, extract and compare Linux kernel images and "
                "their debug symbols. Exit 0 same/ok, 1 different/mismatch, 2 error.")
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--max-size", metavar="SIZE",
                        help="cap on decompressed output (default 2G, or $KERNEL_REPRO_MAX_SIZE)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("buildid", parents=[common], help="print the GNU build-id of kernel images",
                       description="Print '<build-id>  <file>' for each file: ELF vmlinux, "
                       "bzImage (EFI/PE too), arm64 Image, compressed images, zboot, "
                       "/sys/kernel/notes.")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("-v", "--verbose", action="store_true", help="show the layers peeled off")
    s.set_defaults(func=cmd_buildid)

    s = sub.add_parser("extract", parents=[common], help="write the kernel payload (ELF where there is one)")
    s.add_argument("image")
    s.add_argument("-o", "--output", required=True,
                   help="a new file, or an existing regular file with --force; - for "
                   "standard output")
    s.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("check", parents=[common], help="does a deployed image match its debug vmlinux?")
    s.add_argument("image")
    debug = s.add_mutually_exclusive_group()
    debug.add_argument("debug_vmlinux", nargs="?")
    debug.add_argument("--debuginfod", nargs="?", const="", metavar="URL",
                       help="check against the debug file debuginfod serves for the image's "
                       "build-id (default: $DEBUGINFOD_URLS)")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("diff", parents=[common], help="are two kernels identical? if not, why?")
    s.add_argument("a")
    s.add_argument("b")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("running", parents=[common],
                       help="does the running kernel match these debug symbols?",
                       description="Compare the running kernel's build-id (from "
                       "/sys/kernel/notes) with a debug vmlinux or a deployed image; without "
                       "one, with the build-id records the kernel package installs, or ask "
                       "debuginfod for its debug info.")
    against = s.add_mutually_exclusive_group()
    against.add_argument("debug_vmlinux", nargs="?")
    against.add_argument("--records", metavar="DIR",
                         help="build-id records (default: /usr/share/kernel-repro)")
    against.add_argument("--debuginfod", nargs="?", const="", metavar="URL",
                         help="fetch the running kernel's debug info by build-id (default: "
                         "$DEBUGINFOD_URLS)")
    s.add_argument("--notes", metavar="PATH",
                   help="a copy of /sys/kernel/notes (default: this machine's)")
    s.set_defaults(func=cmd_running)

    s = sub.add_parser("env", help="print reproducible-build settings for a plain kernel build",
                       description="``kernel-repro env``: reproducible settings for a plain "
                       "(non-Yocto) kernel build.")
    s.add_argument("--srctree", default=".", help="kernel source tree (default: .)")
    s.add_argument("--objtree", help="separate build directory (make O=...), if any")
    s.add_argument("--source-date-epoch", metavar="SECONDS",
                   help="default: $SOURCE_DATE_EPOCH, else the last git commit, else Makefile mtime")
    s.add_argument("--user", default=reproenv.DEFAULT_USER, help="KBUILD_BUILD_USER")
    s.add_argument("--host", default=reproenv.DEFAULT_HOST, help="KBUILD_BUILD_HOST")
    s.add_argument("--build-version", default="1", help="KBUILD_BUILD_VERSION (the #N in uname -v)")
    s.add_argument("--prefix", default=reproenv.DEFAULT_PREFIX,
                   help="what absolute build paths become in debug info")
    s.add_argument("--pahole", help="the pahole the build uses (default: pahole on PATH)")
    s.add_argument("--format", choices=("shell", "make", "json"), default="shell")
    s.set_defaults(func=cmd_env)

    s = sub.add_parser("sstate-audit", parents=[common],
                       help="find kernel sstate objects of one compile holding different kernels",
                       description="Group the kernel's do_deploy, do_package, do_packagedata, "
                       "do_package_write_* and SPDX objects of an sstate cache by the do_compile "
                       "they came from (their .siginfo; by name where there is none) and report "
                       "every group whose objects hold different build-ids, with the objects to "
                       "delete. A directory or file:// URL is listed directly; an http(s) mirror "
                       "needs its object names: --index FILE, or else its autoindex pages are "
                       "crawled (one request per <2 hex>/<2 hex>/ directory: up to 65,793 on a "
                       "full mirror), and the kernel objects and siginfo files are downloaded "
                       "(each at most --max-size). Exit 0 clean, 1 mixed, 2 error.")
    s.add_argument("caches", nargs="+", metavar="SSTATE_DIR|URL")
    s.add_argument("--delete", action="store_true",
                   help="remove the mixed groups' objects (and their .siginfo) from local "
                   "caches; refused with a URL")
    s.add_argument("--pn", action="append", metavar="PN",
                   help="the kernel recipe (repeatable; default: recipes whose do_deploy "
                   "signature names KERNEL_IMAGETYPE(S): on a mirror, one siginfo download "
                   "per recipe with a do_deploy or do_package object)")
    s.add_argument("--index", metavar="FILE",
                   help="the object names of the (one) cache, one a line, instead of listing "
                   "or crawling it")
    s.set_defaults(func=cmd_sstate_audit)

    s = sub.add_parser("demo", help="build, compare and boot real kernels: the problem and the fix",
                       description="Build a small kernel twice plainly and twice reproducibly "
                       "(cached), compare them, boot one in qemu and check its running build-id "
                       "against the debug symbols. Exit 0 only when every verdict held.")
    s.add_argument("--report", help="Markdown report path (default ./kernel-repro-demo-report.md; "
                   "an existing file is never overwritten: -1, -2 ... are added)")
    s.add_argument("--jobs", type=int, help="make -j (default: all cores)")
    s.set_defaults(func=cmd_demo)
    return p


def _catch_signals():
    """SIGTERM and SIGHUP clean up like Ctrl-C (see errors.Terminated) -> old handlers."""
    import signal
    old = {}
    for s in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(s) is not signal.SIG_IGN:   # nohup stays nohup
                old[s] = signal.signal(s, raise_terminated)
        except (ValueError, OSError):   # not the main thread: leave them alone
            pass
    return old


def main(argv=None, out=None):
    global _json_wanted
    if out is None:
        out = sys.stdout
        if hasattr(out, "reconfigure"):     # a file name that is not UTF-8 must not crash
            out.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else list(argv)
    _json_wanted = "--json" in argv
    args = build_parser().parse_args(argv)
    handlers = _catch_signals()
    try:
        return _run(args, out)
    finally:
        import signal
        for s, h in handlers.items():
            signal.signal(s, h)


def _run(args, out):
    try:
        try:
            RAISE_ON_INTERRUPT[0] = True    # Ctrl-C: KeyboardInterrupt, handled below
            _check_args(args)
            return args.func(args, out)
        finally:
            RAISE_ON_INTERRUPT[0] = False   # a second one while reporting: one line, 130
    except Terminated as e:
        sys.stderr.write("%s: terminated by %s; partial output removed\n" % (PROG, e.name))
        return 128 + e.signum
    except KernelReproError as e:
        return _fail(args, out, e)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % PROG)
        return 130
    except MemoryError:
        return _fail(args, out, "out of memory (lower --max-size)")
    except ImportError as e:    # an optional module (pyelftools for diff) missing
        known = missing_module(e)
        if known is None:
            raise
        return _fail(args, out, known)
    except OSError as e:
        return _fail(args, out, "%s%s" % (e.strerror or e, (": " + str(e.filename))
                                          if getattr(e, "filename", None) else ""))
    except Exception as e:  # never a traceback for a user; KERNEL_REPRO_DEBUG=1 shows it
        if os.environ.get("KERNEL_REPRO_DEBUG"):
            raise
        return _fail(args, out, "cannot process input (%s: %s); rerun with KERNEL_REPRO_DEBUG=1 "
                     "and report this if the input is a valid kernel" % (type(e).__name__, e))


if __name__ == "__main__":
    sys.exit(main())
