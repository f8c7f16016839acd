# iotc: the ESP8266 twin's stand-in for ports/esp8266/boards/ESP8266_GENERIC/manifest_2MiB.py
# MIT license; Copyright (c) 2026 the iotc authors
#
# What the port freezes into a 2 MiB ESP8266, as far as the unix port can hold it: asyncio,
# bundle-networking (ssl, ntptime, requests, mip, webrepl), the drivers, upysh, and
# umqtt.simple and umqtt.robust from micropython-lib. Left out: ports/esp8266/modules (the
# board's boot, flash and inisetup code, which import `esp`). Frozen modules cost flash, and
# heap only once imported.
include("$(MPY_DIR)/extmod/asyncio")
require("bundle-networking")
require("dht")
require("ds18x20")
require("neopixel")
require("onewire")
require("ssd1306")
require("upysh")
require("umqtt.simple")
require("umqtt.robust")
