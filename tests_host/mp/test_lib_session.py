# The client against the emulator over TLS: telemetry, properties, commands, twin, C2D.
import json

import emuctl
from iotc import IoTCEvents
from libutil import client, device, eq, listen_until_raised, telemetry, wait


def _connected(name, **kw):
    c = client(name, **kw)
    c.connect()
    if not c.is_connected(True):
        raise AssertionError("not connected")
    return c


def test_connect_again_while_connected_ends_the_first_session():
    c = _connected("sess-again")
    c.connect()
    _, doc = emuctl.call("GET", "/events?since=0&device=sess-again")
    gone = [e.get("reason") for e in doc["events"]
            if e["type"] == "disconnected" and e.get("device") == "sess-again"]
    # Closed by the device, not replaced by the hub (ConnectionForcefullyClosedOnNewConnection).
    eq(len(gone), 1)
    if "replaced" in gone[0]:
        raise AssertionError(gone)
    c.send_telemetry({"n": 1})
    wait(lambda: len(telemetry("sess-again")) == 1, c, what="1 message")
    eq(device("sess-again")["connects"], 2)
    c.disconnect()


def test_connect_and_send_telemetry():
    c = client("sess-telemetry")
    c.set_model_id("dtmi:com:example:Thermostat;1")
    events = []
    c.on(IoTCEvents.CONNECTION, lambda up, why: events.append(up))
    c.connect()
    eq(events, [True])
    c.send_telemetry({"temperature": 21.5, "humidity": 40})
    wait(lambda: len(telemetry("sess-telemetry")) == 1, c, what="1 message")
    msg = telemetry("sess-telemetry")[0]
    eq(json.loads(msg["body"]), {"temperature": 21.5, "humidity": 40})
    eq(msg["system"].get("$.ct"), "application/json")
    eq(msg["system"].get("$.ce"), "utf-8")
    eq(msg["qos"], 0)
    dev = device("sess-telemetry")
    eq(dev["model_id"], "dtmi:com:example:Thermostat;1")
    eq(dev["registration"]["model_id"], "dtmi:com:example:Thermostat;1")
    eq(dev["clean_session"], False)
    eq(len(dev["subscriptions"]), 4)
    c.disconnect()
    eq(events, [True, False])
    eq(c.is_connected(True), False)


def test_property_bag_component_and_content_type():
    c = client("sess-bag")
    c.set_content_type("application/json;charset=utf-8")
    c.set_content_encoding("utf-8")
    c.connect()
    c.send_telemetry({"t": 1}, properties={"alert level": "high & hot", "n": 3})
    c.send_telemetry({"t": 2}, component="thermostat1")
    c.send_telemetry('{"raw": true}')
    wait(lambda: len(telemetry("sess-bag")) == 3, c, what="3 messages")
    m = telemetry("sess-bag")
    eq(m[0]["properties"], {"alert level": "high & hot", "n": "3"})
    eq(m[0]["system"]["$.ct"], "application/json;charset=utf-8")
    eq(m[1]["system"].get("$.sub"), "thermostat1")
    eq(json.loads(m[2]["body"]), {"raw": True})
    c.disconnect()


def test_qos1_telemetry_is_acknowledged():
    c = client("sess-qos1", qos=1)
    sent = []
    c.on(IoTCEvents.MESSAGE_SENT, lambda kind, info: sent.append((kind, info)))
    c.connect()
    pids = [c.send_telemetry({"seq": i}) for i in range(5)]
    if 0 in pids:
        raise AssertionError(pids)
    wait(lambda: len(sent) == 5, c, what="5 PUBACKs")
    eq(sorted(p for _, p in sent), sorted(pids))
    eq(c._inflight, {})
    eq([json.loads(m["body"])["seq"] for m in telemetry("sess-qos1")], [0, 1, 2, 3, 4])
    eq(telemetry("sess-qos1")[0]["qos"], 1)
    c.disconnect()


def test_qos1_unacknowledged_is_not_published_again_on_a_live_link():
    # The hub holds back its PUBACKs for 1.5 s: the link is not proven dead, so the message is
    # not published a second time (a duplicate IoT Central would count and bill).
    import time

    c = _connected("sess-republish", qos=1)
    emuctl.call("POST", "/faults", {"kind": "stall", "device": "sess-republish", "seconds": 1.5})
    c.send_telemetry({"once": 1})
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1000:
        c.listen()
        time.sleep_ms(10)
    wait(lambda: not c._inflight, c, what="the PUBACK")
    eq([json.loads(m["body"]) for m in telemetry("sess-republish")], [{"once": 1}])
    eq(device("sess-republish")["connects"], 1)
    c.disconnect()


