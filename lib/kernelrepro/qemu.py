# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Boot a kernel in qemu-system-x86_64 and read its /sys/kernel/notes.

A tiny initramfs (Debian's static busybox) mounts sysfs, dumps
/sys/kernel/notes as hex between two markers on the serial console and
exits; the kernel then panics and, with ``panic=-1 -no-reboot``, qemu ends.
Used by the demo and the boot tests; the notes bytes go to the same build-id
reader as every other image format.
"""

import gzip
import io
import os
import re
import shutil
import subprocess
import tempfile

from .errors import KernelReproError

BEGIN, END = "KREPRO-NOTES-BEGIN", "KREPRO-NOTES-END"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "running: $(/bin/busybox uname -a)"
echo %s
/bin/busybox od -An -v -tx1 /sys/kernel/notes
echo %s
""" % (BEGIN, END)


def find_busybox():
    for c in BUSYBOX_CANDIDATES:
        if os.path.isfile(c):
            out = subprocess.run(["file", "-b", c], stdout=subprocess.PIPE, text=True).stdout \
                if shutil.which("file") else "statically linked"
            if "statically linked" in out or "static-pie" in out:
                return c
    raise KernelReproError("a static busybox is needed for the boot test: "
                           "apt-get install busybox-static")


def _cpio_newc(entries):
    """A newc cpio archive from [(name, mode, data)] (directories: data None)."""
    out = io.BytesIO()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        data = data or b""
        nb = name.encode() + b"\0"
        hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        out.write(hdr.encode() + nb)
        out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
        ino += 1
    return out.getvalue()


def make_initramfs(path, busybox=None):
    """Write a gzip'd newc initramfs with busybox and the notes-dumping /init."""
    busybox = busybox or find_busybox()
    with open(busybox, "rb") as f:
        bb = f.read()
    entries = [("bin", 0o40755, None), ("dev", 0o40755, None), ("proc", 0o40755, None),
               ("sys", 0o40755, None), ("bin/busybox", 0o100755, bb),
               ("init", 0o100755, INIT.encode())]
    with open(path, "wb") as f:
        f.write(gzip.compress(_cpio_newc(entries), mtime=0))
    return path


def boot(kernel, timeout=180, memory="256M", qemu="qemu-system-x86_64", extra_append=""):
    """Boot ``kernel``; return the serial console output (text)."""
    if not shutil.which(qemu):
        raise KernelReproError("%s not found: apt-get install qemu-system-x86" % qemu)
    with tempfile.TemporaryDirectory(prefix="kernel-repro-qemu-") as d:
        initrd = make_initramfs(os.path.join(d, "initramfs.cpio.gz"))
        argv = [qemu, "-kernel", kernel, "-initrd", initrd, "-m", memory,
                "-append", ("console=ttyS0 panic=-1 " + extra_append).strip(),
                "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
                "-display", "none"]
        # TCG by default: it always works; KVM inside some VMs hangs silently
        # (seen here: nested KVM never got past the BIOS).
        if os.environ.get("KERNEL_REPRO_QEMU_KVM") == "1":
            argv += ["-enable-kvm", "-cpu", "host"]
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            raise KernelReproError("qemu did not finish within %d s; console tail: %s"
                                   % (timeout, out[-300:].replace("\n", " | ")))
    return r.stdout.decode("utf-8", "replace")


def notes_from_console(text):
    """The /sys/kernel/notes bytes from the hex dump between the markers."""
    m = re.search(re.escape(BEGIN) + r"\s*\n(.*?)\n\s*" + re.escape(END), text, re.S)
    if not m:
        raise KernelReproError("no /sys/kernel/notes dump found in the console output")
    hexes = re.findall(r"\b[0-9a-f]{2}\b", m.group(1))
    if not hexes:
        raise KernelReproError("the /sys/kernel/notes dump on the console is empty")
    return bytes(int(h, 16) for h in hexes)


def running_notes(kernel, timeout=180):
    """Boot ``kernel`` and return (notes bytes, console text)."""
    console = boot(kernel, timeout)
    return notes_from_console(console), console
