"""Local stand-in for Azure DPS + IoT Hub, as an IoT Central device sees them (PROTOCOL.md).

Run it with `python -m tests_host.emulator serve` (or `make emulator`); tests start it through the
`emulator` pytest fixture (tests_host/emufixture.py).
"""
