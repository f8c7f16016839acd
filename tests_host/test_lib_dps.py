# Provisioning through the emulator's DPS over HTTPS, happy and error paths.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_dps"))
def test_dps(case, emulator):
    harness.run("test_lib_dps", case, env=emulator.env())
