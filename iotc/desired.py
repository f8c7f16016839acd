# iotc desired: writable properties the IoT Central way. Loaded when desired properties
# arrive (a patch, or the twin after a connect) and freed after. The first three functions
# are pure: what a desired document holds, and the answer IoT Central expects.
# MIT license; Copyright (c) 2026 the iotc authors


def desired_items(desired):
    # -> [(component, name, value)] for each property of a desired document or patch.
    # Components carry "__t": "c"; values may be raw or wrapped as {"value": v} (older apps).
    # A list, not a generator: a generator is one 200 B block, a list a few small ones.
    out = []
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
                out.append((comp, prop, v))
    return out


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


def on_patch(client, patch, version):
    # A desired patch from the hub; its "$version" wins over the topic's.
    version = patch.get("$version", version)
    for comp, name, value in desired_items(patch):
        on_property(client, comp, name, value, version)


def run(client):
    # The catch-up after a connect: hand over each desired property of the twin newer than
    # what the device acknowledged, so a device that was off catches up.
    desired = client._twin.get("desired") or {}
    reported = client._twin.get("reported") or {}
    version = desired.get("$version", 0)
    for comp, name, value in desired_items(desired):
        if reported_version(reported, comp, name) < version:
            on_property(client, comp, name, value, version)


def on_property(client, comp, name, value, version):
    # Hand a desired property to the callback; its return value is acknowledged (ac 200),
    # None/False is not, an exception is acknowledged as a device error (ac 500). A callback
    # (name, value), as micropython-iotc 1.0 had it, is called so.
    cb = client._events.get(10)  # an extra's own properties, by name (iotc.hooks)
    cb = cb and cb.get(name) or client._events.get(1)  # IoTCEvents.PROPERTIES
    status, desc = 200, "completed"
    if cb is not None:
        try:
            try:
                ret = cb(name, value, comp)
            except TypeError as e:  # maybe micropython-iotc 1.0's (name, value): iotc.compat
                from iotc.compat import run

                ret = run(client, 1, cb, e, name, value, comp)
        except Exception as e:
            client._log("property callback failed: {!r}", e)
            ret, status, desc = value, 500, "device error: {}".format(e)
        if ret is None or ret is False:
            return
        if ret is not True:
            value = ret
    try:
        client.send_property(ack(comp, name, value, version, status, desc))
    except OSError:
        raise
    except Exception as e:  # too deep to send, or too many waiting: dropped, not kept
        client._log("{}: acknowledgement not sent ({!r})", name, e)
