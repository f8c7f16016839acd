# iotc sample: the smallest telemetry loop
# MIT license; Copyright (c) 2026 the iotc authors
#
# Put iotc_config.json next to this file (see samples/iotc_config.example.json); on a board the
# network must already be up and the clock set (samples/esp32.py shows both).
import json
import time

from iotc import IoTCClient, IoTCConnectType

with open("iotc_config.json") as f:
    cfg = json.load(f)

client = IoTCClient(
    cfg["id_scope"],
    cfg["device_id"],
    IoTCConnectType.SYMM_KEY,
    cfg["group_key"],
    endpoint=cfg.get("endpoint"),  # None: Azure's global DPS endpoint
    ca_file=cfg.get("ca_file"),  # None: the bundled Azure root certificates
)
client.connect()

loops = cfg.get("loops", 0)  # 0: forever
n = 0
while loops == 0 or n < loops:  # offline, sends are queued and listen() reconnects
    n += 1
    client.send_telemetry({"temperature": 20 + n % 10, "count": n})
    print("sent", n)
    end = time.ticks_add(time.ticks_ms(), int(cfg.get("interval", 10) * 1000))
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        client.listen()  # keepalive and incoming messages; never blocks
        time.sleep_ms(50)
client.disconnect()
