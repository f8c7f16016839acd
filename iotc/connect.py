# iotc connect: how a (re)connect runs, loaded for it and freed after. In phases, each one's
# modules freed before the next loads: iotc.dps when there is no assignment yet (or the hub
# keeps refusing), then iotc.session; then the catch-up: desired properties, unacknowledged
# and queued messages.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import time

from micropython import const

from iotc import IoTCError, _forget
from iotc.errors import AuthError

_MAX_HUB_FAILURES = const(10)  # then provision again (PROTOCOL.md §6)


def run(client, force_dps):
    # force_dps None: a reconnect, whose failures go to client._lost() instead of raising.
    if client._assigned is None and client._storage and not force_dps:
        c = client._storage.retrieve()
        if c is not None:
            client._assigned = (c.host, c.device_id)
    dps = force_dps or client._assigned is None or client._failures >= _MAX_HUB_FAILURES
    try:
        while True:
            if dps:
                client._log.info("provisioning {} through {}", client._reg_id, client._endpoint)
                _phase(client, "dps")
            try:
                _phase(client, "session")
                break
            except AuthError:
                if dps:
                    raise
                client._log.info("hub refused the cached assignment; provisioning again")
                dps = True
    except (OSError, IoTCError) as e:
        if force_dps is not None:
            raise
        if isinstance(e, AuthError):
            client._failures = max(client._failures, _MAX_HUB_FAILURES - 1)  # next: DPS
        client._lost(e)
        return
    client._failures = 0
    client._emit(4, True, "connected")  # IoTCEvents.CONNECTION
    if client._twin:
        _sync_desired(client)
    # What the hub never acknowledged, then what waited while offline.
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


def _sync_desired(client):
    # Startup sync: hand over each desired property newer than what the device acknowledged.
    from iotc.inbox import on_property
    from iotc.proto import desired_items, reported_version

    desired = client._twin.get("desired") or {}
    reported = client._twin.get("reported") or {}
    version = desired.get("$version", 0)
    for comp, name, value in desired_items(desired):
        if reported_version(reported, comp, name) < version:
            on_property(client, comp, name, value, version)


def _phase(client, name):
    mod = __import__("iotc." + name, None, None, ("run",))
    try:
        mod.run(client)
    finally:
        del mod
        _forget(name, "sas", "topics", "tls", "certs", "store")
        gc.collect()
