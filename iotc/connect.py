# iotc connect: how a (re)connect runs, loaded for it and freed after. The client's TLS trust
# first (made once and kept: it is one 3 KB block, best taken while the heap is least cut up),
# then in phases, each one's modules freed before the next loads: iotc.dps when there is no
# assignment yet (or the hub keeps refusing), then iotc.session (token, TLS) and iotc.mqtt
# (CONNECT, subscriptions); then the catch-up: desired properties, unacknowledged and queued
# messages.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import socket
import time

from micropython import const

from iotc import IoTCError, _forget
from iotc.errors import AuthError

_MAX_HUB_FAILURES = const(10)  # then provision again (PROTOCOL.md §6)
_TWIN_TIMEOUT_MS = const(10000)


def run(client, force_dps):
    # force_dps None: a reconnect, whose failures go to client._lost() instead of raising.
    if client._assigned is None and client.storage and not force_dps:
        c = client.storage.retrieve()
        if c is not None:
            client._assigned = (c.host, c.device_id)
    dps = force_dps or client._assigned is None or client._failures >= _MAX_HUB_FAILURES
    try:
        if client._tls is False:
            _phase(client, "tls")
        while True:
            if dps:
                client._log("provisioning {} through {}", client.device_id, client.endpoint)
                _phase(client, "dps")
            try:
                _phase(client, "mqtt", *_phase(client, "session"))
                break
            except AuthError:
                if dps:
                    raise
                client._log("hub refused the cached assignment; provisioning again")
                dps = True
        _await_twin(client)
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


def open_tls(client, host, port, name):
    # A TLS socket to host:port, checked against the client's trust (SNI and hostname too).
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
    s.settimeout(10)
    try:
        s.connect(ai[-1])
        trust = client._tls
        if hasattr(trust, "wrap_socket"):
            return trust.wrap_socket(s, server_hostname=host)
        from iotc.tls import wrap  # firmware without SSLContext

        return wrap(s, host, trust)
    except ValueError as e:  # what mbedTLS raises when the certificate does not verify
        s.close()
        raise IoTCError("TLS: {} certificate is not trusted ({})".format(name, e))
    except BaseException:
        s.close()
        raise


def _await_twin(client):
    # The answer to the twin GET that iotc.mqtt sent, read with that module freed.
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
    # Startup sync: hand over each desired property newer than what the device acknowledged.
    from iotc.inbox import on_property
    from iotc.proto import desired_items, reported_version

    desired = client._twin.get("desired") or {}
    reported = client._twin.get("reported") or {}
    version = desired.get("$version", 0)
    for comp, name, value in desired_items(desired):
        if reported_version(reported, comp, name) < version:
            on_property(client, comp, name, value, version)


def _phase(client, name, *args):
    gc.collect()  # the module then fills the lowest holes, not the top of the heap
    mod = __import__("iotc." + name, None, None, ("run",))
    try:
        return mod.run(client, *args)
    finally:
        del mod
        _forget(name, "sas", "topics", "tls", "certs", "store")
        gc.collect()
