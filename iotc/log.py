# iotc log: print-based logger gated by level
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCLogLevel


class ConsoleLogger:
    def __init__(self, log_level=IoTCLogLevel.API_ONLY):
        self._level = log_level

    def set_log_level(self, log_level):
        self._level = log_level

    def info(self, message, *args):
        if self._level != IoTCLogLevel.DISABLED:
            print("[iotc]", message.format(*args) if args else message)

    def debug(self, message, *args):
        if self._level == IoTCLogLevel.ALL:
            print("[iotc] D:", message.format(*args) if args else message)
