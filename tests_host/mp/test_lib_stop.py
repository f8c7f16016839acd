# iotc.stop (iotc-stop) against the emulator: the cloud stops the client, which answers, goes
# down, stays down (the emulator sees no CONNECT), and comes back only as docs/stop.md says.
# The boot_* cases are runs of one board: tests_host/test_lib_stop.py runs them one after the
# other, each a new process on the same folder (IOTC_TEST_DIR), as a reboot is.
import json
import os
import time

import emuctl
from iotc import IoTCEvents
from iotc.sas import unix_time
from iotc.stop import NAME, REASON, Stop
from libutil import client, device, eq, wait

DIR = os.getenv("IOTC_TEST_DIR") or os.getenv("TMPDIR") or "/tmp"


def _path(device_id):
    return "{}/{}.json".format(DIR, device_id)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _stopped_client(device_id, connect=True):
    # -> (client, Stop, the CONNECTION events), connected
    c = client(device_id)
    events = []
    c.on(IoTCEvents.CONNECTION, lambda up, why: events.append((up, why)))
    app = []
    c.on(IoTCEvents.COMMANDS, lambda cmd, ack: app.append(cmd.name) or {})
    c.on(IoTCEvents.ENQUEUED_COMMANDS, lambda cmd: app.append(cmd.name))
    s = Stop(c, _path(device_id))
    s.app = app
    if connect:
        c.connect()
        if not c.is_connected(True):
            raise AssertionError("not connected")
    return c, s, events


def _invoke(device_id, body):
    return emuctl.call("POST", "/devices/{}/methods/{}?wait=0&timeout=10".format(
        device_id, NAME), body)[1]["id"]


def _result(c, cid):
    res = []
    wait(lambda: res.append(emuctl.call("GET", "/methods/" + cid)[1]) or res[-1].get("done"),
         c, what="the method's answer")
    return res[-1]["status"], res[-1]["payload"]


def _down(c, device_id, ms=1500):
    # The client stays down: listen() for a while, and the emulator sees no new CONNECT.
    before = device(device_id)["connects"]
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < ms:
        c.listen()
        time.sleep_ms(20)
    dev = device(device_id)
    eq((dev["connects"], dev["connected"], c.is_connected(True)), (before, False, False))


def test_method_stops_until_the_application_connects_again():
    c, s, events = _stopped_client("stop-method")
    cid = _invoke("stop-method", 3600)
    wait(lambda: not c.is_connected(True), c, what="the stop")
    status, payload = _result(c, cid)  # answered before the link went
    eq(status, 200)
    eq(payload["until"], s.until)
    if abs(s.until - (unix_time() + 3600)) > 60:
        raise AssertionError(s.until)
    eq(events, [(True, "connected"), (False, REASON)])
    with open(_path("stop-method")) as f:
        eq(json.load(f), {"until": s.until, "seconds": 3600})
    _down(c, "stop-method")
    eq(device("stop-method")["connects"], 1)
    log = c.logger.text()
    print(log)
    # The stop's own line says when the client looks again; none says it retries soon.
    if "retrying" in log or "iotcStop: no connect until {}".format(s.until) not in log:
        raise AssertionError(log)
    eq(s.app, [])  # the application's COMMANDS callback never saw it
    # The stop came in this run: the application's connect() ends it.
    c.connect()
    eq(c.is_connected(True), True)
    eq(device("stop-method")["connects"], 2)
    eq((s.stopped, _exists(_path("stop-method"))), (False, False))
    c.disconnect()


def test_indefinite_stop_ends_only_by_connect():
    c, s, events = _stopped_client("stop-forever")
    cid = _invoke("stop-forever", None)
    wait(lambda: not c.is_connected(True), c, what="the stop")
    eq(_result(c, cid), (200, {"until": None}))
    eq(events[-1], (False, REASON))
    eq(c.is_connected(), False)  # nothing scheduled: listen() never comes back by itself
    _down(c, "stop-forever")
    c.connect(force_dps=True)  # the application's, whatever force_dps says
    eq(c.is_connected(True), True)
    c.disconnect()


