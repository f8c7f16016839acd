# iotc proto: what the hub sends, understood: topic classification and property bags. Pure
# functions, no I/O (desired properties: iotc.desired; command names: iotc.command). Loaded
# by iotc.inbox to classify one message, and freed before that message's handler loads.
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
