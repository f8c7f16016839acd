# iotc sample for ESP8266 (2 MiB+ flash, firmware with iotc frozen in): tuned for a ~40 KB heap
# MIT license; Copyright (c) 2026 the iotc authors
#
# Build the firmware with `make firmware BOARD=ESP8266_GENERIC MICROPY_DIR=...` so iotc runs from
# flash (compiling it from .py on this board can raise MemoryError). Heap habits used here:
# collect before and after big steps, import only what runs, small payloads, QoS 0, no buffers
# kept between messages.
#
# TLS: the ESP8266 port uses axTLS, which cannot verify a server certificate, and Azure (like the
# emulator) refuses its cipher suites (no ECDHE) since 2025-08-31. So an ESP8266 reaches Azure,
# or the emulator, through the relay on its LAN (relay/relay.py; docs/esp8266.md, "The relay"):
# "relay": "192.168.1.5" (or "address:port"; 8883 if not given) in iotc_config.json, and
# "verify": false, which opts out of the check explicitly (with the default verify=True the
# client refuses to connect and says why). Read docs/esp8266.md for what an unchecked relay
# means and when it is acceptable. "endpoint" stays the real DPS name (default: Azure's).
import gc
import sys
import time

gc.collect()
import json  # noqa: E402

with open("iotc_config.json") as f:
    cfg = json.load(f)

if sys.platform == "esp8266":
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
            raise OSError("Wi-Fi: could not join")
    ntptime.settime()  # SAS tokens expire: the clock must be right
    del sys.modules["ntptime"], ntptime  # not needed again: let its memory go
gc.collect()

from iotc import FileStorage, IoTCClient, IoTCConnectType, IoTCEvents  # noqa: E402

gc.collect()


def on_properties(name, value, component):
    return value  # acknowledged with status 200


def on_commands(command, ack):
    ack(command, None)  # status 200, empty payload


client = IoTCClient(
    cfg["id_scope"],
    cfg["device_id"],
    IoTCConnectType.SYMM_KEY,
    cfg["group_key"],
    endpoint=cfg.get("endpoint"),
    ca_file=cfg.get("ca_file"),
    storage=FileStorage("iotc_assignment.json"),  # a reboot skips DPS: one TLS handshake fewer
    verify=cfg.get("verify", True),
    relay=cfg.get("relay"),  # the relay's address (None: DPS and the hub directly)
    qos=0,
    keepalive=60,
)
client.on(IoTCEvents.PROPERTIES, on_properties)
client.on(IoTCEvents.COMMANDS, on_commands)
del cfg["group_key"]  # the client keeps what it needs
gc.collect()
client.connect()
gc.collect()
print("connected, free heap", gc.mem_free())

loops = cfg.get("loops", 0)  # 0: forever
interval_ms = int(cfg.get("interval", 30) * 1000)
n = 0
while loops == 0 or n < loops:
    n += 1
    if client.is_connected():
        client.send_telemetry({"n": n, "heap": gc.mem_free()})
    gc.collect()
    end = time.ticks_add(time.ticks_ms(), interval_ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        client.listen()
        time.sleep_ms(100)
client.disconnect()
