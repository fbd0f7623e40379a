# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""``kernel-repro env``: reproducible settings for a plain (non-Yocto) kernel build.

    eval "$(kernel-repro env --srctree .)" && make        # shell exports
    make $(kernel-repro env --format make) bzImage         # make arguments

Thin: the settings come from kernelrepro.reproenv, as for the bbclass.
"""

import os
import shutil

from . import reproenv
from .errors import KernelReproError


def _epoch(value, what):
    try:
        return reproenv.parse_source_date_epoch(value, what)
    except ValueError as e:
        raise KernelReproError(str(e)) from None


def default_source_date_epoch(srctree, environ=None):
    """$SOURCE_DATE_EPOCH (blank: unset), else the tree's last git commit, else its
    Makefile's mtime; each checked (reproenv.parse_source_date_epoch)."""
    environ = os.environ if environ is None else environ
    if environ.get("SOURCE_DATE_EPOCH", "").strip():
        return _epoch(environ["SOURCE_DATE_EPOCH"], "$SOURCE_DATE_EPOCH")
    commit = reproenv.git_commit_epoch(srctree)
    if commit:
        return _epoch(commit, "the last git commit time of %s" % srctree)
    mk = os.path.join(srctree, "Makefile")
    if os.path.isfile(mk):
        return _epoch(int(os.stat(mk).st_mtime), "the modification time of %s (no "
                      "SOURCE_DATE_EPOCH, no git history)" % mk)
    raise KernelReproError("cannot pick SOURCE_DATE_EPOCH: %s has no Makefile; "
                           "pass --source-date-epoch or set SOURCE_DATE_EPOCH" % srctree)


def add_parser(sub):
    p = sub.add_parser("env", help="print reproducible-build settings for a plain kernel build",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--srctree", default=".", help="kernel source tree (default: .)")
    p.add_argument("--objtree", help="separate build directory (make O=...), if any")
    p.add_argument("--source-date-epoch", metavar="SECONDS",
                   help="default: $SOURCE_DATE_EPOCH, else the last git commit, else Makefile mtime")
    p.add_argument("--user", default=reproenv.DEFAULT_USER, help="KBUILD_BUILD_USER")
    p.add_argument("--host", default=reproenv.DEFAULT_HOST, help="KBUILD_BUILD_HOST")
    p.add_argument("--build-version", default="1", help="KBUILD_BUILD_VERSION (the #N in uname -v)")
    p.add_argument("--prefix", default=reproenv.DEFAULT_PREFIX,
                   help="what absolute build paths become in debug info")
    p.add_argument("--pahole", help="the pahole the build uses (default: pahole on PATH)")
    p.add_argument("--format", choices=("shell", "make", "json"), default="shell")
    p.set_defaults(func=run)
    return p


def run(args, out):
    srctree = os.path.abspath(args.srctree)
    if not os.path.isdir(srctree):
        raise KernelReproError("--srctree %s is not a directory" % args.srctree)
    paths = [srctree] + ([os.path.abspath(args.objtree)] if args.objtree else [])
    sde = args.source_date_epoch
    if sde is None:
        sde = default_source_date_epoch(srctree)
    else:
        sde = _epoch(sde, "--source-date-epoch")
    pahole = args.pahole or shutil.which("pahole")
    if pahole and os.sep in pahole:
        pahole = os.path.abspath(pahole)
    elif pahole:
        pahole = shutil.which(pahole)
    version = reproenv.pahole_version_of(pahole) if pahole else None
    try:
        variables = reproenv.make_variables(
            sde, paths=paths, user=args.user, host=args.host,
            build_version=args.build_version, prefix=args.prefix,
            pahole=pahole if version else None, pahole_version=version)
    except ValueError as e:
        raise KernelReproError(str(e))
    if args.format == "json":
        import json
        out.write(json.dumps({
            "variables": variables, "source_date_epoch": sde,
            "pahole": pahole, "pahole_version": ".".join(map(str, version)) if version else None,
            "pahole_mode": reproenv.pahole_mode(version)}, indent=1) + "\n")
    else:
        out.write(reproenv.format_variables(variables, args.format))
    return 0
