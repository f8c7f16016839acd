# iotc config: what IoTCClient() is given, checked, and every attribute of a client set.
# Loaded by the constructor and freed after (the client's state, documented here, stays).
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCError


def run(client, id_scope, device_id, credentials_type, credentials, logger=None, storage=None,
        endpoint=None, ca_file=None, verify=True, qos=0, token_ttl=21600, keepalive=120,
        relay=None):
    # IoTCClient.__init__'s body, for the new client.
    if not id_scope or not isinstance(id_scope, str):
        raise IoTCError("id_scope is empty")
    if qos not in (0, 1) or credentials_type not in (1, 2, 3):
        raise IoTCError("qos is 0 or 1; credentials_type an IoTCConnectType")
    # The hub closes a link silent for 1.5x keepalive, and at most 1767 s (PROTOCOL.md §3.1).
    if not isinstance(keepalive, int) or not 1 <= keepalive <= 1177:
        raise IoTCError("keepalive is 1 to 1177 s")
    if not isinstance(token_ttl, int) or not 5 <= token_ttl <= 31536000:
        raise IoTCError("token_ttl is 5 s to 365 days")
    from iotc.sas import device_key

    # X.509 (3): the device id is checked the same way, then iotc.x509 checks the files and
    # gives (certificate file, key file) to keep instead of a key.
    client._key = device_key(credentials_type, credentials, device_id)
    client.logger = logger  # None: the client prints its own lines (_log)
    client.log_level = 2  # IoTCLogLevel.API_ONLY
    client.id_scope = id_scope
    client.device_id = device_id
    client.storage = storage
    client.endpoint = endpoint or "global.azure-devices-provisioning.net"
    client.ca_file = ca_file
    client.verify = verify
    # A relay on the LAN (docs/esp8266.md, "The relay"): "address" or "address:port", dialled
    # instead of DPS and the hub; the real names stay in SNI, tokens and topics. Set only when
    # given: one attribute fewer in every client that has none.
    if relay:
        if not isinstance(relay, str):
            raise IoTCError("relay is 'address' or 'address:port'")
        client.relay = relay
    client._tls = False  # the trust (an SSLContext), made at the first connect
    client.qos = qos
    client.token_ttl = token_ttl
    client.keepalive = keepalive
    client.model_id = None
    client.content_type = "application/json"
    client.content_encoding = "utf-8"
    client._events = {}
    client._assigned = None  # (hub, device id) from DPS or the storage; False: refused
    client._link = None
    client._topic = None
    client._twin = None
    client._id = 0  # the last packet id, also used as $rid
    client._inflight = {}  # pid -> PUBLISH packet, until its PUBACK
    client._reported = {}  # rid -> JSON patch, until the hub answers 204
    client._queue = []  # (topic, payload, qos) accepted while offline
    client._c2d_prefix = None  # set at each connect (iotc.session)
    client._failures = 0  # connects failed in a row
    client._dps_at = None  # time.time() from which DPS may be asked again while healing
    # Ticks when something is due: offline, the next reconnect (None: stay offline);
    # online, a new session: renewing the SAS token (at least once a day: on a 32-bit board
    # a ticks interval stays under 2^29 ms, 6.2 days), or resending what the hub throttled.
    client._due = None
