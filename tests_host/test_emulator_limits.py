"""Azure's limits, each answered as the service answers it (README here: "Limits, and where they
come from"). One emulator for the module; a test that lowers a limit puts it back after."""

import json
import subprocess
import sys
import threading
import time
import uuid

import pytest

from emufixture import ROOT, running_emulator
from emulator import mqttcodec as m
from emulator import sas
from emulator import testclient as tc
from emulator.app import AppError
from emulator.limits import DEFAULTS


@pytest.fixture(scope="module")
def emu():
    with running_emulator("iotc-emu-limits-") as e:
        yield e


@pytest.fixture(autouse=True)
def defaults_after(emu):
    yield
    emu.app.set_limits(**DEFAULTS)
    emu.app.clear_faults()


def device(emu, prefix="lim"):
    dev = "{}-{}".format(prefix, uuid.uuid4().hex[:8])
    tc.provision(emu.info, dev)
    return dev, sas.derive_device_key(emu.info["group_key"], dev)


def connected(emu, *subscriptions, clean=True):
    dev, key = device(emu)
    c = tc.hub_connect(emu.info, dev, key, clean=clean)
    if subscriptions:
        c.subscribe(*subscriptions)
    return dev, key, c


def service_error(fn, *args, **kw):
    """The AppError a control call ends with; its body must be Azure's error body."""
    with pytest.raises(AppError) as e:
        fn(*args, **kw)
    body = e.value.body
    assert body["errorCode"] // 1000 == e.value.status, body
    assert body["trackingId"] and body["message"] and body["timestampUtc"].endswith("Z"), body
    return e.value.status, body


# --- direct methods ------------------------------------------------------------------------------


def invoke_answered(emu, c, dev, answer, status=200, payload=None):
    """Invoke a method on dev and let the raw client answer with these bytes -> invoke's outcome
    (the result dict, or the AppError)."""
    out = {}

    def call():
        try:
            out["result"] = emu.app.invoke(dev, "cmd", payload, timeout=10)
        except AppError as e:
            out["error"] = e

    th = threading.Thread(target=call)
    th.start()
    topic, *_ = c.message("$iothub/methods/POST/cmd/", timeout=10)
    rid = topic.split("$rid=")[1]
    c.publish("$iothub/methods/res/{}/?$rid={}".format(status, rid), answer)
    th.join(15)
    return out.get("result") or out["error"]


@pytest.mark.parametrize("answer", [b"done", b"{broken", b"\xff\xfe", b" "])
def test_method_response_not_json_is_502(emu, answer):
    dev, key, c = connected(emu, "$iothub/methods/POST/#")
    try:
        e = invoke_answered(emu, c, dev, answer)
        assert isinstance(e, AppError) and e.status == 502
        assert e.body["errorCode"] == 502000
        assert "InvalidResponseWhileProxying" in e.body["message"]
        rec = emu.app.methods(dev)[-1]
        assert rec["done"] and rec["status"] == 200 and rec["failure"]["status"] == 502
    finally:
        c.close()


@pytest.mark.parametrize("answer,value", [(b"", None), (b'"done"', "done"), (b"42", 42),
                                          (b'{"ok": true}', {"ok": True}), (b"null", None)])
def test_method_response_json_or_empty(emu, answer, value):
    dev, key, c = connected(emu, "$iothub/methods/POST/#")
    try:
        res = invoke_answered(emu, c, dev, answer, status=201)
        assert res["status"] == 201 and res["payload"] == value
    finally:
        c.close()


def test_method_not_json_through_the_cli(emu):
    dev, key, c = connected(emu, "$iothub/methods/POST/#")
    try:
        res = {}
        th = threading.Thread(target=lambda: res.update(p=subprocess.run(
            [sys.executable, "-m", "tests_host.emulator", "invoke", dev, "cmd", "--control",
             emu.info["control"]], cwd=ROOT, capture_output=True, text=True, timeout=30)))
        th.start()
        topic, *_ = c.message("$iothub/methods/POST/cmd/", timeout=20)
        c.publish("$iothub/methods/res/200/?$rid=" + topic.split("$rid=")[1], b"done")
        th.join(30)
        p = res["p"]
        assert p.returncode == 1 and "emulator answered 502" in p.stderr
        assert json.loads(p.stderr.split(": ", 1)[1])["errorCode"] == 502000
    finally:
        c.close()


