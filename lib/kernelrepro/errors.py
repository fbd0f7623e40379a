# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Exceptions of the library.

Every problem caused by the input (a missing file, a corrupt or unknown image,
a decompression bomb) is raised as a KernelReproError whose message is one
line a user can act on; the CLI prints it and exits with status 2.
"""


class KernelReproError(Exception):
    """A user-facing error: bad input, unsupported format, limits exceeded."""


class FormatError(KernelReproError):
    """The file is not a kernel image this library understands."""


class LimitExceeded(KernelReproError):
    """Decompression would exceed the configured output cap."""


class NoBuildIdError(KernelReproError):
    """The kernel image carries no GNU build-id note."""
