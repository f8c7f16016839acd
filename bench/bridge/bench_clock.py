# iotc bench bridge (not part of either client): the clock of an ESP32/ESP8266 board.
# micropython-iotc 1.1.0 writes SAS expiry as utime.time() + 946706400, i.e. a 2000-epoch clock
# plus 6 h. The unix port's clock is 1970-based and returns a float, which would give a token
# expiring in 2056 with a fractional `se`. The bench puts this module in sys.modules["utime"]
# for the old client only, so it sees what a board with its RTC set by NTP would give.
import time as _t

_EPOCH_2000 = 946684800


def time():
    return int(_t.time()) - _EPOCH_2000


sleep = _t.sleep
sleep_ms = _t.sleep_ms
sleep_us = _t.sleep_us
ticks_ms = _t.ticks_ms
ticks_us = _t.ticks_us
ticks_diff = _t.ticks_diff
ticks_add = _t.ticks_add
