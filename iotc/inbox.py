# iotc inbox: what the hub sends -> callbacks: twin answers and desired properties here,
# commands and C2D through iotc.command (loaded with the first one).
# MIT license; Copyright (c) 2026 the iotc authors

import json

from iotc import proto


def on_publish(client, op, body):
    # A malformed message or a failing callback is logged and skipped: listen() goes on.
    if body is None:
        client._log("skipped a message larger than the device accepts")
        return
    tl = body[0] << 8 | body[1]
    i = 2 + tl
    pid = 0
    if op & 6 and i + 2 <= len(body):
        pid = body[i] << 8 | body[i + 1]
        i += 2
    payload = memoryview(body)[i:]
    try:
        if i > len(body):
            raise ValueError("PUBLISH topic runs past the packet")
        topic = bytes(body[2 : 2 + tl]).decode()
        kind, a, b = proto.classify(topic, client._c2d_prefix)
        if kind == 1:  # a twin answer
            _twin_answer(client, a, b, payload)
        elif kind == 2:  # a desired patch
            patch = json.loads(payload)
            version = patch.get("$version", a)
            for comp, name, value in proto.desired_items(patch):
                on_property(client, comp, name, value, version)
        elif kind == 3:  # a command
            from iotc.command import on_command

            on_command(client, a, b, payload)
        elif kind == 4:  # C2D
            from iotc.command import on_c2d

            on_c2d(client, a, payload)
        else:
            client._log("ignored a message on an unknown topic {}", topic)
    except OSError:
        raise
    except Exception as e:
        client._log("skipped a message ({!r})", e)
    if pid:
        client._link.write(bytes((0x40, 2, pid >> 8, pid & 0xFF)), 4)  # PUBACK


def _twin_answer(client, status, rid, payload):
    if rid == client._twin_rid:
        client._twin_rid = None
        if status == 200:
            client._twin = json.loads(payload)
            client._emit(6, client._twin, None)  # IoTCEvents.TWIN
        else:
            client._log("twin GET answered {}", status)
        return
    try:
        rid = int(rid)
    except (TypeError, ValueError):
        return
    patch = client._reported.pop(rid, None)
    if patch is None:
        return
    if status < 300:
        client._emit(5, "property", rid)  # IoTCEvents.MESSAGE_SENT
    elif status == 429 or status >= 500:
        client._reported[rid] = patch  # throttled or hub trouble: sent again at reconnect
        client._log("reported property answered {}; will resend", status)
    else:
        client._log("reported property refused: {}", status)


def on_property(client, comp, name, value, version):
    # Hand a desired property to the callback; its return value is acknowledged (ac 200),
    # None/False is not, an exception is acknowledged as a device error (ac 500).
    cb = client._events.get(1)  # IoTCEvents.PROPERTIES
    status, desc = 200, "completed"
    if cb is not None:
        try:
            ret = cb(name, value, comp)
        except Exception as e:
            client._log("property callback failed: {!r}", e)
            ret, status, desc = value, 500, "device error: {}".format(e)
        if ret is None or ret is False:
            return
        if ret is not True:
            value = ret
    client.send_property(proto.ack(comp, name, value, version, status, desc))


def sync_desired(client):
    # After a connect: hand over each desired property of the twin newer than what the device
    # acknowledged, so a device that was off catches up.
    desired = client._twin.get("desired") or {}
    reported = client._twin.get("reported") or {}
    version = desired.get("$version", 0)
    for comp, name, value in proto.desired_items(desired):
        if proto.reported_version(reported, comp, name) < version:
            on_property(client, comp, name, value, version)