def test_clear_in_the_same_run_reconnects_at_the_next_listen():
    c, s, events = _stopped_client("stop-clear")
    _result(c, _invoke("stop-clear", {}))  # {}: no seconds, until cleared
    wait(lambda: not c.is_connected(True), c, what="the stop")
    eq((c.is_connected(), s.until), (False, None))
    _down(c, "stop-clear", 500)
    s.clear()
    wait(lambda: c.is_connected(True), c, what="the reconnect after clear()")
    eq((device("stop-clear")["connects"], _exists(_path("stop-clear"))), (2, False))
    c.disconnect()


def test_stop_expires_and_listen_reconnects_by_itself():
    c, s, events = _stopped_client("stop-expiry")
    cid = _invoke("stop-expiry", {"seconds": 1.2})
    wait(lambda: not c.is_connected(True), c, what="the stop")
    status, payload = _result(c, cid)
    eq((status, s._secs), (200, 2))  # a fraction rounded up
    until = payload["until"]
    eq(c.is_connected(), True)  # a reconnect is scheduled: at the stop's end
    wait(lambda: c.is_connected(True), c, timeout_ms=30000, what="the reconnect at the end")
    now = unix_time()
    if now < until:
        raise AssertionError("reconnected at {}, before the stop's end {}".format(now, until))
    eq(device("stop-expiry")["connects"], 2)
    eq((s.stopped, _exists(_path("stop-expiry"))), (False, False))
    eq([e[0] for e in events], [True, False, True])
    c.disconnect()


def test_bad_payload_refused_and_still_connected():
    c, s, events = _stopped_client("stop-bad")
    for body in (-5, 0, "soon", {"seconds": "x"}, True):
        status, payload = _result(c, _invoke("stop-bad", body))
        eq(status, 400)
        if NAME not in payload["error"]:
            raise AssertionError(payload)
    eq((c.is_connected(True), s.stopped, _exists(_path("stop-bad"))), (True, False, False))
    eq(len(events), 1)
    c.disconnect()


def test_offline_command_stops_while_connected():
    c, s, events = _stopped_client("stop-c2d")
    emuctl.call("POST", "/devices/stop-c2d/c2d",
                {"body": '{"seconds": 3600}', "properties": {"method-name": NAME}})
    wait(lambda: not c.is_connected(True), c, what="the stop")
    eq(events[-1], (False, REASON))
    eq((s.stopped, s._secs), (True, 3600))
    eq(device("stop-c2d")["pending_c2d"], 0)  # acknowledged before the link went
    _down(c, "stop-c2d")
    c.connect()
    _down_not = device("stop-c2d")
    eq((_down_not["connects"], _down_not["connected"]), (2, True))
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1000:  # not delivered a second time
        c.listen()
        time.sleep_ms(20)
    eq((c.is_connected(True), s.stopped, s.app), (True, False, []))
    c.disconnect()


def test_offline_command_queued_while_away_stops_at_the_connect():
    # IoT Central's offline command for a device that is away: delivered at its next connect,
    # which completes; the first listen() then ends the link.
    c, s, events = _stopped_client("stop-queued")
    c.disconnect()
    emuctl.call("POST", "/devices/stop-queued/c2d",
                {"body": "@", "properties": {"method-name": NAME}})  # "@": no parameter
    c.connect()
    wait(lambda: not c.is_connected(True), c, what="the stop")
    eq(events[-2:], [(True, "connected"), (False, REASON)])
    eq((s.stopped, s.until), (True, None))
    eq(device("stop-queued")["pending_c2d"], 0)
    _down(c, "stop-queued")
    c.disconnect()


