# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Carry the one-compile guarantee from the kernel recipe into the images.

An image holds a copy of the kernel (its rootfs /boot, the image files made
from it, a UKI or FIT payload) made when its do_rootfs ran. BitBake ties an
image to the kernel only through task hashes: when the kernel is compiled
again under unchanged hashes (``bitbake -c cleansstate virtual/kernel``, a
lost sstate object), the image's stamps stay current and its sstate objects
stay valid, so the image keeps the old kernel while the deployed kernel,
kernel-dbg and the package feed carry the new one. Three pieces close that:

1. **Consumers of a rebuilt kernel are not restored** (``downstream``,
   used by ``sstategroup.checkhashes_with_groups``): when a kernel's group
   is rebuilt in a build, every sstate object of a task that depends on the
   group (images, FIT, out-of-tree module packages ...) is refused and
   marked stale, so it is rebuilt after the kernel from the new compile.
2. **Cleaning the kernel invalidates its images** (``register_consumer``,
   ``consumer_stamps``): every image build registers itself with the kernel
   it checked; ``bitbake -c clean/cleansstate`` of the kernel removes those
   images' rootfs and image stamps, so their tasks are looked at (and, by 1,
   rebuilt) in the next build instead of being current.
3. **A record and a check that never let a mix pass silently**: do_rootfs
   records the build-id of the kernel it installed beside the image
   (``record_name``); the image's do_kernel_repro_image_verify (no stamp:
   it runs in every build of the image) compares it with the kernel's
   pkgdata (kernel-dbg) and deploy records (``check_image``). On a mismatch
   it invalidates the image (stamps removed, objects marked stale) and
   stops, so running the same command again rebuilds the image.

Plain functions over paths and strings; the class wires them.
"""

import glob
import os

from .fingerprint import check_pair

#: Name of the image's kernel record in DEPLOY_DIR_IMAGE, beside the image.
RECORD_SUFFIX = ".kernel-repro.buildid"

#: Image tasks whose stamps are removed to rebuild an image's rootfs and
#: image files (globs on the task name; each also loses its _setscene stamp).
IMAGE_STAMP_TASKS = ("do_rootfs", "do_image", "do_image_*", "do_create_image_spdx",
                     "do_create_rootfs_spdx", "do_create_image_sbom_spdx",
                     "do_kernel_repro_image_verify")


def record_name(link_name):
    """``<IMAGE_LINK_NAME>.kernel-repro.buildid`` (also ``<IMAGE_NAME>...``)."""
    return link_name + RECORD_SUFFIX


def image_ids(image_pn, kernel_pn, image_id, pkgdata_id, deploy_id, deploy_label="deploy"):
    """The (where, build-id) list ``check_image`` compares, absent ones left out."""
    ids = [("image %s rootfs" % image_pn, image_id),
           ("%s pkgdata/kernel-dbg" % kernel_pn, pkgdata_id),
           ("%s %s" % (kernel_pn, deploy_label), deploy_id)]
    return [(w, b.strip().lower()) for w, b in ids if b]


def mismatch_message(image_pn, kernel_pn, ids, invalidated=True):
    parts = ", ".join("%s=%s" % (w, b) for w, b in ids)
    if invalidated:
        fix = ("its rootfs and image tasks have been invalidated and its sstate objects "
               "marked stale: run `bitbake %s` again to rebuild it from the current kernel"
               % image_pn)
    else:
        fix = "rebuild it from the current kernel: bitbake -C rootfs %s" % image_pn
    return ("kernel-repro: image %s holds a kernel from another compile than %s's debug "
            "symbols and deployed kernel (GNU build-ids: %s); %s." % (image_pn, kernel_pn, parts, fix))


def check_image(image_pn, kernel_pn, ids, invalidated=True):
    """Raise FingerprintMismatch unless every build-id in ``ids`` is the same.

    ``ids`` as ``image_ids`` returns. Returns the common id, or None when
    fewer than two copies could be compared."""
    bid = check_pair(kernel_pn, ids,
                     message=lambda present: mismatch_message(image_pn, kernel_pn, present, invalidated))
    return bid if len(ids) > 1 else None


# ------------------------------------------------------------ stamps

def stamp_files(stamp_prefix, tasks=IMAGE_STAMP_TASKS):
    """Existing stamp files of ``tasks`` (and their _setscene stamps) for the
    recipe whose STAMP is ``stamp_prefix``; signature data files are kept
    (as BitBake's own clean_stamp keeps them)."""
    out = set()
    for task in tasks:
        for pattern in (".%s.*" % task, ".%s_setscene.*" % task):
            for path in glob.glob(glob.escape(stamp_prefix) + pattern):
                base = path[len(stamp_prefix):]
                if ".sigdata." in base or ".sigbasedata." in base or base.endswith(".taint"):
                    continue
                out.add(path)
    return sorted(out)


def remove_stamps(stamp_prefix, tasks=IMAGE_STAMP_TASKS):
    """Remove ``stamp_files``; returns the removed paths."""
    gone = []
    for path in stamp_files(stamp_prefix, tasks):
        try:
            os.unlink(path)
            gone.append(path)
        except FileNotFoundError:
            pass
    return gone


# ------------------------------------------------------------ consumers

def _registry(reg_dir, kernel_pn):
    return os.path.join(reg_dir, kernel_pn)


def register_consumer(reg_dir, kernel_pn, image_pn, stamp_prefix):
    """Note that ``image_pn`` (STAMP ``stamp_prefix``) holds ``kernel_pn``'s kernel."""
    d = _registry(reg_dir, kernel_pn)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, image_pn.replace("/", "_"))
    try:
        with open(path) as f:
            if f.read() == stamp_prefix + "\n":
                return path
    except OSError:
        pass
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(stamp_prefix + "\n")
    os.replace(tmp, path)
    return path


def consumers(reg_dir, kernel_pn):
    """{image_pn: stamp_prefix} registered for ``kernel_pn``."""
    d = _registry(reg_dir, kernel_pn)
    out = {}
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return out
    for name in names:
        if name.endswith(".tmp"):
            continue
        try:
            with open(os.path.join(d, name)) as f:
                prefix = f.read().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if prefix:
            out[name] = prefix
    return out


def invalidate_consumers(reg_dir, kernel_pn):
    """Remove the rootfs/image stamps of every image registered for
    ``kernel_pn`` -> {image_pn: [removed stamp paths]}."""
    return {image: remove_stamps(prefix) for image, prefix in consumers(reg_dir, kernel_pn).items()}


# ------------------------------------------------------------ the task graph

def downstream(sources, runtaskdeps, known=None):
    """Every tid that depends, directly or not, on a tid of ``sources``.

    ``runtaskdeps``: {tid: iterable of dependency tids, or of (pnid, tid)
    pairs as BitBake's signature generator keeps them}. ``sources``
    themselves are not included unless they depend on another source.
    Linear in the size of the graph; called only when a kernel is rebuilt.
    """
    rev = {}
    for tid, deps in runtaskdeps.items():
        for dep in deps or ():
            if isinstance(dep, tuple):
                dep = dep[-1]
            rev.setdefault(dep, []).append(tid)
    out = set()
    todo = list(sources)
    while todo:
        tid = todo.pop()
        for user in rev.get(tid, ()):
            if user not in out:
                out.add(user)
                todo.append(user)
    if known is not None:
        out = {t for t in out if t in known}
    return out
