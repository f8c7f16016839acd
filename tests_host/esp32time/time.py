# iotc test platform: a stand-in for the `time` module of an ESP32 (and ESP8266) board
# MIT license; Copyright (c) 2026 the iotc authors
#
# A stand-in: it models the board's clock, a boundary this machine cannot reach. On the unix
# port's path it shadows the built-in `time` (MicroPython 1.21+ looks on the path first for an
# extensible built-in) and behaves as extmod/modtime.c does on those ports:
# - the epoch is 2000-01-01 (the ports keep MICROPY_EPOCH_IS_2000): time() is an int,
#   gmtime(0) is 2000-01-01, localtime() is gmtime(), time_ns() counts from the same epoch;
# - ticks_ms/us/cpu count modulo 2**30 (MICROPY_PY_TIME_TICKS_PERIOD with 31-bit small
#   ints) and start IOTC_TICKS_WRAP_MS ms (default 3000) before they wrap;
# - ticks_diff() is signed in [-2**29, 2**29); ticks_add() raises OverflowError when
#   |delta| >= 2**29, as mp_time_ticks_add does.
# The clock itself is the real one; sleeps are the built-in's.
import os
import sys

from micropython import const

# The built-in itself: with sys.path empty, `import time` skips the path (and this module).
_path = sys.path
sys.path = ()
try:
    import time as _real
    from time import sleep, sleep_ms, sleep_us  # noqa: F401
finally:
    sys.path = _path
    del _path

_EPOCH = const(946684800)  # 2000-01-01 in Unix time
_PERIOD = const(1 << 30)
_MASK = const((1 << 30) - 1)
_HALF = const(1 << 29)

_lead = int(os.getenv("IOTC_TICKS_WRAP_MS") or 3000)
_ms0 = _PERIOD - _lead - _real.ticks_ms()
_us0 = _PERIOD - _lead * 1000 - _real.ticks_us()


def _int(x):
    # The ports read these arguments with mp_obj_get_int/_ll: a float is refused.
    if not isinstance(x, int):
        raise TypeError("can't convert {} to int".format(type(x).__name__))
    return x


def ticks_ms():
    return (_real.ticks_ms() + _ms0) & _MASK


def ticks_us():
    return (_real.ticks_us() + _us0) & _MASK


def ticks_cpu():
    # The unix port has no cycle counter (its ticks_cpu() is 0): count an ESP32's 160 MHz.
    return ((_real.ticks_us() + _us0) * 160) & _MASK


def ticks_diff(end, start):
    return ((end - start + _HALF) & _MASK) - _HALF


def ticks_add(ticks, delta):
    if not -_HALF < _int(delta) < _HALF:
        raise OverflowError("ticks interval overflow")
    return (ticks + delta) & _MASK


def time():
    return int(_real.time()) - _EPOCH


def time_ns():
    return _real.time_ns() - _EPOCH * 1000000000


def gmtime(secs=None):
    secs = time() if secs is None else _int(secs)
    return _real.gmtime(secs + _EPOCH)[:8]


localtime = gmtime


def mktime(t):
    if not 8 <= len(t) <= 9:
        raise TypeError("mktime needs a tuple of length 8 or 9")
    y, m, d, hh, mm, ss = [_int(x) for x in t[:6]]
    # Out-of-range fields carry over, as timeutils_mktime does: a month first, the rest
    # simply add up. Days are counted from a March-based year, so leap days come last.
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    if m <= 2:
        y -= 1
        m += 12
    days = 365 * y + y // 4 - y // 100 + y // 400 + (153 * (m - 3) + 2) // 5 + d - 730426
    return ((days * 24 + hh) * 60 + mm) * 60 + ss
