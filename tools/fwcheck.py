# iotc fwcheck: the library's tests on a unix port built from a MicroPython tag
# MIT license; Copyright (c) 2026 the iotc authors
"""Build MicroPython's unix port at a tag and run the library and sample tests with it.

    python tools/fwcheck.py --micropy-dir ~/micropython --tag v1.21.0
        [--mbedtls-dir D] [--micropy-lib-dir D] [--berkeley-db-dir D] [--jobs 2]
        [--mem] [-- more pytest arguments, or with --mem memscenario's: --runs 3 --rev A B]

The tag and the submodules it pins (lib/mbedtls, lib/berkeley-db-1.xx, lib/micropython-lib)
are extracted with `git archive` into build/fwcheck/<tag>/: the trees named are only read.
Each submodule comes from its checkout in the MicroPython tree, or from the directory given
(any clone holding the pinned commit). Only the test bed is adapted, by build settings and
options: mbedTLS as the boards have it (tools/fwcheck_mbedtls.h), no FFI (not needed), and the
emulator reached by a host name, because mbedTLS before 3.5 (firmware before v1.23) cannot
match a certificate to an IP address. The same file is the pytest plugin that names it.
"""

import argparse
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "tools", "fwcheck_mbedtls.h")
# Submodule, option, Makefile variable, and the folders the build reads (all when empty).
SUBMODULES = (("lib/mbedtls", "mbedtls_dir", "MBEDTLS_DIR", ("include", "library")),
              ("lib/berkeley-db-1.xx", "berkeley_db_dir", "BERKELEY_DB_DIR", ()),
              ("lib/micropython-lib", "micropy_lib_dir", "MICROPY_LIB_DIR", ()))
TESTS = ["tests_host/test_lib_*.py", "tests_host/test_samples.py"]


class Stop(Exception):
    pass


def git(repo, *args, **kw):
    return subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                          **kw).stdout


def has_commit(repo, rev):
    return subprocess.run(["git", "-C", repo, "cat-file", "-e", rev + "^{commit}"],
                          capture_output=True).returncode == 0


def extract(repo, rev, dest, paths=()):
    os.makedirs(dest)
    tar = git(repo, "archive", "--format=tar", rev, *paths)
    subprocess.run(["tar", "-x", "-C", dest], input=tar, check=True)


def pinned(micropy, tag, path):
    # The commit the tag pins for a submodule, or None when the tag has no such submodule.
    out = git(micropy, "ls-tree", tag, path, text=True).split()
    return out[2] if len(out) > 2 and out[1] == "commit" else None


def prepare(a, tree):
    # build/fwcheck/<tag>/micropython: the tag and its submodules, extracted once.
    if os.path.exists(os.path.join(tree, ".extracted")):
        return
    if not has_commit(a.micropy_dir, a.tag):
        raise Stop("{} has no tag {}".format(a.micropy_dir, a.tag))
    jobs = []
    for path, opt, var, parts in SUBMODULES:
        commit = pinned(a.micropy_dir, a.tag, path)
        if commit is None:
            continue
        src = getattr(a, opt) or os.path.join(a.micropy_dir, path)
        if not os.path.exists(src) or not has_commit(src, commit):
            raise Stop("{} pins {} at {}, which {} does not hold: set {}= (--{}), a clone "
                       "holding that commit (only read)".format(
                           a.tag, path, commit, src, var, opt.replace("_", "-")))
        jobs.append((src, commit, path, parts))
    if os.path.exists(tree):
        subprocess.run(["rm", "-rf", tree], check=True)
    print("fwcheck: extracting {} into {}".format(a.tag, tree), flush=True)
    extract(a.micropy_dir, a.tag, tree)
    for src, commit, path, parts in jobs:
        print("fwcheck: {} at {} from {}".format(path, commit[:10], src), flush=True)
        os.rmdir(os.path.join(tree, path))  # the empty submodule folder of the archive
        extract(src, commit, os.path.join(tree, path), parts)
    open(os.path.join(tree, ".extracted"), "w").close()


def build(a, tree):
    make = ["make", "-C", os.path.join(tree, "ports", "unix"), "-j{}".format(a.jobs),
            "MICROPY_PY_FFI=0", 'MBEDTLS_CONFIG_FILE=\\"{}\\"'.format(HEADER)]
    print("fwcheck:", " ".join(make), flush=True)
    # Not our repository's version: git stops above the extracted tree, so the build names the
    # version the tag's own py/mpconfig.h gives.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=os.path.dirname(tree))
    if subprocess.run(make, env=env).returncode:
        raise Stop("the unix port at {} did not build".format(a.tag))
    binary = os.path.join(tree, "ports", "unix", "build-standard", "micropython")
    p = subprocess.run([binary, "-c", "import sys; print(sys.version)"], capture_output=True,
                       text=True)
    print("fwcheck: built {} ({})".format(binary, p.stdout.strip()), flush=True)
    return binary


