# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
"""Tier 1: kernelrepro.kconfigqa over realistic .config snippets."""

import pytest

from kernelrepro import kconfigqa

HEADER = """#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.6.50 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="x86_64-poky-linux-gcc (GCC) 14.2.0"
CONFIG_CC_IS_GCC=y
CONFIG_PAHOLE_VERSION=126
CONFIG_LOCALVERSION=""
# CONFIG_LOCALVERSION_AUTO is not set
CONFIG_BUILD_SALT=""
CONFIG_MODULES=y
CONFIG_MODVERSIONS=y
CONFIG_IKCONFIG=y
CONFIG_IKCONFIG_PROC=y
CONFIG_IKHEADERS=m
CONFIG_DEBUG_INFO_DWARF5=y
CONFIG_RANDSTRUCT_NONE=y
# CONFIG_RANDSTRUCT_FULL is not set
# CONFIG_RANDSTRUCT_PERFORMANCE is not set
CONFIG_GCC_PLUGIN_STRUCTLEAK_BYREF_ALL=y
"""

MODSIG = """CONFIG_MODULE_SIG_FORMAT=y
CONFIG_MODULE_SIG=y
# CONFIG_MODULE_SIG_FORCE is not set
CONFIG_MODULE_SIG_ALL=y
CONFIG_MODULE_SIG_SHA512=y
CONFIG_MODULE_SIG_HASH="sha512"
CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"
CONFIG_MODULE_SIG_KEY_TYPE_RSA=y
# CONFIG_MODULE_SIG_KEY_TYPE_ECDSA is not set
CONFIG_SYSTEM_TRUSTED_KEYRING=y
"""


def checks(text, **kw):
    return [f.check for f in kconfigqa.check_config(text, **kw)]


def test_clean_config_has_no_findings():
    assert kconfigqa.check_config(HEADER) == []


def test_parse_config():
    c = kconfigqa.parse_config(HEADER + 'CONFIG_X="a \\"q\\" b"\n  CONFIG_Y=m  \n')
    assert c["CONFIG_MODULES"] == "y"
    assert c["CONFIG_LOCALVERSION_AUTO"] == "n"
    assert c["CONFIG_CC_VERSION_TEXT"] == "x86_64-poky-linux-gcc (GCC) 14.2.0"
    assert c["CONFIG_PAHOLE_VERSION"] == "126"
    assert c["CONFIG_X"] == 'a "q" b'
    assert c["CONFIG_Y"] == "m"
    assert "CONFIG_NOPE" not in c


def test_module_sig_generated_key():
    f = kconfigqa.check_config(HEADER + MODSIG)
    assert [x.check for x in f] == ["kernel-repro-module-sig-key"]
    assert f[0].option == "CONFIG_MODULE_SIG_KEY"
    assert "signs the modules" in f[0].problem
    assert "KERNEL_REPRO_MODULE_SIG_KEY" in f[0].fix


def test_module_sig_without_sign_all_still_bakes_certificate():
    text = HEADER + MODSIG.replace("CONFIG_MODULE_SIG_ALL=y", "# CONFIG_MODULE_SIG_ALL is not set")
    f = kconfigqa.check_config(text)
    assert [x.check for x in f] == ["kernel-repro-module-sig-key"]
    assert "signs the modules" not in f[0].problem


def test_module_sig_key_supplied_or_own_key():
    assert checks(HEADER + MODSIG, module_sig_key_supplied=True) == []
    own = MODSIG.replace('"certs/signing_key.pem"', '"/etc/keys/modsign.pem"')
    assert checks(HEADER + own) == []
    pkcs11 = MODSIG.replace('"certs/signing_key.pem"', '"pkcs11:token=kernel"')
    assert checks(HEADER + pkcs11) == []


def test_module_sig_disabled():
    # MODULE_SIG_KEY only exists in .config when something needs a key
    assert checks(HEADER + "# CONFIG_MODULE_SIG is not set\n") == []


def test_ecdsa_signatures():
    text = HEADER + MODSIG.replace("CONFIG_MODULE_SIG_KEY_TYPE_RSA=y",
                                   "# CONFIG_MODULE_SIG_KEY_TYPE_RSA is not set").replace(
        "# CONFIG_MODULE_SIG_KEY_TYPE_ECDSA is not set", "CONFIG_MODULE_SIG_KEY_TYPE_ECDSA=y")
    assert checks(text, module_sig_key_supplied=True) == ["kernel-repro-module-sig-ecdsa"]
    # without MODULE_SIG_ALL nothing is signed at build time
    assert checks(text.replace("CONFIG_MODULE_SIG_ALL=y", ""), module_sig_key_supplied=True) == []


