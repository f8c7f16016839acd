# iotc.rate (iotc-rate) against the emulator: what a throttled device sends, counted on the
# emulator's application side. Intervals are an hour where a count must not depend on the
# machine's speed, and set to 0 (or from the cloud) to open the gate.
import json
import time

import emuctl
from iotc.rate import NAME, Rate
from libutil import client, device, eq, telemetry, wait


def _connected(name, **kw):
    c = client(name, **kw)
    c.connect()
    if not c.is_connected(True):
        raise AssertionError("not connected")
    return c


def _bodies(device_id):
    return [json.loads(m["body"]) for m in telemetry(device_id)]


def _ack(device_id, c, version):
    # -> the device's acknowledgement of iotcSendInterval at this desired version
    def acked():
        rep = device(device_id)["twin"]["reported"].get(NAME)
        return rep is not None and rep.get("av") == version

    wait(acked, c, what="the acknowledgement of version {}".format(version))
    return device(device_id)["twin"]["reported"][NAME]


def test_drop_keeps_one_send_per_interval():
    c = _connected("rate-drop")
    r = Rate(c, 3600)
    eq(r.due(), True)
    for i in range(10):
        c.send_telemetry({"n": i})
    eq(r.due(), False)
    eq(r.dropped, 9)
    # Another component has its own send time.
    eq(r.due("thermostat1"), True)
    c.send_telemetry({"t": 1}, component="thermostat1")
    c.send_telemetry({"t": 2}, component="thermostat1")
    eq(r.dropped, 10)
    r.set(0)  # every send goes
    for i in range(10, 13):
        eq(r.due(), True)
        c.send_telemetry({"n": i})
    wait(lambda: len(telemetry("rate-drop")) == 5, c, what="5 messages")
    got = telemetry("rate-drop")
    eq([json.loads(m["body"]) for m in got], [{"n": 0}, {"t": 1}, {"n": 10}, {"n": 11}, {"n": 12}])
    eq(got[1]["system"].get("$.sub"), "thermostat1")
    eq(r.dropped, 10)
    c.disconnect()


def test_drop_over_a_timed_run_sends_what_was_due():
    # A short interval and sends every few ms: whatever the machine's pace, what arrived is
    # what was sent minus what was dropped, and the gate opened more than once.
    c = _connected("rate-run")
    r = Rate(c, 0.2)
    sends = 0
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1500:
        c.send_telemetry({"n": sends})
        sends += 1
        c.listen()
        time.sleep_ms(10)
    delivered = sends - r.dropped
    print("sends", sends, "dropped", r.dropped, "delivered", delivered)
    if delivered < 2 or r.dropped < 1:
        raise AssertionError((sends, r.dropped))
    wait(lambda: len(telemetry("rate-run")) == delivered, c, what="{} messages".format(delivered))
    c.disconnect()


def test_due_lets_the_application_skip_its_sensors():
    c = _connected("rate-due")
    r = Rate(c, 0.2)
    reads = 0
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1500:
        if r.due():
            reads += 1
            c.send_telemetry({"n": reads})
        c.listen()
        time.sleep_ms(10)
    print("reads", reads)
    eq(r.dropped, 0)  # a send made when due() said so always goes
    if reads < 2:
        raise AssertionError(reads)
    wait(lambda: len(telemetry("rate-due")) == reads, c, what="{} messages".format(reads))
    c.disconnect()


def test_coalesce_merges_and_listen_sends_at_the_send_time():
    c = _connected("rate-merge")
    r = Rate(c, 3600, mode="coalesce")
    c.send_telemetry({"a": 1})  # goes
    c.send_telemetry({"b": 2})  # held
    c.send_telemetry({"a": 3})  # merged: the latest a wins
    c.send_telemetry({"b": 4, "c": 5})
    c.send_telemetry({"x": 1}, component="lights")  # goes: its own send time
    c.send_telemetry({"x": 2}, component="lights")  # held for lights
    eq((r.merged, r.dropped), (2, 0))
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 300:
        c.listen()  # not due: nothing held goes
        time.sleep_ms(10)
    eq(len(telemetry("rate-merge")), 2)
    r.set(0)  # the send time comes: listen() sends what is held, the application sends nothing
    wait(lambda: len(telemetry("rate-merge")) == 4, c, what="the held messages")
    got = telemetry("rate-merge")
    bodies = [json.loads(m["body"]) for m in got]
    eq(bodies[:2], [{"a": 1}, {"x": 1}])
    eq(sorted(bodies[2:], key=len), [{"x": 2}, {"a": 3, "b": 4, "c": 5}])
    subs = [m["system"].get("$.sub") for m in got]
    eq(subs.count("lights"), 2)
    eq(r._held, {})
    c.disconnect()