def check_name(name):
    first = socket.getaddrinfo(name, 8443, 0, socket.SOCK_STREAM)[0][4][0]
    if first != "127.0.0.1":
        raise Stop("{} resolves first to {}, not 127.0.0.1, where the emulator listens: pass "
                   "--emulator-name with a name that does".format(name, first))


def run_tests(a, binary):
    name = a.emulator_name
    env = dict(os.environ, IOTC_TEST_MICROPYTHON=binary, IOTC_FWCHECK_NAME=name,
               PYTHONPATH=os.pathsep.join(filter(None, [os.path.join(ROOT, "tools"),
                                                        os.environ.get("PYTHONPATH")])))
    # The unix platform only: the esp32 platform's time stand-in (tests_host/esp32time) needs
    # the way 1.21+ lets a time.py on the path extend the built-in, and one emulator a platform.
    cmd = [sys.executable, "-m", "pytest", "-p", "fwcheck", "-q", "-rf", "-k", "not esp32"]
    cmd += a.extra
    print("fwcheck: tests with {} (emulator as {})".format(binary, name), flush=True)
    p = subprocess.run(cmd + [f for pat in TESTS for f in _glob(pat)], cwd=ROOT, env=env)
    print("fwcheck: {} with MicroPython {}: pytest exit {}".format(
        "passed" if p.returncode == 0 else "FAILED", a.tag, p.returncode), flush=True)
    return p.returncode


def _glob(pattern):
    import glob

    return sorted(os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(ROOT, pattern)))


def run_mem(a, binary):
    # The memory scenario (make mem's second half) with this binary: smallest heaps.
    os.environ.update(IOTC_TEST_MICROPYTHON=binary, IOTC_FWCHECK_NAME=a.emulator_name)
    sys.path.insert(0, os.path.join(ROOT, "tests_host"))
    pytest_configure(None)
    import memscenario

    memscenario.main(a.extra)
    return 0


def pytest_configure(config):
    # As a pytest plugin (-p fwcheck): every emulator the tests start hands out
    # IOTC_FWCHECK_NAME (a name its certificate holds) instead of its IP address.
    name = os.environ.get("IOTC_FWCHECK_NAME")
    if not name:
        return
    import emufixture

    init = emufixture.RunningEmulator.__init__

    def named(self, workdir, *args, **kw):
        kw["extra_args"] = tuple(kw.get("extra_args", ())) + ("--public-name", name)
        init(self, workdir, *args, **kw)

    emufixture.RunningEmulator.__init__ = named


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--micropy-dir", required=True, help="a MicroPython clone (bare or not)")
    p.add_argument("--tag", required=True, help="the tag (or commit) to build, e.g. v1.21.0")
    for path, opt, _, _ in SUBMODULES:
        p.add_argument("--" + opt.replace("_", "-"), help="a clone holding the commit the tag "
                       "pins for {} (default: the MicroPython tree's own)".format(path))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--build", default=os.path.join(ROOT, "build", "fwcheck"))
    p.add_argument("--emulator-name", default="localhost",
                   help="the host name the emulator is reached by (must resolve to 127.0.0.1)")
    p.add_argument("--no-tests", action="store_true", help="build only")
    p.add_argument("--mem", action="store_true",
                   help="run the memory scenario (tests_host/memscenario.py) instead of the tests")
    p.add_argument("extra", nargs="*",
                   help="after --: more pytest arguments, or memscenario's with --mem")
    a = p.parse_args(argv)
    a.micropy_dir = os.path.abspath(os.path.expanduser(a.micropy_dir))
    for _, opt, _, _ in SUBMODULES:
        if getattr(a, opt):
            setattr(a, opt, os.path.abspath(os.path.expanduser(getattr(a, opt))))
    tree = os.path.join(os.path.abspath(a.build), a.tag, "micropython")
    try:
        prepare(a, tree)
        binary = build(a, tree)
        if a.no_tests:
            return 0
        check_name(a.emulator_name)
        return run_mem(a, binary) if a.mem else run_tests(a, binary)
    except Stop as e:
        print("fwcheck: " + str(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