def test_unset_clock_holds_the_stop_its_length_from_boot():
    # A stop kept on flash whose start is later than the board's clock (the clock is not set,
    # as after a power cut without a kept clock): it holds its whole length from this boot,
    # then listen() connects by itself.
    with open(_path("stop-clock"), "w") as f:
        json.dump({"until": unix_time() + 10 ** 8, "seconds": 2}, f)
    c, s, events = _stopped_client("stop-clock", connect=False)
    c.connect()
    eq(c.is_connected(True), False)
    eq(events, [(False, "{} until {}".format(REASON, s.until))])
    left = s.left()
    if not 0 < left <= 2:
        raise AssertionError(left)
    wait(lambda: c.is_connected(True), c, timeout_ms=30000, what="the reconnect at the end")
    eq(s.stopped, False)
    c.disconnect()


def test_stop_made_after_connect_still_holds_a_kept_stop():
    with open(_path("stop-late"), "w") as f:
        json.dump({"until": unix_time() + 3600, "seconds": 3600}, f)
    c = client("stop-late")
    events = []
    c.on(IoTCEvents.CONNECTION, lambda up, why: events.append((up, why)))
    c.connect()
    s = Stop(c, _path("stop-late"))
    wait(lambda: not c.is_connected(True), c, what="the stop")
    eq(events, [(True, "connected"), (False, REASON)])
    _down(c, "stop-late")
    c.connect()  # a stop from before this run: held
    eq(c.is_connected(True), False)
    s.clear()
    wait(lambda: c.is_connected(True), c, what="the reconnect after clear()")
    c.disconnect()


def test_a_file_that_is_not_a_stop_is_ignored():
    with open(_path("stop-garbage"), "w") as f:
        f.write("{not json")
    c, s, events = _stopped_client("stop-garbage")
    eq(s.stopped, False)
    if "ignored" not in c.logger.text():
        raise AssertionError(c.logger.text())
    c.disconnect()


# One board across reboots: each boot_* a new process on the same folder.

def boot_stopped_by_a_method():
    c, s, events = _stopped_client("stop-boot")
    _result(c, _invoke("stop-boot", 3600))
    wait(lambda: not c.is_connected(True), c, what="the stop")
    eq(events[-1], (False, REASON))


def boot_still_stopped_then_cleared():
    c, s, events = _stopped_client("stop-boot", connect=False)
    eq(s.stopped, True)
    c.connect()  # the boot's connect(): held
    eq(c.is_connected(True), False)
    eq(events, [(False, "{} until {}".format(REASON, s.until))])
    _down(c, "stop-boot")
    c.connect()  # again: a stop from before the reboot holds until it expires or clear()
    eq(c.is_connected(True), False)
    _down(c, "stop-boot")
    eq(device("stop-boot")["connects"], 1)
    s.clear()  # the connect the stop held goes ahead at the next listen()
    wait(lambda: c.is_connected(True), c, what="the reconnect after clear()")
    eq(device("stop-boot")["connects"], 2)
    eq(_exists(_path("stop-boot")), False)
    c.disconnect()


def boot_stopped_for_15s():
    # 15 s: the next boot must come while the stop holds, on a busy machine too.
    c, s, events = _stopped_client("stop-boot-exp")
    _result(c, _invoke("stop-boot-exp", {"seconds": 15}))
    wait(lambda: not c.is_connected(True), c, what="the stop")


def boot_held_until_it_expires():
    c, s, events = _stopped_client("stop-boot-exp", connect=False)
    until = s.until
    print("booted", until - unix_time(), "s before the stop's end")
    c.connect()  # held, and back by itself at the end
    eq(c.is_connected(True), False)
    eq(events, [(False, "{} until {}".format(REASON, until))])
    wait(lambda: c.is_connected(True), c, timeout_ms=30000, what="the reconnect")
    if unix_time() < until:
        raise AssertionError("reconnected before {}".format(until))
    print(c.logger.text())
    eq(_exists(_path("stop-boot-exp")), False)
    c.disconnect()
