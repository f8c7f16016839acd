# iotc: frozen manifest for ESP32_GENERIC (make firmware BOARD=ESP32_GENERIC MICROPY_DIR=...)
# MIT license; Copyright (c) 2026 the iotc authors

# The port's defaults: asyncio, bundle-networking (ssl, ntptime, mip, requests), umqtt.simple,
# umqtt.robust, onewire, neopixel... Keep them: ntptime is needed to set the clock.
include("$(PORT_DIR)/boards/manifest.py")

# The whole iotc package, with its umqtt.simple requirement (already frozen above; included once).
include("../../manifest.py")