def test_silent_link_is_found_dead_within_one_and_a_half_keepalives():
    # The link goes half-open (the hub neither reads nor sends for 8 s, the TCP connection
    # stays): with keepalive 2 s the client pings, hears nothing, and calls the link dead
    # within 3 s of the last packet it read; it reconnects and publishes the message again.
    import time

    c = _connected("sess-halfopen", qos=1, keepalive=2)
    lost = []
    c.on(IoTCEvents.CONNECTION, lambda up, why: lost.append(time.ticks_ms()) if not up else None)
    emuctl.call("POST", "/faults", {"kind": "half_open", "device": "sess-halfopen", "seconds": 8})
    t0 = time.ticks_ms()
    c.send_telemetry({"seq": 1})
    wait(lambda: lost, c, timeout_ms=6000, what="the dead link noticed")
    took = time.ticks_diff(lost[0], t0)
    print("half-open link noticed after", took, "ms (keepalive 2 s)")
    if took > 3000 + 200:  # 1.5x keepalive, and listen()'s own pace
        raise AssertionError("noticed after {} ms".format(took))
    wait(lambda: c.is_connected(True) and not c._inflight, c, timeout_ms=20000, what="healed")
    seqs = set(json.loads(m["body"])["seq"] for m in telemetry("sess-halfopen"))
    eq(seqs, {1})
    c.disconnect()


def test_reported_property_answered_204():
    c = _connected("sess-reported")
    sent = []
    c.on(IoTCEvents.MESSAGE_SENT, lambda kind, info: sent.append((kind, info)))
    rid = c.send_property({"firmware": "1.0.0", "serial": "X1"})
    wait(lambda: ("property", rid) in sent, c, what="204 for reported")
    eq(c._reported, {})
    rep = device("sess-reported")["twin"]["reported"]
    eq((rep["firmware"], rep["serial"]), ("1.0.0", "X1"))
    c.disconnect()


def test_writable_property_acknowledged():
    c = _connected("sess-writable")
    got = []

    def on_props(name, value, component):
        got.append((name, value, component))
        return True

    c.on(IoTCEvents.PROPERTIES, on_props)
    v = emuctl.call("POST", "/devices/sess-writable/desired", {"fanSpeed": 3})[1]["version"]
    wait(lambda: got, c, what="desired patch")
    eq(got, [("fanSpeed", 3, None)])
    wait(lambda: "fanSpeed" in device("sess-writable")["twin"]["reported"], c, what="ack")
    ack = device("sess-writable")["twin"]["reported"]["fanSpeed"]
    eq((ack["value"], ack["ac"], ack["av"]), (3, 200, v))
    c.disconnect()


def test_component_and_legacy_desired_properties():
    c = _connected("sess-comp")
    got = []

    def on_props(name, value, component):
        got.append((name, value, component))
        return value * 2 if name == "doubled" else True

    c.on(IoTCEvents.PROPERTIES, on_props)
    emuctl.call("POST", "/devices/sess-comp/desired",
                {"thermostat1": {"__t": "c", "targetTemperature": 21.5},
                 "legacy": {"value": 7}, "doubled": 4})
    wait(lambda: len(got) == 3, c, what="3 properties")
    eq(sorted(got, key=lambda t: t[0]), [("doubled", 4, None), ("legacy", 7, None),
                                         ("targetTemperature", 21.5, "thermostat1")])
    wait(lambda: "thermostat1" in device("sess-comp")["twin"]["reported"], c, what="acks")
    rep = device("sess-comp")["twin"]["reported"]
    eq(rep["thermostat1"]["__t"], "c")
    eq(rep["thermostat1"]["targetTemperature"]["value"], 21.5)
    eq(rep["doubled"]["value"], 8)
    c.disconnect()


def test_startup_sync_hands_over_unacknowledged_desired():
    # Desired set while the device was away: handed over at connect, acknowledged once.
    c = _connected("sess-sync")
    c.disconnect()
    emuctl.call("POST", "/devices/sess-sync/desired", {"target": 30})
    got = []
    c.on(IoTCEvents.PROPERTIES, lambda n, v, comp: got.append((n, v)) or True)
    twins = []
    c.on(IoTCEvents.TWIN, lambda twin, _: twins.append(twin))
    c.connect()
    eq(got, [("target", 30)])
    twin = c.get_twin()
    eq(twin["desired"]["target"], 30)
    eq(twins, [twin])  # the TWIN event: the whole twin, at every connect
    wait(lambda: "target" in device("sess-sync")["twin"]["reported"], c, what="ack")
    c.disconnect()
    c.connect()  # already acknowledged at this version: not handed over again
    eq(got, [("target", 30)])
    c.disconnect()


def test_command_answered_with_callback_status_and_payload():
    c = _connected("sess-cmd")
    seen = []

    def on_cmd(command, ack):
        seen.append((command.name, command.value, command.component_name))
        if command.name == "reboot":
            ack(command, {"rebooting": True, "delay": command.value["delay"]}, 201)
        elif command.name == "echo":
            ack(command, command.payload)  # the micropython-iotc 1.1 README form
        elif command.name == "fail":
            raise ValueError("cannot do that")
        else:
            return {"returned": True}

    c.on(IoTCEvents.COMMANDS, on_cmd)
    calls = {}
    for name, body in (("reboot", {"delay": 5}), ("echo", "hi"), ("fail", None),
                       ("thermostat1*getMax", None)):
        calls[name] = emuctl.call(
            "POST", "/devices/sess-cmd/methods/{}?wait=0&timeout=10".format(name), body)[1]["id"]
    results = {}

    def done():
        for name, cid in calls.items():
            if name not in results:
                r = emuctl.call("GET", "/methods/" + cid)[1]
                if r.get("done"):
                    results[name] = (r["status"], r["payload"])
        return len(results) == len(calls)

    wait(done, c, what="4 command results")
    eq(results["reboot"], (201, {"rebooting": True, "delay": 5}))
    eq(results["echo"], (200, "hi"))
    eq(results["fail"][0], 500)
    eq(results["thermostat1*getMax"], (200, {"returned": True}))
    if ("getMax", None, "thermostat1") not in seen:
        raise AssertionError(seen)
    c.disconnect()


