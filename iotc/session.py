# iotc session: opening a session to the hub. Loaded for a (re)connect and freed after:
# cached assignment or DPS, a fresh SAS token, CONNECT through umqtt.simple, subscriptions,
# the twin, and the desired properties the device has not acknowledged yet.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc import IoTCError, proto
from iotc.errors import AuthError

_TWIN_TIMEOUT_MS = const(10000)
_MAX_HUB_FAILURES = const(10)  # then provision again (PROTOCOL.md §6)
_CONNACK = ("", "bad protocol", "client id rejected", "server unavailable",
            "bad username or password", "not authorized")


def connect(client, force_dps):
    cached = False
    if client._assigned is None and client._storage and not force_dps:
        c = client._storage.retrieve()
        if c is not None:
            client._assigned = (c.host, c.device_id)
    if force_dps or client._assigned is None:
        provision(client)
    else:
        cached = True
    try:
        open_link(client)
    except AuthError:
        if not cached:
            raise
        client._log.info("hub refused the cached assignment; provisioning again")
        provision(client)
        open_link(client)


def reconnect(client):
    try:
        if client._failures >= _MAX_HUB_FAILURES:
            client._log.info("{} failed attempts: provisioning again", client._failures)
            provision(client)
        open_link(client)
    except AuthError as e:
        client._failures = max(client._failures, _MAX_HUB_FAILURES - 1)  # next try: DPS
        client._lost(e)
    except (OSError, IoTCError) as e:
        client._lost(e)


def provision(client):
    from iotc import _forget, dps

    client._log.info("provisioning {} through {}", client._reg_id, client._endpoint)
    try:
        hub, dev = dps.register(client._endpoint, client._scope, client._reg_id, client._key,
                                client._model_id, _trust(client), client._log)
    finally:
        del dps
        _forget("dps")
    client._assigned = (hub, dev)
    client._failures = 0
    if client._storage:
        from iotc.store import Credentials

        client._storage.persist(Credentials(hub, dev))


def _trust(client):
    from iotc.tls import Trust

    return Trust(client._ca_file, client._verify)


def hub_connect(host, port, client_id, user, password, keepalive, trust):
    # CONNECT through umqtt.simple, giving it TLS the way the installed release takes it:
    # <= 1.3.4 calls ussl.wrap_socket(**ssl_params) (one CA per try), 1.4.0-1.5.0 take only an
    # SSLContext, 1.6.0+ take both and use the context. Returns the TLS socket.
    import sys

    had_umqtt = "umqtt.simple" in sys.modules
    from umqtt.simple import MQTTClient, MQTTException

    anchors = trust.anchors()
    ctx = trust.context(anchors)
    tries = len(anchors) if anchors else 1
    try:
        for i in range(tries):
            params = trust.params(host, anchors[i] if anchors else None)
            try:
                c = MQTTClient(client_id, host, port, user, password, keepalive,
                               ssl=ctx or True, ssl_params=params)
            except TypeError:
                c = MQTTClient(client_id, host, port, user, password, keepalive, ssl=ctx)
            try:
                c.connect(False)  # clean session off: queued C2D and subscriptions survive
                return c.sock
            except MQTTException as e:
                _close(c)
                code = e.args[0] if e.args else 0
                msg = "hub refused the connection: CONNACK {} ({})".format(
                    code, _CONNACK[code] if 0 < code < 6 else "?")
                raise (AuthError if code in (4, 5) else IoTCError)(msg)
            except ValueError as e:
                _close(c)  # certificate not signed by this anchor: try the next one
                if i == tries - 1:
                    raise IoTCError("TLS: the hub's certificate is not trusted ({})".format(e))
            except (OSError, IndexError, AssertionError) as e:
                _close(c)
                raise OSError("MQTT connect to {} failed: {!r}".format(host, e))
    finally:
        if not had_umqtt:  # only CONNECT needs it: let the GC have it back
            sys.modules.pop("umqtt.simple", None)
            pkg = sys.modules.get("umqtt")
            if pkg is not None and hasattr(pkg, "simple"):
                delattr(pkg, "simple")


def _close(c):
    try:
        if c.sock:
            c.sock.close()
    except Exception:
        pass


def open_link(client):
    from iotc import sas
    from iotc.link import Link

    hub, dev = client._assigned
    host, _, port = hub.partition(":")
    client._log.info("connecting to {} as {}", hub, dev)
    password = sas.token("{}/devices/{}".format(hub, dev), client._key,
                         sas.unix_time() + client._ttl)
    sock = hub_connect(host, int(port or 8883), dev, proto.hub_username(hub, dev, client._model_id),
                       password, client._keepalive, _trust(client))
    del password
    ttl = client._ttl
    client._renew_at = time.ticks_add(time.ticks_ms(), (ttl - min(300, ttl // 5 + 1)) * 1000)
    link = client._link = Link(sock)
    client._c2d_prefix = proto.C2D_PREFIX.format(dev)
    topic = proto.telemetry_topic(dev, client._ct, client._ce)
    client._topic_str = topic
    client._topic = topic.encode()
    try:
        subs = proto.SUBSCRIPTIONS
        link.subscribe([s.format(dev).encode() for s in subs], client._next_pid())
        client._twin_rid = str(client._next_rid())
        link.publish(proto.TWIN_GET.format(client._twin_rid).encode(), b"")
        t0 = time.ticks_ms()
        while client._twin_rid is not None:
            if time.ticks_diff(time.ticks_ms(), t0) > _TWIN_TIMEOUT_MS:
                raise OSError("no twin from the hub")
            if not client._handle(link.poll()):
                time.sleep_ms(2)
    except OSError:
        client._link = None
        link.close()
        raise
    client._failures = 0
    client._retry_at = None
    client._emit(4, True, "connected")  # IoTCEvents.CONNECTION
    if client._twin is not None:
        sync_desired(client, client._twin)
    resend(client)


def sync_desired(client, twin):
    # Startup sync: hand over each desired property newer than what the device acknowledged.
    from iotc.inbox import on_property

    desired = twin.get("desired") or {}
    reported = twin.get("reported") or {}
    version = desired.get("$version", 0)
    for comp, name, value in proto.desired_items(desired):
        if proto.reported_version(reported, comp, name) < version:
            on_property(client, comp, name, value, version)


def resend(client):
    # What the hub never acknowledged, then what waited while offline.
    link = client._link
    for entry in client._inflight.values():
        link.republish(entry[0])
        entry[1] = time.ticks_ms()
    for rid in list(client._reported):
        client._send_reported(rid)
    queue, client._queue = client._queue, []
    for item in queue:
        client._publish(*item)
