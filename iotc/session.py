# iotc session: what opening a session to the assigned hub needs, loaded for a (re)connect
# and freed before iotc.mqtt speaks MQTT on it: a fresh SAS token, the names of this session,
# and the TLS connection with the client's trust (open_tls, which iotc.dps uses too).
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import socket

from iotc import _forget, _phase


def run(client, fresh):
    # -> ("mqtt", fresh, TLS socket, device id, host, MQTT username, password). fresh: True
    # when the assignment came from DPS in this connect (see iotc.mqtt.run).
    from iotc import sas, topics

    hub, dev = client._assigned
    host, _, port = hub.partition(":")
    client._log("connecting to {} as {}", hub, dev)
    # X.509: no password (the TLS client certificate authenticates; iotc.mqtt sends none)
    password = "" if isinstance(client._key, tuple) else sas.token(
        "{}/devices/{}".format(hub, dev), client._key, sas.unix_time() + client.token_ttl)
    user = topics.hub_username(hub, dev, client.model_id)
    client._topic = topics.telemetry_topic(dev, client.content_type,
                                           client.content_encoding).encode()
    client._c2d_prefix = "devices/{}/messages/devicebound/".format(dev)
    del sas, topics
    _forget("sas", "topics")
    gc.collect()
    return "mqtt", fresh, open_tls(client, host, int(port or 8883)), dev, host, user, password


def open_tls(client, host, port):
    # A TLS socket to host:port, checked against the client's trust (SNI and hostname too).
    # With a relay (IoTCClient(relay=)), the TCP connection goes to the relay (port 8883 unless
    # given) and all else, SNI and the name checked included, stays host's: the relay picks the
    # upstream by SNI.
    addr = getattr(client, "relay", None)
    if addr:
        addr, _, p = addr.partition(":")
        port = int(p or 8883)
    ai = socket.getaddrinfo(addr or host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
    s.settimeout(10)
    try:
        s.connect(ai[-1])
        trust = client._tls
        if hasattr(trust, "wrap_socket"):
            if not hasattr(trust, "load_verify_locations"):  # axTLS? iotc.tls checks that its
                _phase(client, "tls", 1)  # handshake fits the heap (MemoryError if not)
            return trust.wrap_socket(s, server_hostname=host)
        import ssl  # firmware 1.20, 1.21: the legacy wrap, trust = [a socket, its arguments]

        trust[0] = None
        gc.collect()  # the last socket's block (or iotc.tls's spare) is free, for this one
        trust[0] = ssl.wrap_socket(s, server_hostname=host, **trust[1])
        return trust[0]
    except BaseException as e:
        s.close()
        if isinstance(e, ValueError) or isinstance(e, OSError) and e.args[:1] == (-9984,):
            from iotc.tls import untrusted  # the certificate did not verify

            raise untrusted(host, e)
        raise
