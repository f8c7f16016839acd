# micropython-iotc's shapes on our client: a logger with info(message) only, property callbacks
# (name, value), command callbacks (command) with command.reply(), .payload as the raw text,
# Credentials as 1.1 had them, and is_connected() through a dropped link.
import json

import emuctl
from iotc import Credentials, IoTCEvents
from libutil import client, device, eq, wait


class OneArgLogger:
    # As micropython-iotc documented a logger: info(message), debug(message), set_log_level.
    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(message)

    def debug(self, message):
        self.lines.append(message)

    def set_log_level(self, level):
        pass


def _reported(dev, name):
    return device(dev)["twin"]["reported"].get(name)


def _call(dev, name, body):
    return emuctl.call("POST", "/devices/{}/methods/{}?wait=0&timeout=10".format(dev, name),
                       body)[1]["id"]


def _result(c, cid):
    res = []
    wait(lambda: res.append(emuctl.call("GET", "/methods/" + cid)[1]) or res[-1].get("done"), c,
         what="the command's result")
    return res[-1]["status"], res[-1]["payload"]


def test_logger_with_info_message_only():
    log = OneArgLogger()
    c = client("cmp-logger", logger=log)
    c.connect()
    c.disconnect()
    if not any("provisioning cmp-logger" in line for line in log.lines):
        raise AssertionError(log.lines)  # one argument, formatted: no "{}" left
    if any("{}" in line for line in log.lines):
        raise AssertionError(log.lines)


def test_two_argument_property_callback_acknowledged_and_adapted_once():
    c = client("cmp-props2")
    got = []

    def on_props(name, value):
        got.append((name, value))
        return value

    c.on(IoTCEvents.PROPERTIES, on_props)
    c.connect()
    for v in (11, 12):
        emuctl.call("POST", "/devices/cmp-props2/desired", {"speed": v})
        wait(lambda: (_reported("cmp-props2", "speed") or {}).get("value") == v, c,
             what="the ack of {}".format(v))
        eq(_reported("cmp-props2", "speed")["ac"], 200)
    eq(got, [("speed", 11), ("speed", 12)])
    if c._events[IoTCEvents.PROPERTIES] is on_props:
        raise AssertionError("no adapter in place: the arity is found out at every call")
    c.disconnect()


def test_type_error_inside_a_property_callback_is_a_device_error():
    # A callback of either shape whose own code raises TypeError: ac 500 with that error, and
    # the callback stays as it was given.
    for dev, cb in (("cmp-te3", lambda n, v, comp: len(v)),
                    ("cmp-te2", lambda n, v: len(v))):
        c = client(dev)
        c.on(IoTCEvents.PROPERTIES, cb)
        c.connect()
        emuctl.call("POST", "/devices/{}/desired".format(dev), {"level": 5})
        wait(lambda: _reported(dev, "level"), c, what="the ack")
        ack = _reported(dev, "level")
        eq(ack["ac"], 500)
        if "len" not in ack["ad"] or "positional" in ack["ad"]:
            raise AssertionError(ack)
        if dev == "cmp-te3" and c._events[IoTCEvents.PROPERTIES] is not cb:
            raise AssertionError("a 3-argument callback was replaced")
        c.disconnect()


def test_one_argument_command_callback_reply_and_raw_payload():
    c = client("cmp-cmd1")
    seen = []

    def on_commands(command):
        seen.append(command.payload)
        if command.name == "set":
            req = json.loads(command.payload)  # the raw text
            command.reply({"got": req["x"]})
        elif command.name == "bare":
            command.reply()
        else:
            raise TypeError("bad request")  # its own error: a 500 naming it

    c.on(IoTCEvents.COMMANDS, on_commands)
    c.connect()
    eq(_result(c, _call("cmp-cmd1", "set", {"x": 4})), (200, {"got": 4}))
    eq(_result(c, _call("cmp-cmd1", "bare", None)), (200, None))
    status, payload = _result(c, _call("cmp-cmd1", "other", None))
    eq((status, payload), (500, {"error": "bad request"}))
    eq(seen, ['{"x": 4}', "", ""])
    c.disconnect()


def test_ack_with_the_request_payload_echoes_its_json():
    # micropython-iotc's GitHub sample: ack(command, command.payload).
    c = client("cmp-echo")
    c.on(IoTCEvents.COMMANDS, lambda command, ack: ack(command, command.payload))
    c.connect()
    eq(_result(c, _call("cmp-echo", "echo", {"a": [1, 2]})), (200, {"a": [1, 2]}))
    eq(_result(c, _call("cmp-echo", "echo", None)), (200, ""))
    c.on(IoTCEvents.COMMANDS, lambda command, ack: ack(command, "Command received"))
    eq(_result(c, _call("cmp-echo", "other", 1)), (200, "Command received"))
    c.disconnect()


def test_is_connected_while_healing():
    c = client("cmp-heal")
    eq(c.is_connected(), False)  # before connect()
    c.connect()
    eq((c.is_connected(), c.is_connected(True)), (True, True))
    emuctl.call("POST", "/faults", {"kind": "drop", "device": "cmp-heal"})
    wait(lambda: not c.is_connected(True), c, what="the drop")
    eq(c.is_connected(), True)  # healing on its own
    wait(lambda: c.is_connected(True), c, timeout_ms=15000, what="the reconnect")
    c.disconnect()
    eq((c.is_connected(), c.is_connected(True)), (False, False))


def test_credentials_both_shapes():
    hub = "hub-x.azure-devices.net"
    old = json.dumps({"host": hub, "user": hub + "/dev-7/?api-version=2019-03-30",
                      "password": "SharedAccessSignature sr=abc"})
    c = Credentials.create_from_json_string(old)
    eq((c.host, c.device_id), (hub, "dev-7"))
    c = Credentials(hub, hub.encode() + b"/dev-8/?api-version=1", b"SharedAccessSignature x")
    eq((c.host, c.device_id), (hub, "dev-8"))
    eq(json.loads(c.to_json_string()), {"host": hub, "device_id": "dev-8"})  # no token kept
    eq(Credentials.from_json(Credentials(hub, "dev-9").to_json()).device_id, "dev-9")
