# The device side of the spool's heap figures (tests_host/spoolfigures.py): a lean application
# from .mpy, as on a board. Connects, sends 20 messages, loses the link (the emulator refuses
# reconnects for a while), sends 40 more while offline, then reconnects and sends what waited.
# SPOOL=1: with iotc-spool (kept on the flash chip stand-in, replayed paced), else the core's
# RAM queue (32 messages). Prints "SPOOL SCENARIO OK" and figures, "FIG name bytes": module,
# what importing iotc.spool holds; object, the Spool; offline, what the 40 messages kept while
# offline hold (with the spool: iotc.spoolio, loaded while the store is in use, included);
# replay, the most held between listen() calls while replaying, beyond what was held when the
# link went down; end, all sent, beyond what was held after the first connect (all after
# gc.collect()).
import gc
import os
import time

import emuctl
import flashchip
from iotc import IoTCClient, IoTCConnectType


def _until(cond, c, ms=30000):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            raise AssertionError("timed out")
        c.listen()
        time.sleep_ms(2)


def main():
    dev = os.getenv("SCENARIO_DEVICE")
    spool = os.getenv("SPOOL") == "1"
    flashchip.mount(os.getenv("SCENARIO_IMG"))
    c = IoTCClient(os.getenv("IOTC_EMU_SCOPE"), dev, IoTCConnectType.SYMM_KEY,
                   os.getenv("IOTC_EMU_GROUP_KEY"), endpoint=os.getenv("IOTC_EMU_DPS"),
                   ca_file=os.getenv("IOTC_EMU_CA"))
    c.RETRY_MS = 20
    c.connect()
    gc.collect()
    base = gc.mem_alloc()
    if spool:
        from iotc.spool import Spool

        gc.collect()
        mod = gc.mem_alloc() - base
        sp = Spool(c, "/flash/spool", rate=50)
        gc.collect()
        print("FIG module", mod)
        print("FIG object", gc.mem_alloc() - base - mod)
    for i in range(20):
        c.send_telemetry({"temperature": 21.5, "humidity": 40})
        c.listen()
    emuctl.call("POST", "/faults", {"kind": "refuse_connect", "device": dev, "count": 100000})
    emuctl.call("POST", "/faults", {"kind": "drop", "device": dev})
    _until(lambda: not c.is_connected(True), c)
    gc.collect()
    off = gc.mem_alloc()
    for i in range(40):
        c.send_telemetry({"temperature": 21.5, "humidity": 40, "n": i})
    gc.collect()
    print("FIG offline", gc.mem_alloc() - off)
    emuctl.call("POST", "/faults/clear")
    _until(lambda: c.is_connected(True), c)
    if spool:
        most = 0
        while sp.pending() or sp._sent:
            c.listen()
            gc.collect()
            most = max(most, gc.mem_alloc() - off)
            time.sleep_ms(2)
        print("FIG replay", most)
    else:
        _until(lambda: not c._queue and not c._inflight, c)
    c.listen()  # with the spool: the store empty, iotc.spoolio goes
    gc.collect()
    print("FIG end", gc.mem_alloc() - base)
    c.disconnect()
    print("SPOOL SCENARIO OK")


main()
