# iotc-spool's heap, from .mpy as on a board (tests_host/spoolfigures.py; its bisection of the
# smallest heap is `python -m tests_host.spoolfigures`): 40 messages kept while offline hold
# next to nothing in RAM with the spool, kilobytes in the core's RAM queue without it.
import re
import tempfile

import spoolfigures


def test_spool_heap_from_mpy(emulator):
    tree = spoolfigures.build(tempfile.mkdtemp(prefix="iotc-spoolfig-"))
    figures = {}
    for spool in (False, True):
        ok, out = spoolfigures.run(emulator, tree, 256 * 1024, spool)
        assert ok, out
        figures[spool] = {k: int(v) for k, v in re.findall(r"^FIG (\w+) (\d+)$", out, re.M)}
    print("heap beyond the client, from .mpy: with iotc-spool {}; without (the RAM queue) {}"
          .format(figures[True], figures[False]))
    assert figures[True]["offline"] < 256, figures
    assert figures[False]["offline"] > 2048, figures
    assert figures[True]["object"] < 1536, figures
    assert figures[True]["replay"] < 2048, figures
