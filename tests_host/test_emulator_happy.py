"""The emulator's happy paths, driven by a raw client: DPS over HTTPS, hub connect, telemetry,
twin, direct methods, C2D and the control API that shows them."""

import ipaddress
import json
import threading
import uuid

from emulator import mqttcodec as m
from emulator import sas
from emulator import testclient as tc


def new_id(prefix="dev"):
    return "{}-{}".format(prefix, uuid.uuid4().hex[:8])


def test_ready_info(emulator):
    i = emulator.info
    for k in ("dps", "dps_mqtt", "hub", "hub_name", "control", "ca_pem", "ca_der", "id_scope",
              "group_id", "group_key"):
        assert i[k], k
    assert i["id_scope"] == "0ne0000EMU" and i["group_id"] == "SAS-IoT-Devices"
    # As on Azure, the assigned hub is a bare host name: its own loopback address, on 8883.
    assert i["hub"] == i["hub_name"] + ":8883"
    assert ipaddress.ip_address(i["hub_name"]).is_loopback and i["hub_name"] != "127.0.0.1"
    st = emulator.app.state()
    assert st["dps"] == i["dps"] and st["internal_errors"] == 0
    env = emulator.env()
    assert env["IOTC_EMU_CA"].endswith("ca.der") and env["IOTC_EMU_CONTROL"] == i["control"]


def test_dps_register_then_poll(emulator):
    info, dev = emulator.info, new_id()
    payload = {"modelId": "dtmi:com:example:Thermostat;1"}
    st, h, body = tc.register(info, dev, payload=payload)
    assert st == 202
    obj = json.loads(body)
    assert obj["status"] == "assigning" and obj["operationId"]
    assert h["retry-after"] == "1"
    st, h, body = tc.poll(info, dev, obj["operationId"])
    assert st == 200, body
    rs = json.loads(body)["registrationState"]
    assert rs["assignedHub"] == info["hub_name"] and rs["deviceId"] == dev
    assert rs["status"] == "assigned" and rs["substatus"] == "initialAssignment"
    assert rs["symmetricKey"] == {"enrollmentGroupId": "SAS-IoT-Devices"}
    d = emulator.app.device(dev)
    assert d["registration"]["payload"] == payload
    assert d["registration"]["model_id"] == "dtmi:com:example:Thermostat;1"
    assert not d["connected"]


def test_dps_keeps_the_connection(emulator):
    """HTTP/1.1 keep-alive, as DPS: register and poll on one TLS connection; `Connection: close`
    from the client ends it after the answer."""
    info, dev = emulator.info, new_id()
    tok = tc.dps_token(info, dev)
    base = "/{}/registrations/{}".format(info["id_scope"], dev)
    s = tc.tls_connect(info["dps"], info["ca_pem"])
    try:
        s.sendall(tc.request_bytes(info, "PUT", base + "/register?api-version=2021-06-01",
                                   {"registrationId": dev}, {"Authorization": tok}))
        st, h, body = tc.read_response(s)
        assert st == 202 and "connection" not in h
        op = json.loads(body)["operationId"]
        poll = "{}/operations/{}?api-version=2021-06-01".format(base, op)
        s.sendall(tc.request_bytes(info, "GET", poll, None, {"Authorization": tok}))
        st, h, body = tc.read_response(s)
        assert st == 200 and json.loads(body)["status"] == "assigned"
        s.sendall(tc.request_bytes(info, "GET", poll, None,
                                   {"Authorization": tok, "Connection": "close"}))
        st, h, body = tc.read_response(s)
        assert st == 200 and h["connection"] == "close"
        assert tc.read_all(s) == b""  # and closed
    finally:
        s.close()


def test_dps_legacy_data_and_raw_sr(emulator):
    """Legacy MicroPython iotc: body key `data`, raw (unencoded) sr, skn=registration."""
    info, dev = emulator.info, new_id()
    tok = tc.dps_token(info, dev, encode=False)
    path = "/{}/registrations/{}/register?api-version=2019-03-31".format(info["id_scope"], dev)
    st, _, body = tc.https(info, "PUT", path,
                           {"registrationId": dev, "data": {"iotcModelId": "dtmi:x:y;1"}},
                           {"authorization": tok})
    assert st == 202, body
    op = json.loads(body)["operationId"]
    st, _, body = tc.poll(info, dev, op, tok)
    assert st == 200
    reg = emulator.app.device(dev)["registration"]
    assert reg["model_id"] == "dtmi:x:y;1" and reg["legacy_data"]
    assert reg["payload"] == {"iotcModelId": "dtmi:x:y;1"}


