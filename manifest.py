# iotc: manifest for freezing the core package into firmware (tools/manifestfile.py format)
# MIT license; Copyright (c) 2026 the iotc authors

# The core package `iotc`: packages/iotc/manifest.py, generated with its file list by
# tools/gen_package.py. Each optional package has its own, packages/iotc-*/manifest.py; a
# board manifest names the ones it freezes (boards/*/manifest.py).
# files=(...) freezes only those core files (boards/ESP8266_GENERIC); opt= goes to mpy-cross.
include("packages/iotc/manifest.py", files=options.files, opt=options.opt)
