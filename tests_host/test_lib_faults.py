# Injected faults: the library heals itself and loses nothing.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_faults"))
def test_faults(case, emulator):
    harness.run("test_lib_faults", case, env=emulator.env(), timeout=180)