def test_dps_status_lookup(emulator):
    info, dev = emulator.info, new_id()
    path = "/{}/registrations/{}?api-version=2021-10-01".format(info["id_scope"], dev)
    tok = tc.dps_token(info, dev)
    st, _, body = tc.https(info, "POST", path, {"registrationId": dev}, {"Authorization": tok})
    assert st == 404 and json.loads(body)["errorCode"] // 1000 == 404
    tc.provision(info, dev)
    st, _, body = tc.https(info, "POST", path, {"registrationId": dev}, {"Authorization": tok})
    assert st == 200 and json.loads(body)["assignedHub"] == info["hub_name"]


def test_individual_enrollment(emulator):
    info, dev = emulator.info, new_id("ind")
    key = emulator.app.add_enrollment("individual", registration_id=dev)["key"]
    rs = tc.provision(info, dev, key=key)
    assert "symmetricKey" not in rs
    c = tc.hub_connect(info, dev, key)
    c.close()


def test_hub_connect_telemetry(emulator):
    info, app, dev = emulator.info, emulator.app, new_id()
    tc.provision(info, dev)
    key = sas.derive_device_key(info["group_key"], dev)
    c = tc.hub_connect(info, dev, key, extra="&model-id=" + tc.quoted("dtmi:com:example:T;1"))
    try:
        d = app.device(dev)
        assert d["connected"] and d["model_id"] == "dtmi:com:example:T;1" and d["connects"] == 1
        topic = "devices/{}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&alert=on%20fire"
        c.publish(topic.format(dev), b'{"temperature": 21.5}', qos=1)
        c.publish("devices/{}/messages/events/$.sub=thermostat1".format(dev), b'{"t": 1}', qos=0)
        ev = app.wait_event(lambda e: e["type"] == "telemetry" and e["device"] == dev
                            and e["qos"] == 0)
        assert ev is not None
        t = app.telemetry(dev)
        assert t[0]["body"] == '{"temperature": 21.5}' and t[0]["qos"] == 1
        assert t[0]["system"] == {"$.ct": "application/json", "$.ce": "utf-8"}
        assert t[0]["properties"] == {"alert": "on fire"}
        assert t[1]["system"] == {"$.sub": "thermostat1"}
        c.send(m.pingreq())
        assert c.expect(m.PINGRESP)[0] == m.PINGRESP
    finally:
        c.close()


