# iotc connect: how a (re)connect opens the session, loaded for it and freed after. The
# client's TLS trust first (made once and kept: it is one 3 KB block, best taken while the heap
# is least cut up), then in phases, each one's modules freed before the next loads: iotc.dps
# when there is no assignment yet (or the hub keeps refusing), then iotc.session (token, TLS)
# and iotc.mqtt (CONNECT). iotc.resume then finishes the connect, with this module freed.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import socket

from micropython import const

from iotc import IoTCError, _forget, _phase
from iotc.client import AuthError

_MAX_HUB_FAILURES = const(10)  # then provision again (PROTOCOL.md §6)
_DPS_TOKEN_TTL = const(3600)


def run(client, force_dps):
    # -> True once the MQTT session is up. force_dps None: a reconnect, whose failures go to
    # client._lost() instead of raising.
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
                _phase(client, "dps", _registration_token(client))
            try:
                _phase(client, "mqtt", *_phase(client, "session"))
                return True
            except AuthError:
                if dps:
                    raise
                client._log("hub refused the cached assignment; provisioning again")
                dps = True
    except (OSError, IoTCError) as e:
        if force_dps is not None:
            raise
        if isinstance(e, AuthError):
            client._failures = max(client._failures, _MAX_HUB_FAILURES - 1)  # next: DPS
        client._lost(e)


def open_tls(client, host, port):
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
        raise IoTCError("TLS: the certificate of {} is not trusted ({})".format(host, e))
    except BaseException:
        s.close()
        raise


def _registration_token(client):
    # Signed before iotc.dps loads, so the signing code and DPS's are never in RAM together.
    gc.collect()
    from iotc.sas import token, unix_time

    try:
        return token("{}/registrations/{}".format(client.id_scope, client.device_id),
                     client._key, unix_time() + _DPS_TOKEN_TTL, "registration")
    finally:
        del token, unix_time
        _forget("sas", "topics")

