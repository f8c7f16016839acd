# The client under what the real service does (issue 12), under the MicroPython unix port.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_azure"))
def test_azure(case, emulator):
    harness.run("test_lib_azure", case, env=emulator.env(), timeout=180)
