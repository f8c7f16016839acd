# iotc: frozen manifest for ESP32_GENERIC (make firmware BOARD=ESP32_GENERIC MICROPY_DIR=...)
# MIT license; Copyright (c) 2026 the iotc authors

# The port's defaults: asyncio, bundle-networking (ssl, ntptime, mip, requests), umqtt.simple,
# umqtt.robust, onewire, neopixel... Keep them: ntptime is needed to set the clock.
include("$(PORT_DIR)/boards/manifest.py")

# The core iotc package, with its umqtt.simple requirement (already frozen above; included once).
include("../../manifest.py")

# The optional packages frozen here, by name (packages/<name>/; README, Install), each with the
# reason. Opt-in: an extra costs only flash (about its .mpy size, `make mpy`), never heap until
# imported, but a board that does not use it should not carry it. None by default. To freeze
# one, add its line, e.g.
#     "iotc-aio",  # the application is asyncio (asyncio is in the port's defaults above)
# (needs MicroPython v1.22+, for add_library()).
EXTRAS = ()
if EXTRAS:
    add_library("iotc", "../../packages")
    for name in EXTRAS:
        require(name, library="iotc")
