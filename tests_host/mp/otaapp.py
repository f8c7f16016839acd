# The application on the OTA test board's flash (tests_host/test_ota.py copies this file there
# as main.py with its VERSION line set): what an update replaces. Its settings are cfg.json,
# on the flash too (an update may bring a broken one); OTA_RUN_S (the environment) is how long
# it runs once connected before it ends by itself.
import gc
import json
import os
import time

import otastandin
from iotc import IoTCClient, IoTCConnectType, IoTCLogLevel
from iotc.ota import Updater

VERSION = "0"

with open("/flash/cfg.json") as f:
    cfg = json.load(f)
client = IoTCClient(cfg["scope"], cfg["device"], IoTCConnectType.SYMM_KEY, cfg["key"],
                    endpoint=cfg["dps"], ca_file=cfg["ca"])
client.set_log_level(IoTCLogLevel.ALL if os.getenv("OTA_LOG") else IoTCLogLevel.DISABLED)
up = Updater(client, hosts=cfg["hosts"], version=VERSION, root="/flash",
             trial_s=cfg.get("trial_s", 30), reset=otastandin.reset, slots=otastandin.SLOTS,
             alone=cfg.get("alone"))
print("APP", VERSION)
for attempt in range(40):
    try:
        client.connect()
        break
    except Exception as e:  # the Updater's check() runs at each attempt (the GATE hook)
        print("CONNECT FAILED", repr(e))
        time.sleep(0.3)
else:
    raise SystemExit(4)
client.send_telemetry({"version": VERSION})
print("CONNECTED", VERSION)
gc.collect()
idle = otastandin.heap["idle"] = gc.mem_alloc()
otastandin.heap["on"] = True  # from here the flash stand-in samples the live heap
end = time.time() + float(os.getenv("OTA_RUN_S") or 5)
while time.time() < end:
    client.listen()
    otastandin.sample()
    time.sleep(0.02)
client.disconnect()
print("END", VERSION, "IDLE", idle, "PEAK", otastandin.heap["peak"], "SAMPLES",
      otastandin.heap["samples"], "PROGRAMS", otastandin.FLASH.programs)
