"""The heap iotc-rate and iotc-stop hold in use, from .mpy as a board loads them (the module, its
object, and iotc.hooks, shared by the extras, already loaded): printed, and kept under a budget.
The 64-bit unix port's objects are about twice an ESP32's. The table of interned names is
counted apart: a new block of it lands wherever the names cross its size (docs/memory.md)."""

import os
import re

import harness
import memscenario

BUDGET = 4096  # bytes each, beside the interned names
NAMES = 40  # new interned names each

_CODE = """import gc, micropython
from iotc import IoTCClient
import iotc.hooks
c = IoTCClient("0ne0000EMU", "dev1", 1, "{key}", storage=None)
gc.collect()
micropython.qstr_info()
a = gc.mem_alloc()
{extra}
gc.collect()
print("held", gc.mem_alloc() - a)
micropython.qstr_info()
"""

EXTRAS = {
    "iotc-rate": "from iotc.rate import Rate\nx = Rate(c, 10, 'coalesce')\n"
                 "x._send({'t': 1}, None, None)\nx._send({'t': 2, 'h': 3}, None, None)",
    "iotc-stop": "from iotc.stop import Stop\nx = Stop(c, 'no-stop.json')",
}


def _measure(tree, cwd, extra):
    code = _CODE.format(key="A" * 43 + "=", extra=extra)
    p = harness.run_script(["-c", code], path=tree + ":.frozen", cwd=cwd)
    assert p.returncode == 0, p.stdout + p.stderr
    held = int(re.search(r"held (\d+)", p.stdout).group(1))
    pools = [(int(n), int(b)) for n, b in
             re.findall(r"n_qstr=(\d+), n_str_data_bytes=\d+, n_total_bytes=(\d+)", p.stdout)]
    (n0, b0), (n1, b1) = pools
    return held - (b1 - b0), n1 - n0, b1 - b0


def test_heap_held_by_each_extra_in_use(tmp_path):
    tree = os.path.join(memscenario.build(str(tmp_path / "device")), "lib")
    for name, extra in EXTRAS.items():
        heap, names, table = _measure(tree, str(tmp_path), extra)
        print("{}: {} B held in use beside the names; {} names interned ({} B of table)".format(
            name, heap, names, table))
        assert 0 < heap < BUDGET, name
        assert names < NAMES, name
