# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""One compile per kernel group in an SSTATE_DIR that several builders write.

OE-Core keeps the first object written under a name (sstate.bbclass
sstate_create_and_sign_package: os.link, never a replace). Two builders
that both found a kernel's group partial both compile; whichever finishes
each task first owns that object, so the cache can end with a *complete*
group from two compiles, unmarked -- and every later build restores it and
stops in do_kernel_repro_verify. Stale marks (sstategroup) cannot help:
they are written at hash-check time, before either compile exists.

What settles it, after each group member's object is created (the class's
SSTATEPOSTCREATEFUNCS hook), under a lock per kernel recipe in SSTATE_DIR
(bb.utils.lockfile, as OE-Core's own sstate and BitBake's cache locks):

* a **claim** names the compile that publishes the group for one do_compile
  hash: the first member settled takes it (``<SSTATE_DIR>/.kernel-repro-claims/
  <do_compile unihash>``, holding the compile's build-id);
* the claiming compile makes every member it settles its own: an object of
  another compile is replaced (written beside, renamed into place);
* another compile never leaves its object: one it wrote (the name was free)
  is removed again, for the claiming compile to write; one of the claiming
  compile is kept. Each builder's own outputs are of its own compile either
  way: only what the cache keeps is decided here.

Which compile an object holds is read from the object itself: the layer's
build-id records inside it (deploy, pkgdata, feed, -buildid package), never
a side file another builder could have left behind. An object without a
record (the SPDX members, a cache filled without the layer) is left alone.

A claim is dropped whenever a build compiles the kernel for that hash (the
do_compile postfunc: the hash check found the group incomplete, so it is
rebuilt), so a later compile can always claim it: no claim outlives the
next compile. A claim whose compile never finished publishing leaves a
partial group, which the next build rebuilds (safe). On NFS, bb.utils.lockfile's flock is carried by
POSIX locks (Linux NFS clients since 2.6.12; NFSv4, or NFSv3 with lockd),
so builders on different hosts serialize too; os.rename and os.link are
atomic there as well.
"""

import contextlib
import os
import tempfile

from . import sstategroup

CLAIMS = ".kernel-repro-claims"
LOCKS = ".kernel-repro-locks"


def claim_path(sstate_dir, compile_hash):
    return os.path.join(sstate_dir, CLAIMS, compile_hash)


def lock_path(sstate_dir, pn):
    return os.path.join(sstate_dir, LOCKS, pn + ".lock")


@contextlib.contextmanager
def locked(path):
    """bb.utils.lockfile (flock), as OE-Core locks its shared directories."""
    import bb.utils
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lf = bb.utils.lockfile(path)
    try:
        yield
    finally:
        bb.utils.unlockfile(lf)


def object_compiles(obj, limit=None):
    """Build-ids of the compile records sstate object ``obj`` carries
    (artifacts.sstate_record_ids: a bundle's record is left out). Empty
    when it carries none."""
    from . import artifacts
    with tempfile.TemporaryDirectory(prefix="kernel-repro-settle-") as tmp:
        return set(artifacts.sstate_record_ids(obj, tmp, limit).values())


def read_claim(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def take_claim(path, build_id):
    """The claim at ``path``: ours when there was none (created O_EXCL)."""
    current = read_claim(path)
    if current:
        return current
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(build_id + "\n")
    try:
        os.link(tmp, path)          # first one wins, as OE-Core's objects
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return read_claim(path)


def drop_claim(sstate_dir, compile_hash):
    """The group is rebuilt (a build's hash check dropped it): a later compile may claim it."""
    try:
        os.unlink(claim_path(sstate_dir, compile_hash))
    except FileNotFoundError:
        pass
    except OSError as e:
        return "%s: %s" % (claim_path(sstate_dir, compile_hash), e.strerror or e)
    return None


def decide(claim, ours, held):
    """What to do with the object a group member's task just settled.

    claim -- build-id of the compile that publishes the group
    ours  -- this build's compile
    held  -- build-ids of the compile records in the object now (set;
             empty: no object, or one without a record)
    -> "keep", "replace" (write ours over it) or "remove" (ours, not the claim's)
    """
    if claim == ours:
        return "keep" if held == {ours} else "replace"
    if ours in held:
        return "remove"
    return "keep"


def replace_object(obj, create):
    """Write a fresh sstate object beside ``obj`` (``create(path)``, OE-Core's
    own creation) and rename it into place, its .sig too: a build reading
    the cache sees the old object or the new one, never none (OE-Core itself
    never overwrites). False when ``create`` made nothing."""
    tmp = os.path.join(os.path.dirname(obj), ".kernel-repro-%d-%s" % (os.getpid(), os.path.basename(obj)))
    try:
        create(tmp)
        if not os.path.exists(tmp):
            return False
        os.replace(tmp, obj)
        if os.path.exists(tmp + ".sig"):
            os.replace(tmp + ".sig", obj + ".sig")
        return True
    finally:
        for p in (tmp, tmp + ".sig"):
            if os.path.lexists(p):
                try:
                    os.unlink(p)
                except OSError:
                    pass


def settle(obj, ours, compile_hash, sstate_dir, pn, create, held_of=object_compiles, log=None):
    """Settle group member object ``obj`` after this build created it (or
    OE-Core kept another builder's): see the module docstring.

    create  -- callable(path): write this build's object to ``path`` (the
               class runs OE-Core's sstate_create_and_sign_package there)
    held_of -- callable(obj) -> set of build-ids (object_compiles)
    Returns the action taken ("keep", "replace", "remove", "skip").
    """
    log = log or (lambda msg: None)
    with locked(lock_path(sstate_dir, pn)):
        claim = take_claim(claim_path(sstate_dir, compile_hash), ours)
        held = held_of(obj) if os.path.exists(obj) else set()
        if os.path.exists(obj) and not held:
            return "skip"           # no record inside: nothing to tell compiles apart by
        action = decide(claim, ours, held)
        if action == "replace":
            if not replace_object(obj, create):
                log("kernel-repro: could not create a fresh %s" % obj)
                return "skip"
            log("kernel-repro: sstate object %s now holds this build's compile %s (it held %s)"
                % (obj, ours, " ".join(sorted(held)) or "nothing"))
        elif action == "remove":
            for p in (obj, obj + ".sig"):
                if os.path.lexists(p):
                    os.unlink(p)
            log("kernel-repro: removed this build's sstate object %s: the group is published by "
                "compile %s (another builder); this build's own outputs are unchanged" % (obj, claim))
        if action in ("keep", "replace") and claim == ours:
            sstategroup.clear_stale(obj, sstategroup.stale_index(sstate_dir))
        return action
