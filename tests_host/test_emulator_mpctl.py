"""emuctl.py (the MicroPython control client) against the session emulator, under the unix port."""

import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_emuctl_selfcheck"))
def test_emuctl(emulator, case):
    harness.run("test_emuctl_selfcheck", case, env=emulator.env(), timeout=30)
