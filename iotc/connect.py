# iotc connect: the first phase of a (re)connect, loaded for it and freed after. A connect is a
# chain of phases, each one's module freed before the next loads, and each naming the next:
# here the client's TLS trust (iotc.tls, made once and kept: it is one 3 KB block, best taken
# while the heap is least cut up) and the choice of what comes next: iotc.dps when there is no
# assignment yet (or the hub keeps refusing), else straight to iotc.session (token, TLS), then
# iotc.mqtt (CONNECT), iotc.resume (subscriptions, twin) and iotc.desired (the catch-up).
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc import _forget, _phase

_MAX_HUB_FAILURES = const(10)  # then provision again (PROTOCOL.md §6)
_DPS_TOKEN_TTL = const(3600)


def run(client, force_dps):
    # -> the next phase: ("dps", registration token) or ("session", force_dps).
    # force_dps: True, provision whatever is cached; False, connect() as the application called
    # it; None, healing inside listen(). client._assigned False: refused, the cache is not read.
    # -> None: an extra holds the client offline (iotc.stop), and has said why and until when.
    for gate in client._events.get(13, ()):  # the extras' (iotc.hooks)
        if gate(force_dps):
            return None
    if client._assigned is None and client.storage and not force_dps:
        c = client.storage.retrieve()
        if c is not None:
            client._assigned = (c.host, c.device_id)
    if client._tls is False:
        _phase(client, "tls")
        if isinstance(client._key, tuple):  # X.509: the device certificate joins the trust
            _phase(client, "x509")
    if force_dps or not client._assigned or client._failures >= _MAX_HUB_FAILURES:
        # Registrations are billed and throttled: while healing, DPS is asked again only once
        # client._dps_at has passed (iotc.dps), whatever it or the hub said; the hub meanwhile.
        if force_dps is not None or client._dps_at is None or time.time() >= client._dps_at:
            client._log("provisioning {} through {}", client.device_id, client.endpoint)
            # X.509: no token, the TLS client certificate authenticates (docs/x509.md)
            return "dps", None if isinstance(client._key, tuple) else _registration_token(client)
        if not client._assigned:
            raise OSError("DPS is asked again only at {}".format(client._dps_at))
    return "session", force_dps


def _registration_token(client):
    # Signed here, so the signing code and iotc.dps are never in RAM together.
    from iotc.sas import token, unix_time

    try:
        return token("{}/registrations/{}".format(client.id_scope, client.device_id),
                     client._key, unix_time() + _DPS_TOKEN_TTL, "registration")
    finally:
        del token, unix_time
        _forget("sas", "topics")
