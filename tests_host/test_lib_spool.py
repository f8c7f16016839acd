# iotc-spool: telemetry kept on flash (a real littlefs on a flash chip stand-in) while offline,
# replayed in order and paced after the reconnect.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_spool"))
def test_spool(case, emulator):
    print(harness.run("test_lib_spool", case, env=emulator.env(), timeout=180))
