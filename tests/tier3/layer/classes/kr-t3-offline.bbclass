# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Workaround for a BitBake limitation met only because the tier-3 build
# ASSUME_PROVIDEs the natives: runqueue's build_scenequeue_data() indexes
# build_targets[dep][0] for every do_*_setscene[depends] entry, and for an
# ASSUME_PROVIDED target that list is empty ("IndexError: list index out of
# range" in "Initialising tasks"). base.bbclass adds
# virtual/fakeroot-native:do_populate_sysroot to do_package_setscene[depends].
# Normal task [depends] skip ASSUME_PROVIDED targets; setscene ones do not.
# So: drop ASSUME_PROVIDED targets from every setscene [depends] flag.
python __anonymous () {
    assumed = set((d.getVar('ASSUME_PROVIDED') or '').split())
    for task in (d.getVar('__BBTASKS', False) or []):
        flag = task + '_setscene'
        deps = d.getVarFlag(flag, 'depends')
        if not deps:
            continue
        keep = [x for x in deps.split() if x.split(':')[0] not in assumed]
        d.setVarFlag(flag, 'depends', ' '.join(keep))
}