def test_twin_get_reported_desired(emulator):
    info, app, dev = emulator.info, emulator.app, new_id()
    tc.provision(info, dev)
    c = tc.hub_connect(info, dev, sas.derive_device_key(info["group_key"], dev))
    try:
        granted = c.subscribe("$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#")
        assert granted == [1, 1]
        c.publish("$iothub/twin/GET/?$rid=1")
        topic, payload, *_ = c.message("$iothub/twin/res/")
        assert topic == "$iothub/twin/res/200/?$rid=1"
        assert json.loads(payload) == {"desired": {"$version": 1}, "reported": {"$version": 1}}
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=2",
                  b'{"fw": "1.0", "x": {"a": 1}}')
        topic, payload, *_ = c.message("$iothub/twin/res/")
        assert topic == "$iothub/twin/res/204/?$rid=2&$version=2" and payload == b""
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=3", b'{"x": null}')
        c.message("$iothub/twin/res/204/")
        assert app.twin(dev)["reported"] == {"fw": "1.0", "$version": 3}
        v = app.set_desired(dev, {"targetTemperature": 21.5})
        assert v == 2
        topic, payload, *_ = c.message("$iothub/twin/PATCH/properties/desired/")
        assert topic == "$iothub/twin/PATCH/properties/desired/?$version=2"
        assert json.loads(payload) == {"targetTemperature": 21.5, "$version": 2}
        c.publish("$iothub/twin/GET/?$rid=4")
        _, payload, *_ = c.message("$iothub/twin/res/200/")
        assert json.loads(payload)["desired"] == {"targetTemperature": 21.5, "$version": 2}
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=5", b"{not json")
        topic, *_ = c.message("$iothub/twin/res/")
        assert topic == "$iothub/twin/res/400/?$rid=5"
    finally:
        c.close()


def test_direct_method(emulator):
    info, app, dev = emulator.info, emulator.app, new_id()
    tc.provision(info, dev)
    c = tc.hub_connect(info, dev, sas.derive_device_key(info["group_key"], dev))
    try:
        assert c.subscribe("$iothub/methods/POST/#") == [1]
        result = {}
        th = threading.Thread(target=lambda: result.update(
            app.invoke(dev, "reboot", {"delay": 2}, timeout=10)))
        th.start()
        topic, payload, *_ = c.message("$iothub/methods/POST/", timeout=10)
        assert topic.startswith("$iothub/methods/POST/reboot/?$rid=")
        assert json.loads(payload) == {"delay": 2}
        rid = topic.split("$rid=")[1]
        c.publish("$iothub/methods/res/200/?$rid=" + rid, b'{"ok": true}')
        th.join(15)
        assert result["status"] == 200 and result["payload"] == {"ok": True}
        # wait=0: start, answer, poll the call record
        call = app.invoke(dev, "ping", None, timeout=10, wait=False)
        topic, payload, *_ = c.message("$iothub/methods/POST/ping/")
        assert payload == b""
        c.publish("$iothub/methods/res/201/?$rid=" + topic.split("$rid=")[1], b"")
        ev = app.wait_event(lambda e: e["type"] == "method_result" and e.get("id") == call)
        assert ev["status"] == 201
        rec = app.method_call(call)
        assert rec["done"] and rec["status"] == 201 and rec["payload"] is None
        assert [x["name"] for x in app.methods(dev)] == ["reboot", "ping"]
    finally:
        c.close()


def test_method_timeout_and_offline(emulator):
    info, app, dev = emulator.info, emulator.app, new_id()
    tc.provision(info, dev)
    try:
        app.invoke(dev, "x", timeout=1)
        raise AssertionError("expected 404")
    except tc_app_error() as e:
        assert e.status == 404
    c = tc.hub_connect(info, dev, sas.derive_device_key(info["group_key"], dev))
    try:
        c.subscribe("$iothub/methods/POST/#")
        try:
            app.invoke(dev, "slow", {}, timeout=0.5)
            raise AssertionError("expected 504")
        except tc_app_error() as e:
            assert e.status == 504
    finally:
        c.close()


def tc_app_error():
    from emulator.app import AppError

    return AppError


def test_c2d(emulator):
    info, app, dev = emulator.info, emulator.app, new_id()
    tc.provision(info, dev)
    key = sas.derive_device_key(info["group_key"], dev)
    try:
        app.send_c2d(dev, "too early")
        raise AssertionError("C2D before the first connection must be refused")
    except tc_app_error() as e:
        assert e.status == 409
    c = tc.hub_connect(info, dev, key, clean=False)
    c2d = "devices/{}/messages/devicebound/".format(dev)
    try:
        assert c.subscribe(c2d + "#") == [1]
        mid = app.send_c2d(dev, "hello", {"method-name": "setLed", "empty": "", "k y": "v&w"})
        topic, payload, qos, pid, retain, dup = c.message(c2d)
        assert payload == b"hello" and qos == 1 and not dup
        assert "%24.mid=" + mid in topic and "method-name=setLed" in topic
        assert "&empty=&" in topic + "&" and "k%20y=v%26w" in topic
        c.close()  # no PUBACK: it must come again after reconnecting (CleanSession=0)
        c = tc.hub_connect(info, dev, key, clean=False)
        topic, payload, qos, pid, retain, dup = c.message(c2d)
        assert payload == b"hello" and dup
        c.send(m.puback(pid))
        assert app.wait_event(lambda e: e["type"] == "c2d_ack" and e.get("id") == mid)
        assert app.device(dev)["pending_c2d"] == 0
        assert app.device(dev)["subscriptions"] == {c2d + "#": 1}
    finally:
        c.close()


def test_events_long_poll(emulator):
    app = emulator.app
    last = app.last_seq()
    evs, seq = app.events(last, 0)
    assert evs == [] and seq == last
    dev = new_id()
    tc.provision(emulator.info, dev)
    ev = app.wait_event(lambda e: e["type"] == "dps_assigned" and e["device"] == dev, since=last)
    assert ev and ev["hub"] == emulator.info["hub_name"]


def test_events_of_one_device(emulator):
    app = emulator.app
    a, b = new_id(), new_id()
    tc.provision(emulator.info, a)
    tc.provision(emulator.info, b)
    res = app.get("/events?since=0&device=" + a)
    assert res["events"] and {e["device"] for e in res["events"]} == {a}
    assert res["last"] >= max(e["seq"] for e in res["events"])
