# iotc: frozen manifest for ESP8266_GENERIC, 2 MiB+ flash (make firmware BOARD=ESP8266_GENERIC ...)
# MIT license; Copyright (c) 2026 the iotc authors

# The board's default manifest: port modules, bundle-networking (ntptime, ssl), asyncio and the
# frozen umqtt.simple / umqtt.robust. Our own require("umqtt.simple") then resolves to the same copy.
include("$(BOARD_DIR)/manifest_2MiB.py")

# Only the modules a device needs to provision, connect and exchange messages. Frozen bytecode
# runs from flash, but every module imported still costs heap on a board with ~40 KB free.
FROZEN = (
    "__init__.py",
    "errors.py",
    "log.py",
    "proto.py",
    "sas.py",
)
# Left out on purpose (tests_host/test_ship.py checks FROZEN + LEFT_OUT == every iotc module):
LEFT_OUT = ()

include("../../manifest.py", files=FROZEN)
