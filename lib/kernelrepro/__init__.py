# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""kernelrepro: read, extract and compare Linux kernel binaries, and compute
the settings that make kernel builds reproducible.

The same plain functions serve the kernel-repro.bbclass, the ``kernel-repro``
command line, the pytest suite and the oe-selftest cases.
"""

__version__ = "0.1.0"

from .errors import KernelReproError  # noqa: F401
