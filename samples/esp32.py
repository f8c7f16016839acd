# iotc sample for ESP32: Wi-Fi, clock from NTP, credentials from a file on the board
# MIT license; Copyright (c) 2026 the iotc authors
#
# Copy to the board with its config (never put keys in the code):
#   mpremote cp samples/esp32.py :main.py + cp iotc_config.json :iotc_config.json + reset
# The same file runs on the unix port (tests do that): the board-only lines are skipped there.
import json
import sys
import time

from iotc import IoTCClient, IoTCConnectType, IoTCEvents, IoTCError

with open("iotc_config.json") as f:
    cfg = json.load(f)

if sys.platform == "esp32":
    import network
    import ntptime

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(cfg["wifi_ssid"], cfg["wifi_password"])
        for _ in range(150):  # up to 30 s
            if wlan.isconnected():
                break
            time.sleep_ms(200)
        else:
            raise OSError("Wi-Fi: could not join " + cfg["wifi_ssid"])
    print("Wi-Fi up:", wlan.ifconfig()[0])
    # SAS tokens carry an expiry and TLS checks certificate dates: the clock must be right.
    for attempt in range(5):
        try:
            ntptime.settime()
            break
        except OSError:
            time.sleep(2)
    else:
        raise OSError("NTP: could not set the clock")
    print("clock set:", time.gmtime())


def on_properties(name, value, component):
    print("property", name, "=", value)
    return value  # acknowledged with status 200


def on_commands(command, ack):
    print("command", command.name, command.value)
    ack(command, {"done": command.name})


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

for attempt in range(3):
    try:
        client.connect()
        break
    except (IoTCError, OSError) as e:
        print("connect failed:", e)
        time.sleep(5)
else:
    raise IoTCError("could not connect")

loops = cfg.get("loops", 0)  # 0: forever
n = 0
while loops == 0 or n < loops:
    n += 1
    if client.is_connected(True):  # the link up now (while it heals, a send is queued)
        client.send_telemetry({"temperature": 20 + (time.ticks_ms() // 1000) % 10, "count": n})
    end = time.ticks_add(time.ticks_ms(), int(cfg.get("interval", 10) * 1000))
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        client.listen()  # also reconnects after a dropped link
        time.sleep_ms(50)
client.disconnect()
