# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Is the running kernel the one this image's build-id records describe?

On the device no debug vmlinux is needed: with the layer enabled the kernel
recipe packages its compile's fingerprint (the layer's build-id record,
``kernelrepro.fingerprint``) as ``/usr/share/kernel-repro/<kernel PN>.buildid``.
``kernel-repro running`` without a DEBUG_VMLINUX compares the running
kernel's GNU build-id (``/sys/kernel/notes``) with every record there.

The case it catches: a kernel flashed to the boot partition from another
build than the root filesystem (and its debug symbols) came from.

``check_records`` returns the result; the CLI prints it (exit 0 when a
record names the running kernel, 1 when none does, 2 on an error: no
records, unreadable notes, a corrupt record).
"""

import os

from . import fingerprint, image
from .errors import KernelReproError

#: Where the kernel recipe's record package installs the records.
RECORDS_DIR = "/usr/share/kernel-repro"
#: The running kernel's notes (the raw ELF notes of its .notes section).
NOTES = "/sys/kernel/notes"
SUFFIX = ".buildid"


def load_records(directory=RECORDS_DIR):
    """[(path, record)] for every ``*.buildid`` in ``directory``, sorted by name.

    ``record`` is ``fingerprint.read_record``'s dict (at least 'build_id' and
    'recipe'). KernelReproError when the directory is missing or holds no
    record, or when a record is not a valid fingerprint file.
    """
    if not os.path.isdir(directory):
        raise KernelReproError(
            "%s: no build-id records here (not a directory); they come with the kernel's "
            "package when the kernel-repro layer is enabled (INHERIT += \"kernel-repro\"), "
            "or give --records DIR" % directory)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    except OSError as e:
        raise KernelReproError("%s: cannot list: %s" % (directory, e.strerror or e))
    records = []
    for name in names:
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        try:
            rec = fingerprint.read_record(path)
        except OSError as e:
            raise KernelReproError("%s: cannot read: %s" % (path, e.strerror or e))
        if rec is not None:
            records.append((path, rec))
    if not records:
        raise KernelReproError("%s: no *%s build-id records in this directory" % (directory, SUFFIX))
    return records


def _label(path, rec):
    return "%s=%s" % (rec.get("recipe") or os.path.basename(path)[:-len(SUFFIX)], rec["build_id"])


def compare(running_id, records):
    """Result dict: the running id, the records, the matching ones, a verdict line."""
    running_id = running_id.lower()
    matches = [(p, r) for p, r in records if r["build_id"] == running_id]
    if matches:
        path, rec = matches[0]
        verdict = ("match: the running kernel %s is the build recorded for %s (%s)"
                   % (running_id, rec.get("recipe") or "?", path))
    else:
        verdict = ("MISMATCH: the running kernel %s is not the kernel this image's build-id "
                   "records describe (%s): its debug symbols are from another build"
                   % (running_id, ", ".join(_label(p, r) for p, r in records)))
    return {"running": running_id, "match": bool(matches),
            "records": [dict(r, file=p) for p, r in records],
            "matching": [p for p, _ in matches], "verdict": verdict}


def check_records(notes=NOTES, directory=RECORDS_DIR):
    """Read the running kernel's build-id from ``notes`` and compare it with the records."""
    running_id = image.notes_build_id(notes)
    result = compare(running_id, load_records(directory))
    result["notes"] = notes
    result["records_dir"] = directory
    return result
