# iotc session: opening a session to the assigned hub, loaded for a (re)connect and freed
# after: a fresh SAS token, CONNECT through umqtt.simple, subscriptions, the twin.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import sys
import time

from micropython import const

from iotc import IoTCError, _forget
from iotc.errors import AuthError

_TWIN_TIMEOUT_MS = const(10000)


def hub_connect(host, port, client_id, user, password, keepalive, ca_file, verify):
    # CONNECT through umqtt.simple, giving it TLS the way the installed release takes it:
    # <= 1.3.4 and 1.6.0+ take ssl=True with ssl_params and wrap with ssl.wrap_socket(), which
    # makes its own SSLContext (one CA per try); 1.4.0-1.5.0 take only an SSLContext, made
    # here only for them, so no release builds two. Returns the TLS socket.
    from iotc import tls

    had_umqtt = "umqtt.simple" in sys.modules
    from umqtt.simple import MQTTClient, MQTTException

    cas = tls.anchors(ca_file, verify)
    ctx = None
    tries = len(cas) if cas else 1
    try:
        for i in range(tries):
            params = tls.params(host, cas[i] if cas else None)
            try:
                c = MQTTClient(client_id, host, port, user, password, keepalive, ssl=True,
                               ssl_params=params)
            except TypeError:  # 1.4.0-1.5.0
                ctx = ctx or tls.context(cas)
                c = MQTTClient(client_id, host, port, user, password, keepalive, ssl=ctx)
            try:
                c.connect(False)  # clean session off: queued C2D and subscriptions survive
                return c.sock
            except Exception as e:
                try:
                    c.sock.close()
                except Exception:
                    pass
                if isinstance(e, MQTTException):
                    code = e.args[0] if e.args else 0
                    msg = "hub refused the connection: CONNACK {} ({})".format(code, (
                        "?", "bad protocol", "client id rejected", "server unavailable",
                        "bad username or password", "not authorized")[code if 0 < code < 6 else 0])
                    raise (AuthError if code in (4, 5) else IoTCError)(msg)
                if not isinstance(e, ValueError):
                    raise OSError("MQTT connect to {} failed: {!r}".format(host, e))
                # certificate not signed by this anchor: try the next one
                if i == tries - 1:
                    raise IoTCError("TLS: the hub's certificate is not trusted ({})".format(e))
    finally:
        if not had_umqtt:  # only CONNECT needs it: let the GC have it back
            sys.modules.pop("umqtt.simple", None)
            pkg = sys.modules.get("umqtt")
            if pkg is not None and hasattr(pkg, "simple"):
                delattr(pkg, "simple")


def run(client):
    from iotc import sas, topics

    hub, dev = client._assigned
    host, _, port = hub.partition(":")
    client._log.info("connecting to {} as {}", hub, dev)
    password = sas.token("{}/devices/{}".format(hub, dev), client._key,
                         sas.unix_time() + client._ttl)
    user = topics.hub_username(hub, dev, client._model_id)
    topic = topics.telemetry_topic(dev, client._ct, client._ce)
    subs = [s.format(dev).encode() for s in topics.SUBSCRIPTIONS]
    client._c2d_prefix = topics.C2D_PREFIX.format(dev)
    client._twin_rid = rid = str(client._next_rid())
    twin_get = topics.TWIN_GET.format(rid).encode()
    del sas, topics
    _forget("sas", "topics")
    gc.collect()
    sock = hub_connect(host, int(port or 8883), dev, user, password, client._keepalive,
                       client._ca_file, client._verify)
    del password, user
    from iotc.link import Link  # after CONNECT: the TLS handshake is the peak of a connect
    _forget("tls", "certs")
    ttl = client._ttl
    client._renew_at = time.ticks_add(time.ticks_ms(), (ttl - min(300, ttl // 5 + 1)) * 1000)
    client._topic_str = topic
    client._topic = topic.encode()
    link = client._link = Link(sock)
    try:
        _subscribe(link, subs, client._next_pid())
        link.publish(twin_get, b"")
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
    client._retry_at = None


def _subscribe(link, filters, pid):
    # One SUBSCRIBE for all filters (bytes), QoS 1 each; the SUBACK comes through poll().
    from iotc.link import _encode_len

    rem = 2
    for f in filters:
        rem += 3 + len(f)
    buf = link._room(rem + 5)
    buf[0] = 0x82
    i = _encode_len(buf, rem)
    buf[i] = pid >> 8
    buf[i + 1] = pid & 0xFF
    i += 2
    for f in filters:
        n = len(f)
        buf[i] = n >> 8
        buf[i + 1] = n & 0xFF
        buf[i + 2 : i + 2 + n] = f
        buf[i + 2 + n] = 1
        i += 3 + n
    link.write(buf, i)
