# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Properties of the header parsers and decoders, checked with hypothesis.

Whatever the bytes, the readers either answer or raise KernelReproError
(one line for the user): never another exception. Where a structure is
generated well-formed, what is read back is what was written. All in
memory, on small inputs; no timing.
"""

import bz2
import gzip
import io
import lzma
import os
import struct
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
import corpus  # noqa: E402
from kernelrepro import decompress, elfread, formats, image  # noqa: E402
from kernelrepro.stream import BytesBlob  # noqa: E402
from kernelrepro.errors import KernelReproError, printable  # noqa: E402

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMIT = 4 << 20


def _pad4(b):
    return b + bytes(-len(b) % 4)


def encode_notes(notes, endian="<"):
    out = b""
    for name, ntype, desc in notes:
        n = name.encode() + b"\0"
        out += struct.pack(endian + "III", len(n), len(desc), ntype) + _pad4(n) + _pad4(desc)
    return out


note_st = st.tuples(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1,
                            max_size=16),
                    st.integers(0, 0xffffffff), st.binary(max_size=64))


@SETTINGS
@given(st.lists(note_st, max_size=6), st.sampled_from("<>"))
def test_notes_round_trip(notes, endian):
    data = encode_notes(notes, endian)
    assert elfread.parse_notes(data, endian, 4, strict=True) == notes
    gnu = [d for n, t, d in notes if n == "GNU" and t == 3 and d]
    if gnu:
        assert image.notes_data_build_id(data) == gnu[0].hex()


@SETTINGS
@given(st.binary(max_size=512))
def test_notes_parser_never_crashes(data):
    for strict in (False, True):
        try:
            elfread.parse_notes(data, "<", 4, strict=strict)
        except KernelReproError:
            assert strict
    try:
        image.notes_data_build_id(data)
    except KernelReproError:
        pass


@SETTINGS
@given(st.sampled_from([8, 16, 20, 32, 64]), st.sampled_from([1, 2]), st.sampled_from("<>"),
       st.randoms(use_true_random=False))
def test_elf_build_id_round_trip(n, cls, endian, rnd):
    bid = bytes(rnd.getrandbits(8) for _ in range(n))
    data = corpus.crafted_elf(bid, cls, endian)
    assert elfread.elf_build_id(BytesBlob(data)) == bid.hex()


@SETTINGS
@given(st.binary(min_size=64, max_size=64), st.binary(max_size=2048))
def test_elf_header_fields_never_crash(header, tail):
    data = b"\x7fELF" + header[4:] + tail
    try:
        elfread.elf_build_id(BytesBlob(data))
    except KernelReproError:
        pass


@SETTINGS
@given(st.integers(0, 3), st.data())
def test_resolve_any_header_fields(which, data):
    """A real structure (bzImage, zboot, PE, ELF) with arbitrary values in its fields."""
    base = bytearray([corpus.crafted_setup() + corpus.crafted_elf(),
                      corpus.zboot_around(gzip.compress(corpus.crafted_raw())),
                      corpus.crafted_elf(), corpus.crafted_raw()][which])
    for _ in range(data.draw(st.integers(1, 8))):
        off = data.draw(st.integers(0, len(base) - 4))
        struct.pack_into("<I", base, off, data.draw(st.integers(0, 0xffffffff)))
    try:
        kind, blob, _layers = formats.resolve(BytesBlob(bytes(base)), LIMIT, "h")
        image.build_id_of(kind, blob, "h")
    except KernelReproError:
        pass


@SETTINGS
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
       st.sampled_from(["gzip", "bzip2", "xz"]), st.sampled_from([b"", b"\0" * 8, b"\x01\x02\x03\x04"]))
def test_concatenated_members_round_trip(parts, method, tail):
    comp = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[method]
    data = b"".join(comp(p) for p in parts) + tail
    out = b"".join(decompress.stream(io.BytesIO(data), method, LIMIT))
    assert out == b"".join(parts)


@SETTINGS
@given(st.binary(max_size=4096), st.sampled_from(sorted(decompress._METHODS)))
def test_decoders_never_crash(data, method):
    try:
        for _ in decompress.stream(io.BytesIO(data), method, LIMIT):
            pass
    except KernelReproError:
        pass


@SETTINGS
@given(st.integers(1, 1 << 40), st.sampled_from(["", "K", "M", "G", "KiB", "MB", "g"]))
def test_parse_limit_round_trip(n, suffix):
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[suffix[:1].upper()]
    if n * mult > decompress.MAX_LIMIT:
        with pytest.raises(KernelReproError):
            decompress.parse_limit("%d%s" % (n, suffix))
    else:
        assert decompress.parse_limit("%d%s" % (n, suffix)) == n * mult


@SETTINGS
@given(st.text())
def test_parse_limit_any_text(text):
    try:
        v = decompress.parse_limit(text)
    except KernelReproError as e:
        assert "\n" not in printable(str(e))
    else:
        assert 0 < v <= decompress.MAX_LIMIT


@SETTINGS
@given(st.text())
def test_printable_is_one_safe_line(text):
    out = printable(text)
    assert out.isprintable()
    if text.isprintable():
        assert out == text


@SETTINGS
@given(st.binary(max_size=64))
def test_printable_file_names(raw):
    name = os.fsdecode(raw)
    out = printable(name)
    assert out.isprintable()
    out.encode("utf-8")     # never a lone surrogate left
