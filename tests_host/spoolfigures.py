"""The heap and flash figures of iotc-spool, from .mpy as on a board.

    python -m tests_host.spoolfigures            # heap held, and the smallest -X heapsize
    python -m tests_host.spoolfigures --no-bisect

The device runs tests_host/mp/spool_scenario.py (with the library, the flash chip stand-in and
the emulator's control client compiled to .mpy under lib/): 20 messages online, 40 while the
link is down, then the reconnect; SPOOL=1 keeps the 40 on flash (iotc-spool) and replays them,
SPOOL=0 leaves them to the core's RAM queue (32 kept). The smallest heap of each is bisected.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import memscenario  # noqa: E402
from harness import MICROPYTHON  # noqa: E402


def build(dest):
    memscenario.build(dest)
    lib = os.path.join(dest, "lib")
    for name in ("spool_scenario", "flashchip", "emuctl"):
        memscenario._compile(os.path.join(HERE, "mp", name + ".py"),
                             os.path.join(lib, name + ".mpy"), name + ".py")
    return dest


def run(emulator, tree, heapsize, spool, timeout=120):
    dev = "spf-" + uuid.uuid4().hex[:8]
    img = os.path.join(tree, dev + ".bin")
    env = dict(os.environ, MICROPYPATH="lib:.frozen", SCENARIO_DEVICE=dev, SCENARIO_IMG=img,
               SPOOL="1" if spool else "0", **emulator.env())
    p = subprocess.run([MICROPYTHON, "-X", "heapsize={}".format(heapsize), "-c",
                        "import spool_scenario"], cwd=tree, env=env, capture_output=True,
                       text=True, timeout=timeout)
    if os.path.exists(img):
        os.remove(img)
    out = p.stdout + p.stderr
    return p.returncode == 0 and "SPOOL SCENARIO OK" in out, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--no-bisect", action="store_true")
    args = p.parse_args(argv)
    from emufixture import RunningEmulator

    work = tempfile.mkdtemp(prefix="iotc-spoolfig-")
    os.makedirs(os.path.join(work, "emulator"))
    emulator = RunningEmulator(os.path.join(work, "emulator"))
    try:
        tree = build(os.path.join(work, "device"))
        for spool in (False, True):
            ok, out = run(emulator, tree, 200 * 1024, spool)
            print("SPOOL={}:".format(int(spool)))
            print("\n".join("  " + line for line in out.strip().splitlines()))
            if not args.no_bisect:
                def attempt(h, spool=spool):
                    ok, out = run(emulator, tree, h, spool)
                    return ok, memscenario._why(out), out

                h = memscenario.bisect(attempt, 16384, 131072, 256, say=lambda s: None)
                print("  smallest -X heapsize: {} B".format(h))
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