def test_coalesce_held_values_go_when_the_interval_has_passed():
    # Nothing sent after the held one: listen() alone sends it once its time comes.
    c = _connected("rate-later")
    r = Rate(c, 2, mode="coalesce")
    c.send_telemetry({"a": 1})
    c.send_telemetry({"a": 2})
    c.send_telemetry({"b": 3})
    eq(r.merged, 1)
    wait(lambda: len(telemetry("rate-later")) == 2, c, what="the held message")
    eq(_bodies("rate-later"), [{"a": 1}, {"a": 2, "b": 3}])
    eq(r._held, {})
    c.disconnect()


def test_coalesce_held_values_join_the_next_send():
    c = _connected("rate-join")
    r = Rate(c, 3600, mode="coalesce")
    c.send_telemetry({"a": 1, "b": 1})
    c.send_telemetry({"b": 2})
    r.set(0)
    c.send_telemetry({"c": 3})  # due: goes with what was held
    wait(lambda: len(telemetry("rate-join")) == 2, c, what="2 messages")
    eq(_bodies("rate-join"), [{"a": 1, "b": 1}, {"b": 2, "c": 3}])
    c.disconnect()


def test_interval_set_from_the_cloud_is_acknowledged_and_used():
    c = _connected("rate-cloud")
    r = Rate(c, 0)
    app = []
    c.on(1, lambda n, val, comp: app.append(n) or True)  # IoTCEvents.PROPERTIES
    v = emuctl.call("POST", "/devices/rate-cloud/desired", {NAME: 3600})[1]["version"]
    ack = _ack("rate-cloud", c, v)
    eq((ack["value"], ack["ac"], ack["av"]), (3600, 200, v))
    eq(r.interval, 3600)
    for i in range(5):
        c.send_telemetry({"n": i})
    eq(r.dropped, 4)
    # A bad value: refused with an error status and a description, the interval unchanged.
    for bad in (-5, "fast", 86401):
        v = emuctl.call("POST", "/devices/rate-cloud/desired", {NAME: bad})[1]["version"]
        ack = _ack("rate-cloud", c, v)
        if ack["ac"] < 400 or NAME not in ack.get("ad", ""):
            raise AssertionError(ack)
        eq(ack["value"], bad)
        eq(r.interval, 3600)
        print("refused", repr(bad), "->", ack["ac"], ack["ad"])
    eq(app, [])  # the application's own PROPERTIES callback never sees it
    c.disconnect()


def test_interval_from_the_cloud_survives_a_restart():
    # Set and acknowledged in one session; a new client (a reboot: nothing in RAM) with
    # another interval in code gets the cloud's back from the twin at connect, although the
    # catch-up hands over only what was not acknowledged yet.
    c = _connected("rate-restart")
    r = Rate(c, 1)
    v = emuctl.call("POST", "/devices/rate-restart/desired", {NAME: 120})[1]["version"]
    eq(_ack("rate-restart", c, v)["ac"], 200)
    eq(r.interval, 120)
    c.disconnect()
    c2 = client("rate-restart")
    r2 = Rate(c2, 1)
    got = []
    c2.on(1, lambda n, val, comp: got.append(n) or True)  # IoTCEvents.PROPERTIES
    c2.connect()
    eq(r2.interval, 120)
    eq(got, [])
    # A reconnect of the same client keeps it too.
    r2.set(5)
    c2.disconnect()
    c2.connect()
    eq(r2.interval, 120)
    c2.disconnect()


def test_only_one_rate_per_client_and_close():
    c = client("rate-one")
    r = Rate(c, 10)
    try:
        Rate(c, 5)
    except Exception as e:
        eq(type(e).__name__, "IoTCError")
    else:
        raise AssertionError("a second Rate took the SEND hook")
    r.close()
    Rate(c, 5)
    for bad in (-1, 86401, "1", True, None):
        try:
            Rate(client("rate-bad"), bad)
        except ValueError as e:
            if NAME not in str(e):
                raise AssertionError(e)
        else:
            raise AssertionError(bad)
    try:
        Rate(client("rate-bad"), 1, mode="fast")
    except ValueError:
        pass
    else:
        raise AssertionError("mode fast taken")
