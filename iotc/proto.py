# iotc proto: what the hub sends, understood: topic classification, property bags, desired
# properties, and the answers IoT Central expects. Pure functions, no I/O.
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

# Kinds returned by classify(), as numbers: names would cost RAM in every module using them.
_UNKNOWN = const(0)
_TWIN_RES = const(1)
_DESIRED = const(2)
_METHOD = const(3)
_C2D = const(4)


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


def parse_bag(bag):
    # "a=1&b&c=" -> {"a": "1", "b": None, "c": ""}
    out = {}
    for part in bag.split("&"):
        if part:
            k, eq, v = part.partition("=")
            out[unquote(k)] = unquote(v) if eq else None
    return out


def classify(topic, c2d_prefix):
    # -> (kind, a, b): 1 twin answer (status, rid), 2 desired patch (version, None), 3 command
    # (name, rid), 4 C2D (properties dict, None), 0 unknown (None, None). Raises ValueError on a
    # malformed topic.
    q = topic.find("?")
    query = parse_bag(topic[q + 1 :]) if q >= 0 else {}
    if topic.startswith("$iothub/twin/res/"):
        return _TWIN_RES, int(topic[17 : topic.index("/", 17)]), query.get("$rid")
    if topic.startswith("$iothub/twin/PATCH/properties/desired/"):
        v = query.get("$version")
        return _DESIRED, int(v) if v else None, None
    if topic.startswith("$iothub/methods/POST/"):
        end = topic.index("/", 21)
        if end == 21 or "$rid" not in query:
            raise ValueError("method topic")
        return _METHOD, unquote(topic[21:end]), query["$rid"]
    if topic.startswith(c2d_prefix):
        return _C2D, parse_bag(topic[len(c2d_prefix) :]), None
    return _UNKNOWN, None, None


def split_command(name):
    # IoT Central names component commands "component*command".
    comp, star, cmd = name.partition("*")
    return (comp, cmd) if star else (None, name)


def desired_items(desired):
    # Yield (component, name, value) for each property of a desired document or patch.
    # Components carry "__t": "c"; values may be raw or wrapped as {"value": v} (older apps).
    for name in desired:
        if name.startswith("$"):  # not name[0]: a one-character str is interned, for good
            continue
        value = desired[name]
        comp = None
        if isinstance(value, dict) and value.get("__t") == "c":
            comp = name
            props = value
        else:
            props = {name: value}
        for prop in props:
            if prop != "__t" and not prop.startswith("$"):
                v = props[prop]
                if isinstance(v, dict) and len(v) == 1 and "value" in v:
                    v = v["value"]
                yield comp, prop, v


def reported_version(reported, component, name):
    # The desired version last acknowledged for a property, or -1.
    if component is not None:
        reported = reported.get(component)
    entry = reported.get(name) if isinstance(reported, dict) else None
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
