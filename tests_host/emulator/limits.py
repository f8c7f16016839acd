# iotc emulator limits: Azure's quotas, throttles and sizes, and how they are measured
# MIT license; Copyright (c) 2026 the iotc authors
"""The limits the emulator holds devices and the application to, with Azure's values as defaults
(README.md here, "Limits, and where they come from", gives the source of each). Every one can be
set at start (`serve --limit NAME=VALUE`) and while running (`POST /limits`, CLI `limits`), so a
test can bring one low enough to reach.

Also the counters that apply them (Window, Shaper) and the twin measures of IoT Hub's docs.
"""

import collections
import math
import time

DEFAULTS = {
    # DPS
    "dps_registrations_per_min": 200,  # per ID scope (IoT Central's DPS)
    "dps_polls_per_10s": 5,  # operation-status polls per registration id
    # IoT Hub, as IoT Central runs it
    "d2c_per_s": 200,  # telemetry messages per second, per hub (IoT Central application)
    "d2c_burst": 12000,  # sent above the rate before traffic shaping starts (a minute's worth)
    "d2c_backlog": 12000,  # shaped (delayed) before the hub disconnects with 429002
    "d2c_max_bytes": 256 * 1024,  # body + system property values + application properties
    "twin_updates_per_s": 100,  # reported patches and desired updates, per hub
    "twin_section_max_bytes": 32 * 1024,  # desired, reported: each, as IoT Hub measures it
    "twin_property_max_bytes": 4 * 1024,  # one property (a component's: each of its own)
    "twin_max_depth": 10,  # objects and arrays nested in desired or reported, the section one
    "method_max_bytes": 128 * 1024,  # direct method request and response payloads
    "c2d_max_bytes": 64 * 1024,
    "c2d_max_pending": 50,  # per device
}


class LimitError(ValueError):
    pass


class Limits:
    def __init__(self, **values):
        self.__dict__.update(DEFAULTS)
        self.set(values)

    def set(self, values):
        """Set several at once (all or none); values may be numbers or their text."""
        new = {}
        for name, value in values.items():
            if name not in DEFAULTS:
                raise LimitError("unknown limit {!r} (known: {})".format(
                    name, ", ".join(sorted(DEFAULTS))))
            try:
                v = int(value)
            except (TypeError, ValueError):
                raise LimitError("limit {} must be an integer".format(name)) from None
            if v < 0:
                raise LimitError("limit {} must not be negative".format(name))
            new[name] = v
        self.__dict__.update(new)
        return new

    def public(self):
        return {k: getattr(self, k) for k in DEFAULTS}


def parse_assignment(text):
    """`name=value` (the CLI's form) -> (name, value)."""
    name, eq, value = text.partition("=")
    if not eq:
        raise LimitError("expected NAME=VALUE, got {!r}".format(text))
    return name.strip().replace("-", "_"), value.strip()


class Window:
    """At most `limit` events in any `span` seconds. take() -> 0 when allowed (and counted), else
    the seconds until it would be (what a Retry-After says)."""

    def __init__(self, span):
        self.span = span
        self.times = collections.deque()

    def take(self, limit, now=None):
        now = time.monotonic() if now is None else now
        while self.times and self.times[0] <= now - self.span:
            self.times.popleft()
        if len(self.times) >= limit:
            return max(1, math.ceil(self.times[len(self.times) - limit] + self.span - now))
        self.times.append(now)
        return 0


class Shaper:
    """IoT Hub's traffic shaping of device-to-cloud sends: a bucket of `burst` sends refilled at
    `rate` per second; past it a send waits for its slot at the rate, and once `backlog` sends
    wait the hub gives up on the device. admit() -> seconds to wait (0: now), or None: over."""

    def __init__(self):
        self.tokens = None
        self.last = time.monotonic()
        self.next_slot = 0.0  # when the next shaped send is processed
        self.waiting = 0

    def admit(self, rate, burst, backlog, now=None):
        now = time.monotonic() if now is None else now
        if self.tokens is None:
            self.tokens = float(burst)
        self.tokens = min(float(burst), self.tokens + (now - self.last) * rate)
        self.last = now
        if self.waiting == 0 and self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        if self.waiting >= backlog or rate <= 0:
            return None
        self.next_slot = max(self.next_slot, now) + 1.0 / rate
        self.waiting += 1
        return self.next_slot - now

    def done(self):
        self.waiting -= 1


def message_size(body, system, app):
    """A message's size as IoT Hub counts it (iot-hub-devguide-messages-construct.md): the body,
    the values of system properties, the names and values of application properties."""
    def size(x):
        return 0 if x is None else len(str(x).encode())

    return len(body) + sum(size(v) for v in system.values()) + sum(
        size(k) + size(v) for k, v in app.items())


# --- IoT Hub's measure of a twin (iot-hub-devguide-device-twins.md, "Device twin size") --------


def _text_size(s):
    # UTF-8 bytes, control characters (C0 and C1) not counted
    return len("".join(c for c in s if not (ord(c) < 32 or 127 <= ord(c) < 160)).encode())


def value_size(v):
    if isinstance(v, bool):
        return 4
    if isinstance(v, (int, float)):
        return 8
    if isinstance(v, str):
        return _text_size(v)
    if isinstance(v, dict):
        return section_size(v)
    if isinstance(v, list):
        return sum(value_size(x) for x in v)
    return 0  # null


def section_size(doc):
    """Size of a desired or reported section: keys and values, `$` (read-only) ones left out."""
    return sum(_text_size(k) + value_size(v) for k, v in doc.items() if not k.startswith("$"))


def depth(doc):
    """How deeply objects and arrays nest in doc (a section is 1), counted without recursion:
    a patch nested thousands deep is refused, not a crash of the emulator."""
    deepest = 0
    todo = [(doc, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            todo.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def largest_property(doc):
    """(name, size) of the biggest property: a top-level one, or for an IoT Central component
    (an object marked "__t": "c") each of its own. (None, 0) for an empty section."""
    best = (None, 0)
    for k, v in doc.items():
        if k.startswith("$"):
            continue
        if isinstance(v, dict) and v.get("__t") == "c":
            for name, size in ((k + "." + ck, _text_size(ck) + value_size(cv))
                               for ck, cv in v.items() if ck != "__t"):
                best = max(best, (name, size), key=lambda p: p[1])
        else:
            best = max(best, (k, _text_size(k) + value_size(v)), key=lambda p: p[1])
    return best
