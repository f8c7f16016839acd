# iotc.stop (iotc-stop) under the unix port, through real TLS and MQTT, against the emulator.
# A reboot is a new process on the same folder (IOTC_TEST_DIR): the boot_* cases in order.
import pytest

import harness


def _env(emulator, tmp_path):
    return dict(emulator.env(), IOTC_TEST_DIR=str(tmp_path))


@pytest.mark.parametrize("case", harness.cases("test_lib_stop"))
def test_stop(case, emulator, tmp_path):
    harness.run("test_lib_stop", case, env=_env(emulator, tmp_path))


@pytest.mark.parametrize("boots", [
    ("boot_stopped_by_a_method", "boot_still_stopped_then_cleared"),
    ("boot_stopped_for_15s", "boot_held_until_it_expires"),
], ids=["cleared", "expires"])
def test_stop_across_a_reboot(boots, emulator, tmp_path):
    for case in boots:
        harness.run("test_lib_stop", case, env=_env(emulator, tmp_path))
