# iotc proto: IoT Hub topics, property bags and IoT Central payloads; pure functions, no I/O
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

from iotc.sas import quote, unquote

API_VERSION = "2021-04-12"

# Subscriptions (four of the hub's five allowed).
SUB_METHODS = "$iothub/methods/POST/#"
SUB_TWIN_RES = "$iothub/twin/res/#"
SUB_DESIRED = "$iothub/twin/PATCH/properties/desired/#"
# C2D: "devices/{id}/messages/devicebound/#", built per device.

# Kinds returned by classify().
UNKNOWN = const(0)
TWIN_RES = const(1)
DESIRED = const(2)
METHOD = const(3)
C2D = const(4)


def hub_username(hub, device_id, model_id=None):
    user = "{}/{}/?api-version={}".format(hub, device_id, API_VERSION)
    if model_id:
        user += "&model-id=" + quote(model_id)
    return user


def c2d_filter(device_id):
    return "devices/{}/messages/devicebound/#".format(device_id)


def telemetry_topic(device_id, content_type, content_encoding):
    # Built once per connection; a message with properties appends "&" + property_bag(...).
    topic = "devices/{}/messages/events/".format(device_id)
    sep = ""
    if content_type:
        topic += "$.ct=" + quote(content_type)
        sep = "&"
    if content_encoding:
        topic += sep + "$.ce=" + quote(content_encoding)
    return topic


def property_bag(props):
    parts = []
    for k in props:
        v = props[k]
        parts.append(quote(k) if v is None else "{}={}".format(quote(k), quote(str(v))))
    return "&".join(parts)


def parse_bag(bag):
    # "a=1&b&c=" -> {"a": "1", "b": None, "c": ""}
    out = {}
    if bag:
        for part in bag.split("&"):
            if not part:
                continue
            k, eq, v = part.partition("=")
            out[unquote(k)] = unquote(v) if eq else None
    return out


def _query(topic):
    q = topic.find("?")
    return parse_bag(topic[q + 1 :]) if q >= 0 else {}


def classify(topic, c2d_prefix):
    # -> (kind, a, b): TWIN_RES (status, rid), DESIRED (version, None), METHOD (name, rid),
    # C2D (properties dict, None), UNKNOWN (None, None). Raises ValueError on a malformed topic.
    if topic.startswith("$iothub/twin/res/"):
        status = int(topic[17 : topic.index("/", 17)])
        return TWIN_RES, status, _query(topic).get("$rid")
    if topic.startswith("$iothub/twin/PATCH/properties/desired/"):
        v = _query(topic).get("$version")
        return DESIRED, int(v) if v else None, None
    if topic.startswith("$iothub/methods/POST/"):
        end = topic.index("/", 21)
        rid = _query(topic).get("$rid")
        if end == 21 or rid is None:
            raise ValueError("method topic")
        return METHOD, unquote(topic[21:end]), rid
    if topic.startswith(c2d_prefix):
        return C2D, parse_bag(topic[len(c2d_prefix) :]), None
    return UNKNOWN, None, None


def twin_get_topic(rid):
    return "$iothub/twin/GET/?$rid={}".format(rid)


def reported_topic(rid):
    return "$iothub/twin/PATCH/properties/reported/?$rid={}".format(rid)


def method_response_topic(status, rid):
    return "$iothub/methods/res/{}/?$rid={}".format(status, rid)


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
    if isinstance(entry, dict):
        av = entry.get("av")
        if isinstance(av, int):
            return av
    return -1


def ack(component, name, value, version, status=200, description=None):
    # The reported patch IoT Central expects for a writable property.
    entry = {"value": value, "ac": status, "av": version}
    if description:
        entry["ad"] = description
    if component is not None:
        return {component: {"__t": "c", name: entry}}
    return {name: entry}
