# The library under the unix port, through real TLS and MQTT, against the emulator.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_session"))
def test_session(case, emulator):
    harness.run("test_lib_session", case, env=emulator.env())
