# iotc rate: a minimum interval between telemetry sends (the optional package iotc-rate), set
# in code and from IoT Central (the writable property iotcSendInterval, seconds). A send before
# its time is dropped, or coalesced: dict payloads merged, the latest value of each key winning,
# and sent at the next send time (by listen() when the application sends nothing then). Joins
# the client through iotc.hooks (SEND, TICK, PROPERTY, LINK); docs/rate.md.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc.hooks import LINK, PROPERTY, SEND, TICK, add, named, one, remove

NAME = "iotcSendInterval"  # the writable property, seconds (docs/rate.md, fleet-template.json)
_MAX_S = const(86400)  # a day: as ms, far inside the 2^29 a ticks interval must stay below


class Rate:
    def __init__(self, client, interval, mode="drop"):
        # interval: seconds (int or float, 0 to 86400; 0: every send goes). mode: "drop" or
        # "coalesce". The interval IoT Central sets (iotcSendInterval) replaces it, and comes
        # back from the twin at each connect, so it survives a reboot.
        if mode != "drop" and mode != "coalesce":
            raise ValueError("mode: 'drop' or 'coalesce'")
        self._client = client
        self.coalesce = mode == "coalesce"
        self.set(interval)
        self._last = {}  # component -> ticks of its last send (None: the root component)
        self._held = {}  # component -> [payload, properties] waiting for its send time
        self.dropped = 0  # sends dropped (mode "drop")
        self.merged = 0  # sends folded into a held one (mode "coalesce")
        one(client, SEND, self._send)
        add(client, TICK, self._tick)
        add(client, LINK, self._link)
        named(client, PROPERTY, NAME, self._property)

    def set(self, interval):
        # The interval in seconds; from the next send on. ValueError when out of range.
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not 0 <= interval <= _MAX_S:
            raise ValueError("{}: seconds from 0 to {}, not {!r}".format(NAME, _MAX_S, interval))
        self.interval = interval
        self._ms = int(interval * 1000)

    def due(self, component=None):
        # True when a send of this component would go now: read the sensors then.
        last = self._last.get(component)
        if last is None:
            return True
        d = time.ticks_diff(time.ticks_ms(), last)
        if d >= self._ms or d < 0:  # < 0: so long ago that the ticks wrapped past half
            del self._last[component]
            return True
        return False

    def close(self):
        # Leave the client (what is held is dropped).
        c = self._client
        one(c, SEND, None)
        remove(c, TICK, self._tick)
        remove(c, LINK, self._link)
        c._events.get(PROPERTY, {}).pop(NAME, None)
        self._held = {}

    def _send(self, payload, properties, component):
        # The SEND hook: -> the payload to send now, or None.
        held = self._held
        if self.due(component):
            self._last[component] = time.ticks_ms()
            h = held.pop(component, None)
            if h is not None and isinstance(payload, dict) and isinstance(h[0], dict):
                h[0].update(payload)
                payload = h[0]
            return payload
        if not self.coalesce:
            self.dropped += 1
            return None
        h = held.get(component)
        if h is None:
            held[component] = [dict(payload) if isinstance(payload, dict) else payload,
                               properties]
            return None
        self.merged += 1
        if isinstance(payload, dict) and isinstance(h[0], dict):
            h[0].update(payload)
        else:
            h[0] = payload
        h[1] = properties or h[1]
        return None

    def _tick(self):
        # The TICK hook: what is held goes at its send time, without the application sending.
        held = self._held
        if not held:
            return
        for comp in list(held):
            if self._client._link is not None and self.due(comp):
                payload, props = held.pop(comp)  # and due: the SEND hook lets it go
                try:
                    self._client.send_telemetry(payload, props, comp)
                except OSError:
                    raise
                except Exception as e:  # offline and the queue full: this one is lost
                    self._client._log("{}: a held message not sent ({!r})", NAME, e)

    def _link(self, connected, reason):
        # The LINK hook: at each connect, the interval IoT Central set (in the twin), so it
        # holds after a reboot even when the device acknowledged it before.
        if connected:
            twin = self._client._twin
            v = twin.get("desired", {}).get(NAME) if isinstance(twin, dict) else None
            if isinstance(v, dict):
                v = v.get("value")
            if v is not None:
                try:
                    self.set(v)
                except ValueError:  # refused when it came, and acknowledged so
                    pass

    def _property(self, name, value, component):
        # The PROPERTY hook: acknowledged ac 200 with the value; a bad one raises, which
        # iotc.desired acknowledges with an error status and description, the interval unchanged.
        self.set(value)
        return True
