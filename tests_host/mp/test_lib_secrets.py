# Everything the library can print, at the most verbose level, through provisioning, a
# refused DPS call, a reconnect and a refused cached assignment. pytest scans the output.
import os
import time

import emuctl
from iotc import ConsoleLogger, IoTCClient, IoTCConnectType, IoTCError, IoTCLogLevel
from iotc import MemoryStorage

BAD_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMA=="


def _client(dev, key, storage=None):
    return IoTCClient(os.getenv("IOTC_EMU_SCOPE"), dev, IoTCConnectType.SYMM_KEY, key,
                      logger=ConsoleLogger(IoTCLogLevel.ALL), storage=storage,
                      endpoint=os.getenv("IOTC_EMU_DPS"), ca_file=os.getenv("IOTC_EMU_CA"))


def test_verbose_run_prints_no_secret():
    try:
        _client("sec-bad", BAD_KEY).connect()
    except IoTCError as e:
        print("caught:", e)
    store = MemoryStorage()
    c = _client("sec-good", os.getenv("IOTC_EMU_GROUP_KEY"), store)
    c.connect()
    c.send_telemetry({"x": 1})
    emuctl.call("POST", "/faults", {"kind": "drop", "device": "sec-good"})
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 3000:
        c.listen()
        time.sleep_ms(10)
    c.disconnect()
    emuctl.call("POST", "/faults", {"kind": "refuse_connect", "device": "sec-good", "code": 5})
    c2 = _client("sec-good", os.getenv("IOTC_EMU_GROUP_KEY"), store)
    c2.connect()
    c2.disconnect()


def test_default_logging_and_disabled():
    # No logger given: the client prints ConsoleLogger's lines itself, until DISABLED.
    c = IoTCClient(os.getenv("IOTC_EMU_SCOPE"), "log-default", IoTCConnectType.SYMM_KEY,
                   os.getenv("IOTC_EMU_GROUP_KEY"), endpoint=os.getenv("IOTC_EMU_DPS"),
                   ca_file=os.getenv("IOTC_EMU_CA"))
    c.connect()
    print("-- disabled from here --")
    c.set_log_level(IoTCLogLevel.DISABLED)
    c.disconnect()
    c.connect()
    c.disconnect()
