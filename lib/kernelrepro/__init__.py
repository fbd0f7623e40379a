# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""kernelrepro: read, extract and compare Linux kernel binaries, and compute
the settings that make kernel builds reproducible.

The same plain functions serve the kernel-repro.bbclass, the ``kernel-repro``
command line, the pytest suite and the oe-selftest cases.
"""

__version__ = "0.1.0"

#: Modules whose functions BitBake tracks (layer.conf's addpylib): the code
#: and the variables read by the functions the classes call join the
#: signatures of the tasks that call them, as for OE-Core's lib/oe. What
#: those functions run in other modules is covered by
#: KERNEL_REPRO_LIB_SHA256 (bbadapter.task_modules).
BBIMPORTS = ["sstategroup", "sstatetasks"]

from .errors import KernelReproError  # noqa: F401
