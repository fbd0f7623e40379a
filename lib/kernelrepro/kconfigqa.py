# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Kernel configuration options that defeat a reproducible kernel build.

Pure functions over the text of a kernel ``.config`` (plus a few facts about
the build that a ``.config`` cannot tell, passed as plain values). The
kernel-repro.bbclass reports each finding through ``oe.qa.handle_error`` under
the finding's ``check`` name, so users can move each check between ERROR_QA
and WARN_QA; ``kernel-repro`` users outside BitBake can call
:func:`check_config` directly.

Why each option is (or is not) a finding -- checked against Linux 6.1
(Debian's linux-source-6.1) unless said otherwise:

* ``CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"`` (the default, only present
  when MODULE_SIG or IMA_APPRAISE_MODSIG needs a key): certs/Makefile
  generates a *fresh* key pair with ``openssl req -new -x509`` whenever that
  file is absent or its saved command differs (``if_changed`` + FORCE), and
  certs/system_certificates.S bakes its certificate into vmlinux. Every clean
  build therefore yields a different vmlinux (and, with MODULE_SIG_ALL,
  differently signed modules). Fix: supply a key (KERNEL_REPRO_MODULE_SIG_KEY
  or CONFIG_MODULE_SIG_KEY pointing at a file/PKCS#11 URI of your own).
* ``CONFIG_MODULE_SIG_KEY_TYPE_ECDSA`` with ``CONFIG_MODULE_SIG_ALL``: ECDSA
  signatures use a random nonce (OpenSSL's default), so signed modules differ
  on every build even with a fixed key. RSA (PKCS#1 v1.5) signatures are
  deterministic. vmlinux is not affected.
* ``CONFIG_RANDSTRUCT_FULL`` / ``CONFIG_RANDSTRUCT_PERFORMANCE`` (5.19+),
  ``CONFIG_GCC_PLUGIN_RANDSTRUCT`` (older): the structure layout seed is made
  from /dev/urandom by scripts/gen-randstruct-seed.sh
  (scripts/gcc-plugins/gen-random-seed.sh before 5.19) in the build tree.
  Supplying a seed file is not offered: kbuild regenerates it unless its saved
  command matches (``if_changed`` + FORCE in scripts/basic/Makefile), and the
  saved-command format changes between kernel versions.
* ``CONFIG_GCC_PLUGIN_LATENT_ENTROPY``: the plugin seeds its constants from
  /dev/urandom unless gcc gets ``-frandom-seed`` (latent_entropy_plugin.c,
  ``deterministic_seed = get_random_seed(true)``); kbuild passes none.
* ``CONFIG_LOCALVERSION_AUTO``: scripts/setlocalversion appends the git
  commit (and ``-dirty``) of the source tree to the release string, so the
  result depends on the git state of ${S}, not on the recipe's inputs.
  A warning, not an error, by default.
* ``CONFIG_DEBUG_INFO_BTF``: pahole < 1.27 encodes in parallel
  non-deterministically and 1.27/1.28 need ``--btf_features=+reproducible_build``;
  the class handles that through the pahole wrapper, so this is only a
  finding when the pahole the build uses could not be identified (fact
  ``pahole_version`` is None while BTF is on).

Not findings, with the reason:

* ``CONFIG_BUILD_SALT``: a constant string from .config; it changes build-ids
  on purpose, but the same .config gives the same salt. Only a *different*
  salt between two builds matters, and .config is part of the task signature.
* ``CONFIG_IKHEADERS``: kernel/gen_kheaders.sh (5.3+) builds the archive with
  ``--sort=name --owner=0 --group=0 --mtime=$KBUILD_BUILD_TIMESTAMP``, which
  the class (and OE-Core's kernel.bbclass) pins to SOURCE_DATE_EPOCH.
* ``CONFIG_IKCONFIG``: embeds .config, deterministic.
* ``CONFIG_MODVERSIONS``: CRCs of symbol types, deterministic.
* ``CONFIG_GCC_PLUGIN_STRUCTLEAK*`` / ``CONFIG_INIT_STACK_ALL_*`` /
  ``CONFIG_GCC_PLUGIN_STACKLEAK``: deterministic instrumentation, no seed.
"""

import collections
import re

#: One problem: the QA check name it is reported under, the option, what is
#: wrong and how to fix it.
Finding = collections.namedtuple("Finding", "check option problem fix")

#: check name -> (default severity, one-line description). The class adds each
#: check to ERROR_QA or WARN_QA of kernel recipes unless the user already
#: listed it in one of them (see KERNEL_REPRO_ERROR_QA / KERNEL_REPRO_WARN_QA).
CHECKS = collections.OrderedDict([
    ("kernel-repro-module-sig-key", ("error", "module signing key generated at build time")),
    ("kernel-repro-module-sig-ecdsa", ("warn", "ECDSA module signatures are randomised")),
    ("kernel-repro-randstruct", ("error", "structure layout randomisation seed generated at build time")),
    ("kernel-repro-latent-entropy", ("error", "latent_entropy GCC plugin seeds from /dev/urandom")),
    ("kernel-repro-localversion-auto", ("warn", "release string depends on the git state of the tree")),
    ("kernel-repro-pahole", ("error", "BTF is on but the pahole used could not be identified")),
    ("kernel-repro-timestamps", ("error", "KERNEL_DEBUG_TIMESTAMPS puts the build time into the kernel")),
])

DEFAULT_SIGNING_KEY = "certs/signing_key.pem"

_LINE_RE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_NOTSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse_config(text):
    """``.config`` text -> dict option -> value ('y', 'm', unquoted string, number).

    Options that are "not set" map to 'n'; comments and blank lines are skipped.
    """
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        m = _LINE_RE.match(line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out[m.group(1)] = value
            continue
        m = _NOTSET_RE.match(line)
        if m:
            out[m.group(1)] = "n"
    return out


def _on(config, option):
    return config.get(option) in ("y", "m")


def check_config(text, module_sig_key_supplied=False, pahole_version=None,
                 pahole_known=True, debug_timestamps=False):
    """Findings for a ``.config`` text, in CHECKS order.

    ``module_sig_key_supplied``: the build installs a user key (the class's
    KERNEL_REPRO_MODULE_SIG_KEY), so the default key name is fine.
    ``pahole_version``/``pahole_known``: with BTF on, ``pahole_known=False``
    means the pahole the build runs could not be identified.
    ``debug_timestamps``: OE-Core's KERNEL_DEBUG_TIMESTAMPS = "1".
    """
    config = parse_config(text)
    found = []
    key = config.get("CONFIG_MODULE_SIG_KEY")
    if key == DEFAULT_SIGNING_KEY and not module_sig_key_supplied:
        signs = " and signs the modules with it" if _on(config, "CONFIG_MODULE_SIG_ALL") else ""
        found.append(Finding(
            "kernel-repro-module-sig-key", "CONFIG_MODULE_SIG_KEY",
            "the kernel build generates a new signing key each time%s; its "
            "certificate is built into vmlinux" % signs,
            "set KERNEL_REPRO_MODULE_SIG_KEY to a PEM file holding the private key "
            "and certificate (kept outside the build), or point CONFIG_MODULE_SIG_KEY "
            "at your own key, or disable CONFIG_MODULE_SIG"))
    if (key and _on(config, "CONFIG_MODULE_SIG_ALL")
            and _on(config, "CONFIG_MODULE_SIG_KEY_TYPE_ECDSA")):
        found.append(Finding(
            "kernel-repro-module-sig-ecdsa", "CONFIG_MODULE_SIG_KEY_TYPE_ECDSA",
            "ECDSA module signatures use a random nonce, so signed modules differ on "
            "every build even with the same key",
            "use CONFIG_MODULE_SIG_KEY_TYPE_RSA, or sign modules outside the build"))
    for opt in ("CONFIG_RANDSTRUCT_FULL", "CONFIG_RANDSTRUCT_PERFORMANCE",
                "CONFIG_GCC_PLUGIN_RANDSTRUCT"):
        if _on(config, opt):
            found.append(Finding(
                "kernel-repro-randstruct", opt,
                "the structure layout seed is generated from /dev/urandom in each "
                "build tree, so every clean build lays out structures differently",
                "set CONFIG_RANDSTRUCT_NONE=y (or disable %s)" % opt))
            break
    if _on(config, "CONFIG_GCC_PLUGIN_LATENT_ENTROPY"):
        found.append(Finding(
            "kernel-repro-latent-entropy", "CONFIG_GCC_PLUGIN_LATENT_ENTROPY",
            "the latent_entropy GCC plugin initialises its constants from "
            "/dev/urandom (kbuild passes no -frandom-seed)",
            "disable CONFIG_GCC_PLUGIN_LATENT_ENTROPY"))
    if _on(config, "CONFIG_LOCALVERSION_AUTO"):
        found.append(Finding(
            "kernel-repro-localversion-auto", "CONFIG_LOCALVERSION_AUTO",
            "scripts/setlocalversion appends the git commit (and -dirty) of the "
            "source tree to the kernel release, which then depends on the tree's "
            "git state rather than on the recipe's inputs",
            "disable CONFIG_LOCALVERSION_AUTO and use LOCALVERSION / "
            "KERNEL_LOCALVERSION for a fixed suffix"))
    if _on(config, "CONFIG_DEBUG_INFO_BTF") and not pahole_known:
        found.append(Finding(
            "kernel-repro-pahole", "CONFIG_DEBUG_INFO_BTF",
            "BTF is encoded by pahole, but the pahole this build runs could not be "
            "found or its version read, so its BTF output cannot be made "
            "deterministic (pahole < 1.27 must run serially, 1.27/1.28 need "
            "--btf_features=+reproducible_build)",
            "make pahole-native available (KERNEL_DEBUG = \"True\" on linux-yocto "
            "depends on it) or disable CONFIG_DEBUG_INFO_BTF"))
    if debug_timestamps:
        found.append(Finding(
            "kernel-repro-timestamps", "KERNEL_DEBUG_TIMESTAMPS",
            "KERNEL_DEBUG_TIMESTAMPS = \"1\" makes OE-Core's kernel_do_compile put the "
            "current date into KBUILD_BUILD_TIMESTAMP; every later make (do_compile_kernelmodules) "
            "then relinks vmlinux with a new date, so even one build packages a vmlinux whose "
            "build-id differs from the deployed image's",
            "remove KERNEL_DEBUG_TIMESTAMPS = \"1\""))
    order = list(CHECKS)
    found.sort(key=lambda f: order.index(f.check))
    return found


def format_finding(finding):
    """One line for a QA message: ``OPTION: problem; fix: ...``."""
    return "%s: %s; fix: %s" % (finding.option, finding.problem, finding.fix)


def set_string_option(text, option, value):
    """Return ``.config`` text with ``option="value"`` (replacing any setting of it)."""
    if not _LINE_RE.match("%s=x" % option):
        raise ValueError("not a config option name: %r" % (option,))
    quoted = '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    new = "%s=%s" % (option, quoted)
    lines = (text or "").splitlines()
    out, done = [], False
    for line in lines:
        s = line.strip()
        m = _LINE_RE.match(s) or _NOTSET_RE.match(s)
        if m and m.group(1) == option:
            if not done:
                out.append(new)
                done = True
            continue
        out.append(line)
    if not done:
        out.append(new)
    return "\n".join(out) + "\n"
