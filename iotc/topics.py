# iotc topics: what the device sends, named: URL encoding, the hub username, telemetry topics
# and property bags. Pure functions; loaded to connect and for property bags.
# MIT license; Copyright (c) 2026 the iotc authors



def quote(s):
    # Percent-encode all but RFC 3986 unreserved characters (uppercase hex); str or bytes in.
    out = bytearray()
    for c in s.encode() if isinstance(s, str) else s:
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-_.~":
            out.append(c)
        else:
            out.extend(b"%{:02X}".format(c))
    return out.decode()


def hub_username(hub, device_id, model_id=None):
    user = "{}/{}/?api-version=2021-04-12".format(hub, device_id)
    if model_id:
        user += "&model-id=" + quote(model_id)
    return user


def telemetry_topic(device_id, content_type, content_encoding, properties=None,
                    component=None):
    # Built once per connection; a message with properties or a component gets its own, where
    # its $.ct or $.ce replaces the connection's (the hub refuses a system property twice).
    props = dict(properties) if properties else {}
    if component:
        props["$.sub"] = component
    content_type = props.pop("$.ct", content_type)
    content_encoding = props.pop("$.ce", content_encoding)
    topic = "devices/{}/messages/events/".format(device_id)
    if content_type:
        topic += "$.ct=" + quote(content_type) + ("&" if content_encoding else "")
    if content_encoding:
        topic += "$.ce=" + quote(content_encoding)
    if props:
        topic += ("&" if topic[-1] != "/" else "") + property_bag(props)
    return topic


def property_bag(props):
    parts = []
    for k in props:
        v = props[k]
        parts.append(quote(k) if v is None else quote(k) + "=" + quote(str(v)))
    return "&".join(parts)
