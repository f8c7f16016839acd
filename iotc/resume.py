# iotc resume: the end of a (re)connect, loaded once the session is up (iotc.connect freed) and
# freed after: the twin answer, the desired properties newer than what the device
# acknowledged, then what the hub never acknowledged and what waited while offline.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

_TWIN_TIMEOUT_MS = const(10000)


def run(client, force_dps):
    # force_dps None: a reconnect, whose failures go to client._lost() instead of raising.
    try:
        _await_twin(client)
    except OSError as e:
        if force_dps is not None:
            raise
        client._lost(e)
        return
    client._failures = 0
    client._emit(4, True, "connected")  # IoTCEvents.CONNECTION
    if client._twin:
        _sync_desired(client)
    try:
        for packet in client._inflight.values():
            client._link.republish(packet)
        client._ack_at = time.ticks_ms()
        for rid in list(client._reported):
            client._send_reported(rid)
        queue, client._queue = client._queue, []
        for item in queue:
            client._publish(*item)
    except OSError as e:
        client._lost(e)


def _await_twin(client):
    # The answer to the twin GET that iotc.mqtt sent.
    link = client._link
    t0 = time.ticks_ms()
    try:
        while client._twin_rid is not None:
            if time.ticks_diff(time.ticks_ms(), t0) > _TWIN_TIMEOUT_MS:
                raise OSError("no twin from the hub")
            if not client._handle(link.poll()):
                time.sleep_ms(2)
    except OSError:
        client._link = None
        link.close()
        raise


def _sync_desired(client):
    # Hand over each desired property newer than what the device acknowledged.
    from iotc.inbox import on_property
    from iotc.proto import desired_items, reported_version

    desired = client._twin.get("desired") or {}
    reported = client._twin.get("reported") or {}
    version = desired.get("$version", 0)
    for comp, name, value in desired_items(desired):
        if reported_version(reported, comp, name) < version:
            on_property(client, comp, name, value, version)
