# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Coverage-guided fuzzing of the image readers and decoders (atheris / libFuzzer).

Every input goes through what the CLI does with a file -- identify the
layers, read the build-id, extract the payload -- plus each decoder on its
own and the /sys/kernel/notes parser, all in memory with a 16 MiB cap. The
contract: a KernelReproError (one line for the user) or a result; any other
exception is a crash, and libFuzzer's -timeout / -rss_limit_mb turn a hang
or a memory blow-up into one too.

Short run (what tests/test_fuzz.py does, about 2 minutes):

    python tests/fuzz/corpus.py /tmp/kr-corpus
    python tests/fuzz/fuzz_readers.py -max_total_time=120 -timeout=10 \\
        -rss_limit_mb=2048 /tmp/kr-work /tmp/kr-corpus

Long run (overnight, several workers; crashes land in ./crash-*):

    python tests/fuzz/fuzz_readers.py -max_total_time=28800 -jobs=2 -workers=2 \\
        -timeout=10 -rss_limit_mb=2048 /tmp/kr-work /tmp/kr-corpus

Replay one input (for a regression test): python tests/fuzz/fuzz_readers.py crash-XXXX
Every crash found becomes a case in tests/test_fuzz.py (REGRESSIONS).
"""

import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib"))

LIMIT = 16 << 20


class _Sink:
    n = 0

    def write(self, b):
        self.n += len(b)


def one_input(data, image, decompress, errors):
    """The property: only KernelReproError escapes, whatever ``data`` is."""
    from kernelrepro.formats import resolve
    from kernelrepro.stream import BytesBlob
    E = errors.KernelReproError
    try:
        kind, blob, _layers = resolve(BytesBlob(data), LIMIT, name="fuzz")
        try:
            image.build_id_of(kind, blob, "fuzz")
        except E:
            pass
        if kind != "notes":
            _k, blob, _l = resolve(BytesBlob(data), LIMIT, name="fuzz")
            blob.copy_to(_Sink())
    except E:
        pass
    for method in decompress._METHODS:
        try:
            for _chunk in decompress.stream(io.BytesIO(data), method, LIMIT, "fuzz"):
                pass
        except E:
            pass
    try:
        image.notes_data_build_id(data[:1 << 16], "fuzz")
    except E:
        pass


def main():
    import atheris
    with atheris.instrument_imports(include=["kernelrepro"]):
        from kernelrepro import decompress, errors, image

    def test_one(data):
        one_input(data, image, decompress, errors)
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
