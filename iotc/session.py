# iotc session: what opening a session to the assigned hub needs, loaded for a (re)connect
# and freed before iotc.mqtt speaks MQTT on it: a fresh SAS token, the names of this session,
# and the TLS connection with the client's trust.
# MIT license; Copyright (c) 2026 the iotc authors

import gc

from iotc import _forget
from iotc.connect import open_tls


def run(client):
    # -> what iotc.mqtt needs: (TLS socket, device id, host, MQTT username, password).
    from iotc import sas, topics

    hub, dev = client._assigned
    host, _, port = hub.partition(":")
    client._log("connecting to {} as {}", hub, dev)
    password = sas.token("{}/devices/{}".format(hub, dev), client._key,
                         sas.unix_time() + client.token_ttl)
    user = topics.hub_username(hub, dev, client.model_id)
    client._topic = topics.telemetry_topic(dev, client.content_type,
                                           client.content_encoding).encode()
    client._c2d_prefix = "devices/{}/messages/devicebound/".format(dev)
    del sas, topics
    _forget("sas", "topics")
    gc.collect()
    return open_tls(client, host, int(port or 8883)), dev, host, user, password
