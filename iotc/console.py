# iotc console: ConsoleLogger, the logger of micropython-iotc 1.1's API. IoTCClient prints the
# same lines itself when given no logger; this class is for code that names it.
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCLogLevel


class ConsoleLogger:
    # print(), gated by level. Any object with info(message, *args) and set_log_level(level)
    # can take its place.
    def __init__(self, log_level=IoTCLogLevel.API_ONLY):
        self.log_level = log_level

    def set_log_level(self, log_level):
        self.log_level = log_level

    def info(self, message, *args):
        if self.log_level != IoTCLogLevel.DISABLED:
            print("[iotc]", message.format(*args) if args else message)

    def debug(self, message, *args):
        # micropython-iotc's loggers had it; the client itself has no debug-only lines.
        if self.log_level == IoTCLogLevel.ALL:
            self.info(message, *args)
