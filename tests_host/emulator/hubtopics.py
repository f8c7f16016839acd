"""IoT Hub topics and their parts (PROTOCOL.md §3): the filters a device subscribes to, user
names, queries and property bags. Pure functions; the hub (hub.py), its connections
(hubconn.py) and DPS over MQTT (dps_mqtt.py) use them."""

from urllib.parse import unquote

TWIN_RES = "$iothub/twin/res/#"
TWIN_DESIRED = "$iothub/twin/PATCH/properties/desired/#"
METHODS = "$iothub/methods/POST/#"
STREAMS = "$iothub/streams/POST/#"


def c2d_filter(device_id):
    return "devices/{}/messages/devicebound/#".format(device_id)


def parse_username(username):
    """`{hub}/{deviceId}/?k=v&..` (the `?` may be missing, as in old SDKs) -> (hub, id, params)."""
    if not username:
        return None
    hub, _, rest = username.partition("/")
    dev, sep, query = rest.partition("/")
    if not hub or not dev or not sep:
        return None
    return hub, dev, parse_query(query[1:] if query.startswith("?") else query)


def parse_query(query):
    """`k=v&k2=v2` -> dict, URL-decoded ('+' stays '+', as IoT Hub's encoding is RFC 2396)."""
    out = {}
    for part in query.split("&"):
        if part:
            k, _, v = part.partition("=")
            out[unquote(k)] = unquote(v)
    return out


def parse_bag(bag):
    """Property bag `k=v&k2&k3=` (URL-encoded) -> (system props `$.x`, application props)."""
    system, app = {}, {}
    for part in bag.split("&") if bag else ():
        if not part:
            continue
        k, eq, v = part.partition("=")
        k = unquote(k)
        v = unquote(v) if eq else None
        (system if k.startswith("$.") else app)[k] = v
    return system, app


def duplicate_system_property(bag):
    """The first system property (`$.ct`, or `%24.ct`: the same one) named twice, or None."""
    seen = set()
    for part in bag.split("&") if bag else ():
        k = unquote(part.partition("=")[0])
        if k.startswith("$."):
            if k in seen:
                return k
            seen.add(k)
    return None


def topic_query(topic):
    """The `?k=v&..` part of a topic as a dict."""
    return parse_query(topic.partition("?")[2])
