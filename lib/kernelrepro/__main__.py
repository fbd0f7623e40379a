# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
import sys

from .cli import main

sys.exit(main())