def test_method_payload_limits(emu):
    emu.app.set_limits(method_max_bytes=1000)
    dev, key, c = connected(emu, "$iothub/methods/POST/#")
    try:
        status, body = service_error(emu.app.invoke, dev, "big", "x" * 1000, timeout=5)
        assert status == 400 and body["errorCode"] == 400004 and "1000" in body["message"]
        assert invoke_answered(emu, c, dev, b'"' + b"y" * 998 + b'"')["status"] == 200
        e = invoke_answered(emu, c, dev, b'"' + b"y" * 999 + b'"')  # 1001 bytes
        assert isinstance(e, AppError) and e.status == 413 and e.body["errorCode"] == 413001
    finally:
        c.close()


def test_method_offline_and_timeout_bodies(emu):
    dev, key = device(emu)
    status, body = service_error(emu.app.invoke, dev, "x", timeout=1)
    assert status == 404 and body["errorCode"] == 404103
    c = tc.hub_connect(emu.info, dev, key)
    try:
        c.subscribe("$iothub/methods/POST/#")
        status, body = service_error(emu.app.invoke, dev, "slow", {}, timeout=0.5)
        assert status == 504 and body["errorCode"] == 504101
    finally:
        c.close()


# --- cloud-to-device messages --------------------------------------------------------------------


def test_c2d_size(emu):
    dev, key, c = connected(emu)
    c.close()
    emu.app.set_limits(c2d_max_bytes=100)
    status, body = service_error(emu.app.send_c2d, dev, "x" * 95, {"prop": "yz"})  # 95+4+2
    assert status == 413 and body["errorCode"] == 413001
    emu.app.send_c2d(dev, "x" * 94, {"prop": "yz"})  # exactly 100


def test_c2d_queue_holds_50(emu):
    """Azure's value, not a lowered one: the 51st pending message is refused (403004)."""
    dev, key, c = connected(emu, clean=False)
    c.close()
    emu.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    for i in range(50):
        emu.app.send_c2d(dev, "m{}".format(i))
    status, body = service_error(emu.app.send_c2d, dev, "m50")
    assert status == 403 and body["errorCode"] == 403004
    assert emu.app.device(dev)["pending_c2d"] == 50


# --- DPS -----------------------------------------------------------------------------------------


def test_dps_registrations_per_minute(emulator_factory):
    emu = emulator_factory(extra_args=["--limit", "dps_registrations_per_min=3"])
    info = emu.info
    for _ in range(3):
        assert tc.register(info, "reg-" + uuid.uuid4().hex[:8])[0] == 202
    st, h, body = tc.register(info, "reg-" + uuid.uuid4().hex[:8])
    obj = json.loads(body)
    assert st == 429 and obj["errorCode"] == 429001 and 1 <= int(h["retry-after"]) <= 60
    # a refused registration is not counted; what DPS refuses first (a bad key) is not either
    dev = "reg-" + uuid.uuid4().hex[:8]
    bad = tc.dps_token(info, dev, key=sas.derive_device_key(info["group_key"], "other"))
    assert tc.register(info, dev, bad)[0] == 401
    emu.app.set_limits(dps_registrations_per_min=200)
    assert tc.register(info, dev)[0] == 202


def test_dps_registration_throttle_over_mqtt(emulator_factory):
    emu = emulator_factory(extra_args=["--limit", "dps_registrations_per_min=1"])
    info = emu.info
    assert tc.register(info, "reg-" + uuid.uuid4().hex[:8])[0] == 202
    dev = "regm-" + uuid.uuid4().hex[:6]
    c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
    try:
        user = "{}/registrations/{}/api-version=2019-03-31".format(info["id_scope"], dev)
        assert c.connect(dev, user, tc.dps_token(info, dev))[0] == 0
        c.subscribe("$dps/registrations/res/#")
        c.publish("$dps/registrations/PUT/iotdps-register/?$rid=7",
                  json.dumps({"registrationId": dev}))
        topic, payload, *_ = c.message("$dps/registrations/res/")
        assert topic.startswith("$dps/registrations/res/429/?$rid=7&retry-after=")
        assert json.loads(payload)["errorCode"] == 429001
    finally:
        c.close()


