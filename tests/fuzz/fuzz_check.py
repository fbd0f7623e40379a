# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Coverage-guided fuzzing of ``check``'s verdict (atheris / libFuzzer).

The input is a mutated image ELF; the debug file is fixed (the unmutated
program, symbols and all). Two properties:

1. only KernelReproError escapes check (anything else is a crash);
2. a "match" is never wrong: when check says match, pyelftools -- an
   independent reader -- must find in the image every allocated section
   the debug file has bytes for, with the same bytes. A mutation that
   changes code and still gets "match" is a finding.

Seeds: a small program built here with gcc (stripped as the image, the
original as the debug file), and, with --kernel PAYLOAD DEBUG, a fixture
kernel's bzImage payload against its vmlinux (slower: ~10 runs/s).

    python tests/fuzz/fuzz_check.py --seed-dir /tmp/kc-corpus [--kernel P D]
    python tests/fuzz/fuzz_check.py -max_total_time=300 -timeout=20 \\
        -rss_limit_mb=2048 /tmp/kc-work /tmp/kc-corpus
"""

import io
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib"))

STATE = os.path.join(tempfile.gettempdir(), "kernel-repro-fuzz-check")
LIMIT = 64 << 20


def build_seeds(seed_dir, kernel=None):
    os.makedirs(STATE, exist_ok=True)
    os.makedirs(seed_dir, exist_ok=True)
    src = os.path.join(STATE, "p.c")
    with open(src, "w") as f:
        f.write("#include <stdio.h>\nint counter;\nint main(void) { puts(\"hello\"); "
                "return counter; }\n")
    debug = os.path.join(STATE, "debug")
    subprocess.run(["gcc", "-g", "-O1", "-Wl,--build-id=sha1", "-o", debug, src], check=True)
    stripped = os.path.join(seed_dir, "stripped")
    subprocess.run(["objcopy", "--strip-debug", debug, stripped], check=True)
    shutil.copy(debug, os.path.join(seed_dir, "full"))
    if kernel:
        payload, kdebug = kernel
        shutil.copy(kdebug, os.path.join(STATE, "kernel-debug"))
        shutil.copy(payload, os.path.join(seed_dir, "kernel-payload"))


def _sections_with_bytes(path_or_bytes):
    """{name: bytes} of the allocated sections with bytes, from pyelftools' headers
    (section objects are not built: a bad non-allocated .symtab is not our business)."""
    from elftools.elf.elffile import ELFFile
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    e = ELFFile(io.BytesIO(data))
    out = {}
    for i in range(e.num_sections()):
        h = e._get_section_header(i)
        if h["sh_flags"] & 2 and h["sh_type"] != "SHT_NOBITS" and not h["sh_flags"] & 0x800:
            out[e._get_section_name(h)] = data[h["sh_offset"]:h["sh_offset"] + h["sh_size"]]
    return out


def _load_images(debug):
    """{name: (offset in a raw image, bytes)} from pyelftools: sections at (LMA - lowest LMA)."""
    from elftools.elf.elffile import ELFFile
    data = open(debug, "rb").read()
    e = ELFFile(io.BytesIO(data))
    loads = [s for s in e.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
    base = min(s["p_paddr"] for s in loads)
    out = {}
    for i in range(e.num_sections()):
        h = e._get_section_header(i)
        if not (h["sh_flags"] & 2) or h["sh_type"] == "SHT_NOBITS" or not h["sh_size"]:
            continue
        for s in loads:
            if s["p_vaddr"] <= h["sh_addr"] < s["p_vaddr"] + s["p_memsz"]:
                out[e._get_section_name(h)] = (h["sh_addr"] - s["p_vaddr"] + s["p_paddr"] - base,
                                               data[h["sh_offset"]:h["sh_offset"] + h["sh_size"]])
                break
    return out


def one_input(data, check, errors, debugs):
    with tempfile.NamedTemporaryFile(dir=STATE, prefix="img-") as img:
        img.write(data)
        img.flush()
        for debug, want in debugs:
            try:
                r = check.check(img.name, debug, LIMIT)
            except errors.KernelReproError:
                continue
            if not r["match"]:
                continue
            sec = r["sections"]
            if sec.get("raw"):
                if not sec["laid_out"]:
                    assert "only the build-id note was compared" in r["verdict"], r["verdict"]
                    continue
                for name, (lma, content) in _load_images(debug).items():
                    if data[lma:lma + len(content)] != content:
                        raise AssertionError("check said match but raw section %s differs" % name)
                continue
            try:
                got = _sections_with_bytes(data)
            except Exception as e:
                raise AssertionError("check said match but pyelftools cannot read the image: %r"
                                     % e)
            for name, content in want.items():
                if got.get(name) != content and not name.startswith(".note"):
                    raise AssertionError("check said match but section %s differs" % name)


def main():
    if "--seed-dir" in sys.argv:
        i = sys.argv.index("--seed-dir")
        kernel = None
        if "--kernel" in sys.argv:
            k = sys.argv.index("--kernel")
            kernel = sys.argv[k + 1], sys.argv[k + 2]
        build_seeds(sys.argv[i + 1], kernel)
        return
    import atheris
    with atheris.instrument_imports():
        from kernelrepro import check, errors
    debugs = []
    for name in ("debug", "kernel-debug"):
        p = os.path.join(STATE, name)
        if os.path.exists(p):
            debugs.append((p, _sections_with_bytes(p)))
    atheris.Setup(sys.argv, lambda data: one_input(data, check, errors, debugs))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
