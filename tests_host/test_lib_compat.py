# micropython-iotc's callback, logger and storage shapes on our client (issue 13), each case
# on every platform: the library under the unix port against the emulator.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_compat"))
def test_compat(case, emulator):
    harness.run("test_lib_compat", case, env=emulator.env())
