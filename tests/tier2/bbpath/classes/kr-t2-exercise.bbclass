# Copyright (C) 2026 meta-kernel-repro contributors
# SPDX-License-Identifier: MIT
#
# Test-only class of tests/tier2/test_fingerprint_t2.py, never on the layer's
# BBPATH: the test adds this directory with `bitbake -R`. It adds one python
# task, do_kr_t2_exercise, that runs the real functions of
# kernel-repro-sstate.bbclass (bb.build.exec_func, in the BitBake worker, on
# a copy of the real recipe datastore) against real kernels, in scratch
# directories, following the plan in ${KR_T2_PLAN} (JSON), and writes what
# each step did to ${KR_T2_RESULT}. No compiler, fetcher or pseudo needed:
# run it with `bitbake -b <recipe.bb> -c kr_t2_exercise`.

KR_T2_PLAN ??= ""
KR_T2_RESULT ??= ""

python do_kr_t2_exercise () {
    import json, logging, os, shutil
    import kernelrepro.fingerprint as fp

    with open(d.getVar("KR_T2_PLAN")) as f:
        plan = json.load(f)

    class Catch(logging.Handler):
        def __init__(self):
            logging.Handler.__init__(self, logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    def listing(top):
        out = {}
        for root, dirs, files in os.walk(top):
            for name in sorted(files + [x for x in dirs if os.path.islink(os.path.join(root, x))]):
                p = os.path.join(root, name)
                rel = os.path.relpath(p, top)
                if os.path.islink(p):
                    out[rel] = "-> " + os.readlink(p)
                elif os.path.getsize(p) > 4096:
                    out[rel] = "<%d bytes>" % os.path.getsize(p)
                else:
                    with open(p, "rb") as f:
                        out[rel] = f.read().decode("utf-8", "replace")
        return out

    results = []
    for sc in plan["scenarios"]:
        work = os.path.join(plan["work"], sc["name"])
        if os.path.exists(work):
            shutil.rmtree(work)
        l = bb.data.createCopy(d)
        dirs = {"B": "build", "PKGD": "package", "PKGDESTWORK": "pkgdata",
                "PKGDATA_DIR": "pkgdata", "DEPLOYDIR": "deploy",
                "DEPLOY_DIR_IMAGE": "deploy", "IMAGE_ROOTFS": "rootfs", "T": "temp",
                "DEPLOY_DIR_RPM": "feed"}
        for var, sub in dirs.items():
            p = os.path.join(work, sub)
            os.makedirs(p, exist_ok=True)
            l.setVar(var, p)
        for var, value in sc.get("vars", {}).items():
            l.setVar(var, value)
        for rel, src in sc.get("files", {}).items():
            dst = os.path.join(work, l.expand(rel))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
        for rel in sc.get("touch", []):
            dst = os.path.join(work, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            open(dst, "w").close()
        for rel, (bid_from, source) in sc.get("records", {}).items():
            fp.write_record(os.path.join(work, l.expand(rel)), fp.read_build_id(bid_from),
                            l.getVar("PN"), source=source)
        steps = []
        for func in sc["steps"]:
            # Expected errors are captured here, not forwarded: the UI
            # would count them and make bitbake exit non-zero.
            catch = Catch()
            logger = logging.getLogger("BitBake")
            saved = (logger.handlers[:], logger.propagate)
            logger.handlers[:] = [catch]
            logger.propagate = False
            try:
                bb.build.exec_func(func, l)
                ok, exc = True, ""
            except Exception as e:
                ok, exc = False, "%s: %s" % (type(e).__name__, e)
            finally:
                logger.handlers[:], logger.propagate = saved
            steps.append({"func": func, "ok": ok, "exception": exc, "messages": catch.messages})
        results.append({"name": sc["name"], "pn": l.getVar("PN"),
                        "KERNEL_IMAGETYPE": l.getVar("KERNEL_IMAGETYPE"),
                        "KERNEL_IMAGE_NAME": l.getVar("KERNEL_IMAGE_NAME"),
                        "KERNEL_IMAGE_LINK_NAME": l.getVar("KERNEL_IMAGE_LINK_NAME"),
                        "steps": steps,
                        "files": {sub: listing(os.path.join(work, sub))
                                  for sub in ("build", "pkgdata", "deploy", "sstate", "feed")
                                  if os.path.isdir(os.path.join(work, sub))}})
    with open(d.getVar("KR_T2_RESULT"), "w") as f:
        json.dump(results, f, indent=1)
}
do_kr_t2_exercise[nostamp] = "1"
addtask kr_t2_exercise