def test_command_answered_later_and_handlers_freed():
    # The ack may be kept and called after the callback returned (from the main loop). The
    # command and desired-property modules are freed after each message either way.
    import sys

    c = _connected("sess-later")
    kept = []
    c.on(IoTCEvents.COMMANDS, lambda command, ack: kept.append((command, ack)))
    c.on(IoTCEvents.PROPERTIES, lambda n, v, comp: True)
    cid = emuctl.call("POST", "/devices/sess-later/methods/slow?wait=0&timeout=10",
                      {"n": 1})[1]["id"]
    emuctl.call("POST", "/devices/sess-later/desired", {"x": 1})
    wait(lambda: kept and "x" in device("sess-later")["twin"]["reported"], c,
         what="the command and the property's ack")
    for name in ("iotc.command", "iotc.desired"):
        if name in sys.modules:
            raise AssertionError(name + " still loaded")
    command, ack = kept[0]
    ack(command, {"done": command.value["n"]})
    res = []
    wait(lambda: res.append(emuctl.call("GET", "/methods/" + cid)[1]) or res[-1].get("done"), c,
         what="result")
    eq((res[-1]["status"], res[-1]["payload"]), (200, {"done": 1}))
    c.disconnect()


def test_heap_full_while_handling_is_raised_not_skipped():
    # OutOfHeap stands in for iotc.desired and raises MemoryError, as a device whose heap is
    # full would at that import (the exact point cannot be provoked for real). listen() raises
    # it, not a silent "skipped a message"; the session goes on with the real module after.
    import sys

    class OutOfHeap:
        @staticmethod
        def on_patch(client, patch, version):
            raise MemoryError("stand-in: heap full")

    c = _connected("sess-heapfull")
    got = []
    c.on(IoTCEvents.PROPERTIES, lambda n, v, comp: got.append(n) or True)
    sys.modules["iotc.desired"] = OutOfHeap
    emuctl.call("POST", "/devices/sess-heapfull/desired", {"a": 1})
    if listen_until_raised(c, MemoryError) is None or "skipped" in c.logger.text():
        raise AssertionError("MemoryError not raised: " + c.logger.text())
    emuctl.call("POST", "/devices/sess-heapfull/desired", {"b": 2})
    wait(lambda: "b" in got, c, what="the next patch, handled")
    eq(c.is_connected(True), True)
    c.disconnect()


def test_command_without_handler_gets_501():
    c = _connected("sess-nohandler")
    cid = emuctl.call("POST", "/devices/sess-nohandler/methods/x?wait=0&timeout=10", {})[1]["id"]
    res = []
    wait(lambda: res.append(emuctl.call("GET", "/methods/" + cid)[1]) or res[-1].get("done"), c,
         what="result")
    eq(res[-1]["status"], 501)
    c.disconnect()


def test_offline_command_from_c2d_survives_disconnect():
    c = _connected("sess-c2d")
    got = []
    c.on(IoTCEvents.ENQUEUED_COMMANDS, lambda cmd: got.append((cmd.name, cmd.value,
                                                               cmd.component_name)))
    emuctl.call("POST", "/devices/sess-c2d/c2d",
                {"body": '{"level": 2}', "properties": {"method-name": "setLevel"}})
    wait(lambda: got, c, what="c2d")
    eq(got, [("setLevel", {"level": 2}, None)])
    c.disconnect()
    # Queued while the device is away (clean session off), delivered at the next connect.
    emuctl.call("POST", "/devices/sess-c2d/c2d",
                {"body": "@", "properties": {"method-name": "lights*off"}})
    c.connect()
    wait(lambda: len(got) == 2, c, what="queued c2d")
    eq(got[1], ("off", None, "lights"))  # "@": no parameter
    wait(lambda: device("sess-c2d")["pending_c2d"] == 0, c, what="c2d acknowledged")
    c.disconnect()


def test_idle_listen_returns_and_keepalive_holds_link():
    # keepalive 2 s: the emulator drops a link silent for 3 s; listen() pings in time.
    import time

    c = _connected("sess-keepalive", keepalive=2)
    t0 = time.ticks_ms()
    calls = 0
    while time.ticks_diff(time.ticks_ms(), t0) < 4500:
        c.listen()
        calls += 1
        time.sleep_ms(20)
    eq(c.is_connected(True), True)
    eq(device("sess-keepalive")["connects"], 1)
    if calls < 50:
        raise AssertionError("listen() blocked: only {} calls in 4.5 s".format(calls))
    c.disconnect()
