# iotc bench: heap held after import (figure 1), in a nearly bare interpreter, as a board's
# main.py that imports iotc first. Kept apart from devbench.py: MicroPython interns names
# (qstrs) in pools allocated on the heap, and devbench's own names leave the pool so full that
# the client's import would open a new ~2 KB pool it does not otherwise need. The qstr_info()
# lines around each step let the host report whether a new pool was opened anyway.
#     micropython benchimport.py old|ours
import gc
import sys

import micropython


def held():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()


def step1():
    import iotc  # noqa: F401


def step2():
    from iotc import IoTCClient  # noqa: F401


if sys.argv[1] == "old":  # the same bridges as app_old.bridge(), without loading app_old
    import bench_clock
    import bench_net

    sys.modules["utime"] = bench_clock
    sys.modules["usocket"] = bench_net
    sys.modules["socket"] = bench_net
base = held()
micropython.qstr_info()
step1()
h1 = held()
micropython.qstr_info()
step2()
h2 = held()
micropython.qstr_info()
print("@@ {\"import_iotc\": %d, \"import_client\": %d}" % (h1 - base, h2 - base))
