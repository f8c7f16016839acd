# iotc: manifest for freezing the package into firmware (tools/manifestfile.py format)
# MIT license; Copyright (c) 2026 the iotc authors
metadata(description="Azure IoT Central device client.", version="1.0.0", license="MIT")

require("umqtt.simple")

# Every iotc/*.py by default. A board manifest that must stay small passes files=(...) to
# freeze only those (boards/ESP8266_GENERIC/manifest.py); opt= is passed to mpy-cross.
package("iotc", files=options.files, opt=options.opt)
