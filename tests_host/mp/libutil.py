# Shared helpers for the library tests: a client pointed at the emulator, and bounded waits.
import os
import time

import emuctl
from iotc import IoTCClient, IoTCConnectType, IoTCLogLevel


class Recorder:
    # A logger that keeps every line, so tests can check what was (and was not) printed.
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message.format(*args) if args else message)

    def debug(self, message, *args):
        self.info(message, *args)

    def set_log_level(self, level):
        pass

    def text(self):
        return "\n".join(self.lines)


def client(device_id, key=None, kind=IoTCConnectType.SYMM_KEY, **kw):
    kw.setdefault("endpoint", os.getenv("IOTC_EMU_DPS"))
    kw.setdefault("ca_file", os.getenv("IOTC_EMU_CA"))
    kw.setdefault("logger", Recorder())
    return IoTCClient(os.getenv("IOTC_EMU_SCOPE"), device_id, kind,
                      key or os.getenv("IOTC_EMU_GROUP_KEY"), **kw)


def wait(cond, c=None, timeout_ms=10000, what="condition"):
    # Call c.listen() until cond() holds; fail after timeout_ms.
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
            raise AssertionError("timed out waiting for " + what)
        if c is not None:
            c.listen()
        time.sleep_ms(5)


def listen_until_raised(c, exc, timeout_ms=10000):
    # Call c.listen() until it raises exc (-> that exception), or None after timeout_ms.
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
        try:
            c.listen()
        except exc as e:
            return e
        time.sleep_ms(5)
    return None


def device(device_id):
    status, doc = emuctl.call("GET", "/devices/" + device_id)
    if status != 200:
        raise AssertionError("emulator: GET device {} -> {}".format(device_id, status))
    return doc


def telemetry(device_id):
    return emuctl.call("GET", "/devices/{}/telemetry".format(device_id))[1]


def eq(a, b):
    if a != b:
        raise AssertionError("{!r} != {!r}".format(a, b))