@pytest.mark.parametrize("opt", ["CONFIG_RANDSTRUCT_FULL", "CONFIG_RANDSTRUCT_PERFORMANCE",
                                 "CONFIG_GCC_PLUGIN_RANDSTRUCT"])
def test_randstruct(opt):
    text = HEADER.replace("CONFIG_RANDSTRUCT_NONE=y", "# CONFIG_RANDSTRUCT_NONE is not set") + \
        "CONFIG_RANDSTRUCT=y\n%s=y\n" % opt
    f = kconfigqa.check_config(text)
    assert [(x.check, x.option) for x in f] == [("kernel-repro-randstruct", opt)]


def test_latent_entropy():
    assert checks(HEADER + "CONFIG_GCC_PLUGINS=y\nCONFIG_GCC_PLUGIN_LATENT_ENTROPY=y\n") == \
        ["kernel-repro-latent-entropy"]
    assert checks(HEADER + "# CONFIG_GCC_PLUGIN_LATENT_ENTROPY is not set\n") == []


def test_localversion_auto():
    text = HEADER.replace("# CONFIG_LOCALVERSION_AUTO is not set", "CONFIG_LOCALVERSION_AUTO=y")
    assert checks(text) == ["kernel-repro-localversion-auto"]


def test_btf_only_when_pahole_unknown():
    text = HEADER + "CONFIG_DEBUG_INFO_BTF=y\nCONFIG_DEBUG_INFO_BTF_MODULES=y\n"
    assert checks(text) == []
    assert checks(text, pahole_known=False) == ["kernel-repro-pahole"]
    assert checks(HEADER, pahole_known=False) == []


def test_debug_timestamps():
    assert checks(HEADER, debug_timestamps=True) == ["kernel-repro-timestamps"]


def test_not_findings_build_salt_ikheaders_modversions():
    text = HEADER.replace('CONFIG_BUILD_SALT=""', 'CONFIG_BUILD_SALT="6.6.50-1-amd64"')
    assert checks(text) == []


def test_everything_in_checks_order():
    text = (HEADER.replace("# CONFIG_LOCALVERSION_AUTO is not set", "CONFIG_LOCALVERSION_AUTO=y")
            + MODSIG + "CONFIG_GCC_PLUGIN_LATENT_ENTROPY=y\nCONFIG_RANDSTRUCT_FULL=y\n"
            + "CONFIG_DEBUG_INFO_BTF=y\n")
    got = checks(text, pahole_known=False, debug_timestamps=True)
    assert got == ["kernel-repro-module-sig-key", "kernel-repro-randstruct",
                   "kernel-repro-latent-entropy", "kernel-repro-localversion-auto",
                   "kernel-repro-pahole", "kernel-repro-timestamps"]
    assert set(got) <= set(kconfigqa.CHECKS)


def test_every_check_has_a_severity():
    for name, (severity, desc) in kconfigqa.CHECKS.items():
        assert name.startswith("kernel-repro-")
        assert severity in ("error", "warn") and desc


def test_format_finding():
    f = kconfigqa.check_config(HEADER + MODSIG)[0]
    line = kconfigqa.format_finding(f)
    assert line.startswith("CONFIG_MODULE_SIG_KEY: ") and "; fix: " in line
    assert "\n" not in line


def test_set_string_option_replaces_and_appends():
    text = HEADER + MODSIG
    out = kconfigqa.set_string_option(text, "CONFIG_MODULE_SIG_KEY", "certs/x.pem")
    assert kconfigqa.parse_config(out)["CONFIG_MODULE_SIG_KEY"] == "certs/x.pem"
    assert out.count("CONFIG_MODULE_SIG_KEY=") == 1
    # everything else untouched
    assert out.replace('CONFIG_MODULE_SIG_KEY="certs/x.pem"',
                       'CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"') == text
    out = kconfigqa.set_string_option(HEADER, "CONFIG_LOCALVERSION_AUTO", 'a"b')
    assert kconfigqa.parse_config(out)["CONFIG_LOCALVERSION_AUTO"] == 'a"b'
    assert "# CONFIG_LOCALVERSION_AUTO is not set" not in out
    out = kconfigqa.set_string_option(HEADER, "CONFIG_NEW", "v")
    assert out.endswith('CONFIG_NEW="v"\n')
    with pytest.raises(ValueError):
        kconfigqa.set_string_option(HEADER, "NOT_CONFIG", "v")
