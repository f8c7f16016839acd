# iotc command: commands (direct methods) and offline commands (C2D) -> the callbacks, and
# their answers. Loaded by iotc.inbox for each one and freed after (an ack kept for later keeps
# what it needs).
# MIT license; Copyright (c) 2026 the iotc authors

import json


class Command:
    def __init__(self, name, value, component_name, request_id, payload=""):
        self.name = name
        self.value = value
        self.payload = payload  # the request's text as it came (micropython-iotc's .payload)
        self.component_name = component_name
        self.request_id = request_id
        self.acked = False


def _value(payload):
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return bytes(payload).decode()


def split_command(name):
    # IoT Central names component commands "component*command".
    comp, star, cmd = name.partition("*")
    return (comp, cmd) if star else (None, name)


def on_command(client, name, rid, payload):
    comp, cmd = split_command(name)
    command = Command(cmd, _value(payload), comp, rid, str(payload, "utf-8"))
    cb = client._events.get(11)  # an extra's own commands, by name (iotc.hooks)
    cb = cb and cb.get(cmd) or client._events.get(2)  # IoTCEvents.COMMANDS
    if cb is None:
        _respond(client, command, {"error": "no handler for commands"}, 501)
        return
    ack = lambda c, payload=None, status=200: _respond(client, c, payload, status)
    try:
        try:
            ret = cb(command, ack)
        except TypeError as e:  # maybe micropython-iotc 1.1's (command) (iotc.compat: reply())
            from iotc.compat import run

            ret = run(client, 2, cb, e, command, ack)
    except Exception as e:
        client._log("command {} failed: {!r}", cmd, e)
        _respond(client, command, {"error": str(e)}, 500)
        return
    if not command.acked and ret is not None:
        _respond(client, command, ret, 200)


def _respond(client, command, payload, status):
    # IoT Hub takes a method's answer only as JSON (or empty): a str goes as a JSON string,
    # bytes only when they already are JSON.
    if command.acked:
        return
    body = payload
    if payload is None:
        body = b""
    elif isinstance(payload, (bytes, bytearray)) or payload is command.payload:
        # ack(command, command.payload) sends the request's JSON back as it came
        try:
            json.loads(payload)
        except ValueError:
            if payload is not command.payload:
                from iotc import IoTCError

                raise IoTCError("command answer: bytes that are not JSON (a str is sent as one)")
            body = json.dumps(payload)
    else:
        body = json.dumps(payload)
    command.acked = True
    link = client._link
    if link is None:  # the session that asked has ended: the hub no longer waits for it
        client._log("command {}: answer not sent, offline", command.name)
        return
    link.publish("$iothub/methods/res/{}/?$rid={}".format(status, command.request_id).encode(),
                 body)


def on_c2d(client, props, payload):
    # IoT Central offline commands: method-name names the command (legacy "Commands:" prefix).
    name = props.get("method-name") or ""
    comp, cmd = split_command(name.split(":")[-1])
    cb = client._events.get(11)  # an extra's own commands, by name (iotc.hooks)
    cb = cb and cb.get(cmd) or client._events.get(3)  # IoTCEvents.ENQUEUED_COMMANDS
    if cb is not None:  # "@": IoT Central's body for a command with no parameter
        value = None if len(payload) == 1 and payload[0] == 64 else _value(payload)
        cb(Command(cmd, value, comp, props.get("$.mid"), str(payload, "utf-8")))
