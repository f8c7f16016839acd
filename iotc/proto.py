# iotc proto: IoT Hub topics, property bags and IoT Central payloads; pure functions, no I/O
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

API_VERSION = "2021-04-12"
TWIN_GET = "$iothub/twin/GET/?$rid={}"
REPORTED = "$iothub/twin/PATCH/properties/reported/?$rid={}"
METHOD_RESPONSE = "$iothub/methods/res/{}/?$rid={}"
C2D_PREFIX = "devices/{}/messages/devicebound/"
# Subscriptions (four of the hub's five), the last one formatted with the device id.
SUBSCRIPTIONS = (
    "$iothub/methods/POST/#",
    "$iothub/twin/res/#",
    "$iothub/twin/PATCH/properties/desired/#",
    "devices/{}/messages/devicebound/#",
)

# Kinds returned by classify().
UNKNOWN = const(0)
TWIN_RES = const(1)
DESIRED = const(2)
METHOD = const(3)
C2D = const(4)

_HEX = b"0123456789ABCDEF"


def _plain(c):
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-_.~"


def quote(s):
    # Percent-encode all but RFC 3986 unreserved characters (uppercase hex); str or bytes in.
    data = s.encode() if isinstance(s, str) else s
    out = bytearray()
    for c in data:
        if _plain(c):
            out.append(c)
        else:
            out.append(37)
            out.append(_HEX[c >> 4])
            out.append(_HEX[c & 15])
    return out.decode()


def unquote(s):
    if "%" not in s and "+" not in s:
        return s
    data = s.encode()
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 37:
            try:
                out.append(int(data[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(32 if c == 43 else c)
        i += 1
    return out.decode()


def hub_username(hub, device_id, model_id=None):
    user = "{}/{}/?api-version={}".format(hub, device_id, API_VERSION)
    if model_id:
        user += "&model-id=" + quote(model_id)
    return user


def telemetry_topic(device_id, content_type, content_encoding):
    # Built once per connection; a message with properties appends "&" + property_bag(...).
    topic = "devices/{}/messages/events/".format(device_id)
    if content_type:
        topic += "$.ct=" + quote(content_type) + ("&" if content_encoding else "")
    if content_encoding:
        topic += "$.ce=" + quote(content_encoding)
    return topic


def property_bag(props):
    parts = []
    for k in props:
        v = props[k]
        parts.append(quote(k) if v is None else quote(k) + "=" + quote(str(v)))
    return "&".join(parts)


def parse_bag(bag):
    # "a=1&b&c=" -> {"a": "1", "b": None, "c": ""}
    out = {}
    for part in bag.split("&"):
        if part:
            k, eq, v = part.partition("=")
            out[unquote(k)] = unquote(v) if eq else None
    return out


def classify(topic, c2d_prefix):
    # -> (kind, a, b): TWIN_RES (status, rid), DESIRED (version, None), METHOD (name, rid),
    # C2D (properties dict, None), UNKNOWN (None, None). Raises ValueError on a malformed topic.
    q = topic.find("?")
    query = parse_bag(topic[q + 1 :]) if q >= 0 else {}
    if topic.startswith("$iothub/twin/res/"):
        return TWIN_RES, int(topic[17 : topic.index("/", 17)]), query.get("$rid")
    if topic.startswith("$iothub/twin/PATCH/properties/desired/"):
        v = query.get("$version")
        return DESIRED, int(v) if v else None, None
    if topic.startswith("$iothub/methods/POST/"):
        end = topic.index("/", 21)
        if end == 21 or "$rid" not in query:
            raise ValueError("method topic")
        return METHOD, unquote(topic[21:end]), query["$rid"]
    if topic.startswith(c2d_prefix):
        return C2D, parse_bag(topic[len(c2d_prefix) :]), None
    return UNKNOWN, None, None


def split_command(name):
    # IoT Central names component commands "component*command".
    comp, star, cmd = name.partition("*")
    return (comp, cmd) if star else (None, name)


def desired_items(desired):
    # Yield (component, name, value) for each property of a desired document or patch.
    # Components carry "__t": "c"; values may be raw or wrapped as {"value": v} (older apps).
    for name in desired:
        if name[0] == "$":
            continue
        value = desired[name]
        if isinstance(value, dict) and value.get("__t") == "c":
            for prop in value:
                if prop != "__t" and prop[0] != "$":
                    yield name, prop, _unwrap(value[prop])
        else:
            yield None, name, _unwrap(value)


def _unwrap(value):
    if isinstance(value, dict) and len(value) == 1 and "value" in value:
        return value["value"]
    return value


def reported_version(reported, component, name):
    # The desired version last acknowledged for a property, or -1.
    if component is not None:
        reported = reported.get(component)
        if not isinstance(reported, dict):
            return -1
    entry = reported.get(name)
    av = entry.get("av") if isinstance(entry, dict) else None
    return av if isinstance(av, int) else -1


def ack(component, name, value, version, status=200, description=None):
    # The reported patch IoT Central expects for a writable property.
    entry = {"value": value, "ac": status, "av": version}
    if description:
        entry["ad"] = description
    if component is not None:
        return {component: {"__t": "c", name: entry}}
    return {name: entry}
