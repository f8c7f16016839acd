# iotc-spool: telemetry kept on flash (a real littlefs on a flash chip stand-in) while offline,
# replayed in order and paced after the reconnect.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_spool"))
def test_spool(case, emulator, platform, spool_report):
    out = harness.run("test_lib_spool", case, env=emulator.env(), timeout=180)
    print(out)
    for line in out.splitlines():
        if line.startswith(("flash per", "resent after", "flood:")):
            spool_report("{} {}: {}".format(platform, case, line))