def test_dps_polls_per_10_seconds(emu):
    """Azure's value: 5 polls of one registration in 10 s, the 6th is throttled."""
    info, dev = emu.info, "poll-" + uuid.uuid4().hex[:8]
    emu.app.fault(kind="dps_assigning", polls=20, count=1)
    op = json.loads(tc.register(info, dev)[2])["operationId"]
    for _ in range(5):
        assert tc.poll(info, dev, op)[0] == 202
    st, h, body = tc.poll(info, dev, op)
    assert st == 429 and json.loads(body)["errorCode"] == 429001
    assert 1 <= int(h["retry-after"]) <= 10
    other = "poll-" + uuid.uuid4().hex[:8]  # per registration: another one polls freely
    assert tc.provision(info, other)["status"] == "assigned"


# --- twins ---------------------------------------------------------------------------------------


def reported(c, rid, patch):
    c.publish("$iothub/twin/PATCH/properties/reported/?$rid={}".format(rid), json.dumps(patch))
    topic, payload, *_ = c.message("$iothub/twin/res/")
    assert topic.split("?$rid=")[1].split("&")[0] == str(rid)
    return int(topic.split("/")[3]), payload


def test_twin_section_size(emu):
    dev, key, c = connected(emu, "$iothub/twin/res/#")
    try:
        chunk = "v" * 4000  # each property: 1-2 bytes of name + 4000 of value
        for i in range(8):  # 8 x ~4001 = 32,010 bytes: within 32 KB
            assert reported(c, i, {"p{}".format(i): chunk})[0] == 204
        status, body = reported(c, 8, {"p8": "v" * 1000})  # would be 33,012
        assert status == 400 and json.loads(body)["errorCode"] == 400004
        assert "p8" not in emu.app.twin(dev)["reported"]
        assert reported(c, 9, {"p0": None, "p8": "v" * 1000})[0] == 204  # smaller again
        emu.app.set_desired(dev, {"d{}".format(i): chunk for i in range(8)})
        status, body = service_error(emu.app.set_desired, dev, {"d8": chunk})
        assert status == 400 and body["errorCode"] == 400004
    finally:
        c.close()


def test_twin_measured_as_iot_hub_measures(emu):
    """Numbers count 8 bytes, booleans 4, `$` keys nothing (iot-hub-devguide-device-twins.md)."""
    emu.app.set_limits(twin_section_max_bytes=20, twin_property_max_bytes=20)
    dev, key, c = connected(emu, "$iothub/twin/res/#")
    try:
        assert reported(c, 1, {"a": 1, "b": True, "$x": "ignored"})[0] == 204  # 1+8 + 1+4
        assert reported(c, 2, {"cc": 12345})[0] == 400  # 14 + 2+8 = 24
        assert reported(c, 3, {"c": "123"})[0] == 204  # 14 + 1+3 = 18
    finally:
        c.close()


def test_twin_property_size(emu):
    dev, key, c = connected(emu, "$iothub/twin/res/#")
    try:
        assert reported(c, 1, {"p": "v" * 4095})[0] == 204  # 1 + 4095 = 4 KB
        status, body = reported(c, 2, {"q": "v" * 4096})
        assert status == 400 and "property q" in json.loads(body)["message"]
        # a component's properties count one by one, not the component as a whole
        comp = {"__t": "c", "x": "v" * 3000, "y": "v" * 3000}
        assert reported(c, 3, {"thermostat1": comp})[0] == 204
        assert reported(c, 4, {"thermostat1": {"z": {"deep": "v" * 4091}}})[0] == 204  # 4,096
        status, body = reported(c, 5, {"thermostat1": {"z": {"deep": "v" * 4092}}})
        assert status == 400 and "thermostat1.z" in json.loads(body)["message"]
    finally:
        c.close()


