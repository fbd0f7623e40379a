# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""``kernel-repro env``: reproducible settings for a plain (non-Yocto) kernel build.

    eval "$(kernel-repro env --srctree .)" && make        # shell exports
    make $(kernel-repro env --format make) bzImage         # make arguments

Thin: the settings come from kernelrepro.reproenv, as for the bbclass; the
CLI (``cli.cmd_env``) prints what ``settings`` returns.
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


def settings(srctree=".", objtree=None, source_date_epoch=None, pahole=None,
             user=reproenv.DEFAULT_USER, host=reproenv.DEFAULT_HOST, build_version="1",
             prefix=reproenv.DEFAULT_PREFIX):
    """The settings of a reproducible plain kernel build -> {"variables": {name: value},
    "source_date_epoch", "pahole" (path or None), "pahole_version" (tuple or None),
    "pahole_mode"}. ``source_date_epoch`` None: default_source_date_epoch; ``pahole``
    None: pahole on PATH."""
    srctree_abs = os.path.abspath(srctree)
    if not os.path.isdir(srctree_abs):
        raise KernelReproError("--srctree %s is not a directory" % srctree)
    paths = [srctree_abs] + ([os.path.abspath(objtree)] if objtree else [])
    sde = source_date_epoch
    if sde is None:
        sde = default_source_date_epoch(srctree_abs)
    else:
        sde = _epoch(sde, "--source-date-epoch")
    pahole = pahole or shutil.which("pahole")
    if pahole and os.sep in pahole:
        pahole = os.path.abspath(pahole)
    elif pahole:
        pahole = shutil.which(pahole)
    version = reproenv.pahole_version_of(pahole) if pahole else None
    try:
        variables = reproenv.make_variables(
            sde, paths=paths, user=user, host=host,
            build_version=build_version, prefix=prefix,
            pahole=pahole if version else None, pahole_version=version)
    except ValueError as e:
        raise KernelReproError(str(e))
    return {"variables": variables, "source_date_epoch": sde, "pahole": pahole,
            "pahole_version": version, "pahole_mode": reproenv.pahole_mode(version)}
