# iotc: the ESP8266 twin's frozen manifest (make esp8266-twin; docs/esp8266.md)
# MIT license; Copyright (c) 2026 the iotc authors

# The ESP8266 board manifest itself, unchanged: the same iotc files and umqtt.simple, frozen
# the same way. Its $(BOARD_DIR)/manifest_2MiB.py (the port's own part) resolves to this
# folder's stand-in (mpconfigvariant.mk sets BOARD_DIR here).
include("../../boards/ESP8266_GENERIC/manifest.py")

# The ESP8266's clock, frozen as its C module is built in: a 2000 epoch and ticks modulo 2**30.
# A stand-in (the board's clock is a boundary this machine cannot reach); it shadows the unix
# `time` because frozen modules are on the path, looked at before an extensible built-in.
module("time.py", base_path="../../tests_host/esp32time")