def test_twin_depth(emu):
    """Ten levels at most (the section is one), refused whatever the depth: never a crash."""
    dev, key, c = connected(emu, "$iothub/twin/res/#")
    try:
        nine = {"a": 1}
        for _ in range(8):
            nine = {"n": nine}
        assert reported(c, 1, {"p": nine})[0] == 204  # section + p + 8 + {"a"} = 10
        assert reported(c, 2, {"p": [nine]})[0] == 400  # an array is a level too
        deep = json.loads("[" * 900 + "]" * 900)
        status, body = reported(c, 3, {"p": deep})
        assert status == 400 and "deeper than 10" in json.loads(body)["message"]
        status, body = service_error(emu.app.set_desired, dev, {"p": deep})
        assert status == 400 and body["errorCode"] == 400004
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=4",
                  '{"p": ' + "[" * 5000 + "]" * 5000 + "}")  # beyond what a parser takes
        topic, payload, *_ = c.message("$iothub/twin/res/")
        assert topic.startswith("$iothub/twin/res/400/")
    finally:
        c.close()
    assert emu.app.state()["internal_errors"] == 0


def test_twin_updates_per_second(emu):
    emu.app.set_limits(twin_updates_per_s=3)
    dev, key, c = connected(emu, "$iothub/twin/res/#")
    time.sleep(1.1)  # the hub-wide count of the last second starts empty
    try:
        results = [reported(c, i, {"n": i})[0] for i in range(3)]
        status, body = reported(c, 3, {"n": 3})
        assert results == [204] * 3 and status == 429
        assert json.loads(body)["errorCode"] == 429001
        status, body = service_error(emu.app.set_desired, dev, {"x": 1})  # the same budget
        assert status == 429
        assert emu.app.twin(dev)["reported"]["n"] == 2
    finally:
        c.close()


# --- device-to-cloud -----------------------------------------------------------------------------


def test_d2c_size_disconnects(emu):
    emu.app.set_limits(d2c_max_bytes=1000)
    dev, key, c = connected(emu)
    events = "devices/{}/messages/events/".format(dev)
    try:
        c.publish(events + "k=vvv&%24.ct=text", b"x" * 992, qos=1)  # 992 + 1+3 + 4 = 1,000
        c.publish(events + "k=vvvv&%24.ct=text", b"x" * 992, qos=0)  # 1,001
        assert c.closed()
    finally:
        c.close()
    ev = emu.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "MessageTooLarge" in ev["reason"] and len(emu.app.telemetry(dev)) == 1


def test_d2c_full_size_accepted(emu):
    """Azure's 256 KB itself: a message of exactly 262,144 bytes is taken."""
    dev, key, c = connected(emu)
    try:
        c.publish("devices/{}/messages/events/".format(dev), b"x" * 262144, qos=1)
        assert len(emu.app.telemetry(dev)[0]["body"]) == 262144
    finally:
        c.close()


def test_d2c_traffic_shaping_then_disconnect(emu):
    """Above the rate: the burst goes through, then messages wait (PUBACK held back) and once
    the backlog is full the hub drops the connection (429002), as IoT Hub does."""
    emu.app.set_limits(d2c_per_s=1, d2c_burst=2, d2c_backlog=2)
    dev, key, c = connected(emu)
    events = "devices/{}/messages/events/".format(dev)
    try:
        pids = []
        for i in range(4):  # 2 at once, then 2 shaped (1 s apart)
            pid = c.next_pid()
            c.send(m.publish(events, str(i), qos=1, pid=pid))
            pids.append(pid)
        acks = [c.expect(m.PUBACK, timeout=1)[2] for _ in range(2)]
        assert [int.from_bytes(a, "big") for a in acks] == pids[:2]
        assert len(emu.app.telemetry(dev)) == 2  # the shaped ones wait
        c.send(m.publish(events, "over", qos=1, pid=c.next_pid()))  # backlog full
        assert c.closed(timeout=5)
    finally:
        c.close()
    ev = emu.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "429002" in ev["reason"]
    got = emu.app.wait_event(lambda e: e["type"] == "telemetry" and e["device"] == dev
                             and e["body"] == "3", timeout=5)
    assert got and [t["body"] for t in emu.app.telemetry(dev)] == ["0", "1", "2", "3"]
