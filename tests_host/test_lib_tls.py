# TLS trust settings under the unix port (one case dials the emulator).
import os
import re

import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_tls"))
def test_tls(case, emulator):
    harness.run("test_lib_tls", case, env=emulator.env())


# axTLS (ESP8266) allocates a handshake from the MicroPython heap and crashes when it runs out
# there; the library checks first (iotc.tls: _AXTLS_NEED free, a 5,316 B block) and raises a clear
# MemoryError. Here, under the unix port, through a stand-in with axTLS's shape
# (mp/axtls_heap.py; the handshake is mbedTLS's): the heap is sized by -X heapsize so that the
# check sees 256 B too few (the clear error), then 512 B more than it needs (connected). The
# library is .mpy, as on a board (tests_host/memscenario.py builds it). The same check on the
# ESP8266 twin, with the real axTLS: tests_host/test_esp8266_twin.py.
with open(os.path.join(os.path.dirname(harness.MP_DIR), "..", "iotc", "tls.py")) as _f:
    AXTLS_NEED = int(re.search(r"_AXTLS_NEED = const\((\d+)\)", _f.read()).group(1))


def _axtls_run(emulator, tree, heapsize):
    import re
    import uuid

    path = ":".join([os.path.join(tree, "lib"), harness.MP_DIR, ".frozen"])
    env = dict(emulator.env(), AXTLS_DEVICE="axheap-" + uuid.uuid4().hex[:8])
    p = harness.run_script(["axtls_heap.py"], env=env, heapsize=heapsize, path=path)
    out = p.stdout + p.stderr
    wraps = [int(n) for n in re.findall(r"handshake with free heap (\d+)", out)]
    m = re.search(r"MemoryError: TLS: an axTLS handshake needs (\d+) B of heap, (\d+) B in one "
                  r"block; (\d+) B free", out)
    return p.returncode, out, wraps, (int(m.group(3)) if m else None)


def test_axtls_heap_too_small_is_a_clear_memoryerror(emulator, tmp_path):
    import memscenario

    tree = memscenario.build(str(tmp_path))
    big = 131072
    rc, out, wraps, _ = _axtls_run(emulator, tree, big)
    assert rc == 0 and "connected" in out and len(wraps) == 2, out  # DPS, then the hub
    # A heap in which the check sees less than it needs: its message says how much it saw.
    h1 = big - min(wraps) + AXTLS_NEED
    rc, out, _, seen = _axtls_run(emulator, tree, h1)
    assert rc == 3 and seen is not None, out
    short = h1 + AXTLS_NEED - seen - 256
    rc, out, wraps, seen = _axtls_run(emulator, tree, short)
    assert rc == 3 and seen is not None and AXTLS_NEED - 512 < seen < AXTLS_NEED, out
    assert not wraps, out  # refused before any handshake began
    print("-X heapsize={}: {}".format(short, out.strip().splitlines()[-1]))
    rc, out, wraps, seen = _axtls_run(emulator, tree, short + 768)
    assert rc == 0 and "connected" in out and seen is None, out
