# iotc offline: the session has ended, by a dropped link or by disconnect(). Loaded when that
# happens (the client has closed the link already) and freed after.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

_JITTER_MS = const(5000)  # at most this much at random on top (PROTOCOL.md §6)


def backoff(n, first, cap):
    # -> ms before attempt n + 1 after n failures in a row: first, doubling, up to cap, with up
    # to _JITTER_MS (or the delay itself, when shorter) added at random, within cap. A fleet
    # dropped at one instant (a hub restart) then comes back spread out, never at once.
    jitter = min(_JITTER_MS, first << min(n - 1, 20), cap)
    delay = min(first << min(n - 1, 20), cap - jitter)
    return delay + time.ticks_us() % (jitter + 1)


def run(client, reason, was_up):
    # reason: what broke the link, or None for disconnect(). was_up: a link was open.
    if reason is None:  # stay offline; the trust is made again at the next connect()
        client._due = None
        client._tls = False
        if was_up:
            client._emit(4, False, "disconnect() called")  # IoTCEvents.CONNECTION
        _hooks(client, "disconnect() called")
        return
    client._failures += 1
    delay = backoff(client._failures, client.RETRY_MS, client.RETRY_MAX_MS)
    if not client._assigned and client._dps_at is not None:  # only DPS can help: not yet
        delay = max(delay, min(int((client._dps_at - time.time()) * 1000), 86400000))
    due = client._due = time.ticks_add(time.ticks_ms(), delay)
    client._emit(4, False, str(reason))
    _hooks(client, str(reason))
    if client._due == due:  # else an extra holds the client offline (iotc.stop), and says so
        client._log("connection lost ({}); retrying in {} ms", reason, delay)


def _hooks(client, reason):
    for hook in client._events.get(12, ()):  # the extras' (iotc.hooks)
        hook(False, reason)
