# iotc sample: writable properties and commands
# MIT license; Copyright (c) 2026 the iotc authors
#
# IoT Central sets a writable property (here "interval", seconds) and the device acknowledges it;
# the operator runs a command (here "echo" and "reboot") and the device answers it.
import json
import time

from iotc import IoTCClient, IoTCConnectType, IoTCEvents

with open("iotc_config.json") as f:
    cfg = json.load(f)

state = {"interval": cfg.get("interval", 10)}


def on_properties(name, value, component):
    print("property", name, "=", value, "component", component)
    if name == "interval" and isinstance(value, (int, float)) and value > 0:
        state["interval"] = value
    return value  # the value returned is acknowledged (status 200)


def on_commands(command, ack):
    print("command", command.name, "payload", command.value)
    if command.name == "echo":
        ack(command, {"echo": command.value})
    elif command.name == "reboot":
        ack(command, {"accepted": True}, 202)  # a real device would machine.reset() afterwards
    else:
        ack(command, {"error": "unknown command"}, 404)


client = IoTCClient(
    cfg["id_scope"],
    cfg["device_id"],
    IoTCConnectType.SYMM_KEY,
    cfg["group_key"],
    endpoint=cfg.get("endpoint"),
    ca_file=cfg.get("ca_file"),
)
client.on(IoTCEvents.PROPERTIES, on_properties)
client.on(IoTCEvents.COMMANDS, on_commands)
client.connect()
client.send_property({"firmware": "sample-1.0"})

loops = cfg.get("loops", 0)  # 0: forever
n = 0
while loops == 0 or n < loops:  # offline, sends are queued and listen() reconnects
    n += 1
    client.send_telemetry({"temperature": 21.5, "count": n})
    end = time.ticks_add(time.ticks_ms(), int(state["interval"] * 1000))
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        client.listen()
        time.sleep_ms(50)
client.disconnect()
