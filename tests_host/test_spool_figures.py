# iotc-spool's heap, from .mpy as on a board (tests_host/spoolfigures.py; its bisection of the
# smallest heap is `python -m tests_host.spoolfigures`): 40 messages kept while offline hold
# less with the spool (its storing code loaded, the messages on flash) than in the core's RAM
# queue without it, and the store empty again, the spool holds its module and object only.
import re
import tempfile

import spoolfigures


def test_spool_heap_from_mpy(emulator, spool_report):
    tree = spoolfigures.build(tempfile.mkdtemp(prefix="iotc-spoolfig-"))
    figures = {}
    for spool in (False, True):
        ok, out = spoolfigures.run(emulator, tree, 256 * 1024, spool)
        assert ok, out
        figures[spool] = {k: int(v) for k, v in re.findall(r"^FIG (\w+) (-?\d+)$", out, re.M)}
    line = "heap beyond the client, from .mpy: with iotc-spool {}; without (the RAM queue) {}".format(
        figures[True], figures[False])
    print(line)
    spool_report(line)
    # While the store is in use (iotc.spoolio loaded): less than the RAM queue's 40 messages.
    assert figures[True]["offline"] < figures[False]["offline"], figures
    # The store empty again: the spool holds its module and object only.
    assert (figures[True]["end"] - figures[False]["end"]
            <= figures[True]["module"] + figures[True]["object"] + 256), figures
    assert figures[True]["object"] < 1536, figures
