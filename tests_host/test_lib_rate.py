# The library under the unix port, through real TLS and MQTT, against the emulator.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_rate"))
def test_rate(case, emulator):
    harness.run("test_lib_rate", case, env=emulator.env())
