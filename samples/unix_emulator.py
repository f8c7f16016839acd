# iotc sample for the MicroPython unix port: a device talking to the local emulator
# MIT license; Copyright (c) 2026 the iotc authors
#
# `make demo` runs this. By hand, with the emulator running (README, "The emulator"):
#   .venv/bin/python -m tests_host.emulator serve --ready-file /tmp/emu.json
#   MICROPYPATH=.:.deps/lib:tests_host/mplib:.frozen .venv/bin/micropython \
#       samples/unix_emulator.py /tmp/emu.json
# Settings come from the emulator's ready file (argument or $IOTC_EMU_READY) or from the
# IOTC_EMU_* variables the test fixture exports; IOTC_DEVICE_ID, IOTC_LOOPS (0: until Ctrl-C)
# and IOTC_INTERVAL (seconds) tune the run.
import json
import os
import sys
import time

from iotc import IoTCClient, IoTCConnectType, IoTCEvents, IoTCLogLevel

ready = sys.argv[1] if len(sys.argv) > 1 else os.getenv("IOTC_EMU_READY")
if ready:
    with open(ready) as f:
        info = json.load(f)
    dps, scope, key, ca = info["dps"], info["id_scope"], info["group_key"], info["ca_der"]
else:
    dps = os.getenv("IOTC_EMU_DPS") or "127.0.0.1:8443"
    scope = os.getenv("IOTC_EMU_SCOPE") or "0ne0000EMU"
    key, ca = os.getenv("IOTC_EMU_GROUP_KEY"), os.getenv("IOTC_EMU_CA")
    if not key or not ca:
        raise SystemExit("set IOTC_EMU_READY (the emulator's --ready-file) or IOTC_EMU_*")
device_id = os.getenv("IOTC_DEVICE_ID") or "unix-sample-1"
loops = int(os.getenv("IOTC_LOOPS") or 0)
state = {"interval": float(os.getenv("IOTC_INTERVAL") or 2), "setpoint": 21.0}


def on_connection(connected, reason):
    print("device: connected" if connected else "device: disconnected ({})".format(reason))


def on_properties(name, value, component):
    print("device: property {} = {}".format(name, json.dumps(value)))
    if name == "targetTemperature" and isinstance(value, (int, float)):
        state["setpoint"] = float(value)
    return value  # acknowledged to the application with status 200


def on_commands(command, ack):
    print("device: command {} {}".format(command.name, json.dumps(command.value)))
    if command.name == "echo":
        ack(command, {"echo": command.value})
    elif command.name == "getMaxMinReport":
        ack(command, {"maxTemp": state["setpoint"] + 1.5, "minTemp": state["setpoint"] - 2.0})
    else:
        ack(command, {"error": "unknown command " + command.name}, 404)


client = IoTCClient(scope, device_id, IoTCConnectType.SYMM_KEY, key, endpoint=dps, ca_file=ca)
client.set_log_level(IoTCLogLevel.DISABLED)  # this sample prints its own lines
client.set_model_id("dtmi:com:example:Thermostat;1")
client.on(IoTCEvents.CONNECTION, on_connection)
client.on(IoTCEvents.PROPERTIES, on_properties)
client.on(IoTCEvents.COMMANDS, on_commands)
client.connect()
client.send_property({"serialNumber": "unix-0001", "firmware": sys.implementation.name})

n = 0
temperature = 19.0
try:
    while loops == 0 or n < loops:
        n += 1
        # Drift towards the set point, like a heater would.
        temperature += (state["setpoint"] - temperature) * 0.3
        t = round(temperature, 2)
        client.send_telemetry({"temperature": t}, properties={"seq": str(n)})
        print("device: telemetry #{} temperature={}".format(n, t))
        end = time.ticks_add(time.ticks_ms(), int(state["interval"] * 1000))
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            client.listen()
            time.sleep_ms(20)
except KeyboardInterrupt:
    pass
client.disconnect()
print("device: done after", n, "messages")
