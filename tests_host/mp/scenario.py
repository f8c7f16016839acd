# The device side of the memory scenario (tests_host/memscenario.py plays the cloud's part):
# provision, connect, N telemetry messages, a reported property, then wait for a desired
# property (acknowledged) and a command (answered). With SCENARIO_RECONNECT=1 the cloud then
# drops the connection: the client must reconnect and send once more. Prints "SCENARIO OK"
# and figures. An application as small as a real one: settings from the environment.
import gc
import micropython
import os
import time

from iotc import IoTCClient, IoTCConnectType, IoTCEvents


def main():
    n = int(os.getenv("SCENARIO_MESSAGES") or "200")
    c = IoTCClient(os.getenv("IOTC_EMU_SCOPE"), os.getenv("SCENARIO_DEVICE") or "scenario",
                   IoTCConnectType.SYMM_KEY, os.getenv("IOTC_EMU_GROUP_KEY"),
                   endpoint=os.getenv("IOTC_EMU_DPS"), ca_file=os.getenv("IOTC_EMU_CA"),
                   qos=int(os.getenv("SCENARIO_QOS") or "0"))
    done = []
    c.on(IoTCEvents.PROPERTIES, lambda name, value, comp: done.append(name) or True)
    c.on(IoTCEvents.COMMANDS, lambda cmd, ack: done.append(cmd.name) or ack(cmd, {"ok": 1}))
    ups = []
    c.on(IoTCEvents.CONNECTION, lambda up, why: up and ups.append(1))
    c.connect()
    gc.collect()
    print("heap after connect", gc.mem_alloc())
    for i in range(n):
        c.send_telemetry({"temperature": 21.5, "humidity": 40})
        c.listen()
    c.send_property({"firmware": "1.0.0"})
    t0 = time.ticks_ms()
    while len(done) < 2 or c._reported or c._inflight:
        if time.ticks_diff(time.ticks_ms(), t0) > 30000:
            raise AssertionError("scenario timed out: {}".format(done))
        c.listen()
        time.sleep_ms(2)
    if os.getenv("SCENARIO_RECONNECT"):
        while len(ups) < 2:
            if time.ticks_diff(time.ticks_ms(), t0) > 30000:
                raise AssertionError("no reconnect")
            c.listen()
            time.sleep_ms(2)
        c.send_telemetry({"temperature": 21.5, "humidity": 40})
    gc.collect()
    print("heap at end", gc.mem_alloc())
    micropython.qstr_info()  # interned names: past 300 the table takes a 3.5 KB block
    c.disconnect()
    print("SCENARIO OK")


main()
