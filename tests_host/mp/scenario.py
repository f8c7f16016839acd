# The full device scenario, for memory checks and the bench: provision (or cached assignment),
# connect, N telemetry messages, a reported property, a desired property acknowledged and a
# command answered. Prints "SCENARIO OK" and figures. Settings come from the environment.
import gc
import os
import time

import emuctl
from iotc import IoTCClient, IoTCConnectType, IoTCEvents


def main():
    dev = os.getenv("SCENARIO_DEVICE") or "scenario"
    n = int(os.getenv("SCENARIO_MESSAGES") or "200")
    qos = int(os.getenv("SCENARIO_QOS") or "0")
    c = IoTCClient(os.getenv("IOTC_EMU_SCOPE"), dev, IoTCConnectType.SYMM_KEY,
                   os.getenv("IOTC_EMU_GROUP_KEY"), endpoint=os.getenv("IOTC_EMU_DPS"),
                   ca_file=os.getenv("IOTC_EMU_CA"), qos=qos)
    done = []
    c.on(IoTCEvents.PROPERTIES, lambda name, value, comp: done.append(name) or True)
    c.on(IoTCEvents.COMMANDS, lambda cmd, ack: done.append(cmd.name) or ack(cmd, {"ok": 1}))
    c.connect()
    gc.collect()
    print("heap after connect", gc.mem_alloc())
    for i in range(n):
        c.send_telemetry({"temperature": 21.5, "humidity": 40})
        c.listen()
    c.send_property({"firmware": "1.0.0"})
    emuctl.call("POST", "/devices/{}/desired".format(dev), {"fanSpeed": 2})
    emuctl.call("POST", "/devices/{}/methods/reboot?wait=0&timeout=10".format(dev), {"d": 1})
    t0 = time.ticks_ms()
    while len(done) < 2 or c._reported or c._inflight:
        if time.ticks_diff(time.ticks_ms(), t0) > 15000:
            raise AssertionError("scenario timed out: {}".format(done))
        c.listen()
        time.sleep_ms(2)
    gc.collect()
    print("heap at end", gc.mem_alloc())
    c.disconnect()
    print("SCENARIO OK")


main()
