# iotc sample: a device IoT Central can throttle and stop (iotc-rate, iotc-stop)
# MIT license; Copyright (c) 2026 the iotc authors
#
# Put iotc_config.json next to this file (see samples/iotc_config.example.json); on a board the
# network must already be up and the clock set (samples/esp32.py shows both). In IoT Central,
# the writable property iotcSendInterval sets the seconds between sends, and the command
# iotcStop stops the device (docs/rate.md, docs/stop.md, docs/fleet-template.json).
import json
import time

from iotc import IoTCClient, IoTCConnectType, IoTCEvents
from iotc.rate import Rate
from iotc.stop import Stop

with open("iotc_config.json") as f:
    cfg = json.load(f)

client = IoTCClient(
    cfg["id_scope"],
    cfg["device_id"],
    IoTCConnectType.SYMM_KEY,
    cfg["group_key"],
    endpoint=cfg.get("endpoint"),
    ca_file=cfg.get("ca_file"),
)
rate = Rate(client, cfg.get("interval", 10), mode="coalesce")  # until IoT Central sets one
stop = Stop(client, "iotc_stop.json")  # before connect(): a stop kept from before holds it
client.on(IoTCEvents.CONNECTION, lambda up, why: print("connected" if up else "down: " + why))
client.connect()  # returns at once, not connected, while a stop holds

loops = cfg.get("loops", 0)  # sends, then the sample ends; 0: forever
n = 0
while loops == 0 or n < loops:
    client.listen()  # heals the link, and comes back by itself when a stop ends
    if client.is_connected(True) and rate.due():  # read the sensors only when it will send
        n += 1
        client.send_telemetry({"temperature": 20 + n % 10, "count": n})
        print("sent", n)
    time.sleep_ms(50)
client.disconnect()
