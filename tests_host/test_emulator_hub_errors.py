"""IoT Hub's answers to bad clients (PROTOCOL.md §3.1): CONNACK codes, closed connections for
QoS 2, unknown topics and garbage, SUBACK 0x80, keep-alive, duplicate client ids, token expiry.
Each test also checks that another device keeps being served."""

import socket
import time
import uuid

import pytest

from emulator import mqttcodec as m
from emulator import sas
from emulator import testclient as tc


def new_device(emulator):
    dev = "hub-" + uuid.uuid4().hex[:8]
    tc.provision(emulator.info, dev)
    return dev, sas.derive_device_key(emulator.info["group_key"], dev)


@pytest.fixture
def witness(emulator):
    """A connected device that must stay served while a test misbehaves next to it."""
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    c.subscribe("$iothub/twin/res/#")
    yield c
    c.publish("$iothub/twin/GET/?$rid=w")
    topic, *_ = c.message("$iothub/twin/res/")
    assert topic == "$iothub/twin/res/200/?$rid=w"
    c.close()


def connack(emulator, client_id, username, password, **kw):
    c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
    try:
        code, _ = c.connect(client_id, username, password, **kw)
        if code:
            assert c.closed(), "refused connection must be closed"
        return code
    finally:
        c.close()


def test_connack_codes(emulator, witness):
    info = emulator.info
    dev, key = new_device(emulator)
    user, tok = tc.hub_username(info, dev), tc.hub_token(info, dev, key)
    assert connack(emulator, dev, user, tok) == 0
    assert connack(emulator, "", user, tok) == 2
    assert connack(emulator, dev + "x", user, tok) == 2
    assert connack(emulator, dev, "just-a-name", tok) == 4
    assert connack(emulator, dev, user, None) == 4
    assert connack(emulator, dev, user, "password") == 4
    other_key = sas.derive_device_key(info["group_key"], "other")
    assert connack(emulator, dev, user, tc.hub_token(info, dev, other_key)) == 5
    assert connack(emulator, dev, user, tc.hub_token(info, dev, key, expiry=time.time() - 1)) == 5
    assert connack(emulator, dev, "wrong.hub/{}/?api-version=2021-04-12".format(dev), tok) == 5
    stranger = "never-registered"
    assert connack(emulator, stranger, tc.hub_username(info, stranger),
                   tc.hub_token(info, stranger, other_key)) == 5
    # token for another device, signed with this device's key
    assert connack(emulator, dev, user, tc.hub_token(info, "other", key)) == 5
    # raw sr and URL-encoded sr both work; unknown username parameters are tolerated
    assert connack(emulator, dev, user + "&DeviceClientType=x%2F1&zzz=1",
                   tc.hub_token(info, dev, key, encode=False)) == 0
    evs, _ = emulator.app.events(0)
    assert any(e["type"] == "connect_refused" and e["code"] == 5 for e in evs)


def test_api_version(emulator, witness):
    """An api-version IoT Hub does not know is refused (CONNACK 1, see README: Limits); none at
    all is accepted, as IoT Hub does (azure-docs#16306)."""
    info = emulator.info
    dev, key = new_device(emulator)
    tok = tc.hub_token(info, dev, key)
    base = "{}/{}/".format(info["hub_name"], dev)
    assert connack(emulator, dev, base + "?api-version=2015-01-01", tok) == 1
    assert connack(emulator, dev, base + "?api-version=&model-id=x", tok) == 1
    assert connack(emulator, dev, base, tok) == 0
    for v in ("2021-04-12", "2020-09-30", "2019-10-01", "2019-03-30", "2018-06-30"):
        assert connack(emulator, dev, base + "?api-version=" + v, tok) == 0


@pytest.mark.parametrize("bag", ["$.ct=a&$.ct=b", "%24.ct=application%2Fjson&$.ct=text",
                                 "$.mid=1&x=2&%24.mid=3"])
def test_duplicate_system_property_closes(emulator, witness, bag):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.publish("devices/{}/messages/events/{}".format(dev, bag), b"{}")
        assert c.closed()
    finally:
        c.close()
    ev = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "twice" in ev["reason"]
    assert emulator.app.telemetry(dev) == []


def test_repeated_application_property_is_kept(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.publish("devices/{}/messages/events/a=1&a=2".format(dev), b"{}", qos=1)
        assert emulator.app.telemetry(dev)[0]["properties"] == {"a": "2"}
    finally:
        c.close()


def test_bad_protocol_level(emulator, witness):
    c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
    try:
        c.send(m.connect("x", level=3, protocol="MQIsdp"))
        t, f, body = c.recv()
        assert (t, body[1]) == (m.CONNACK, 1)
        assert c.closed()
    finally:
        c.close()


@pytest.mark.parametrize("data", [
    b"\x00\x00\x00\x00",  # reserved packet type
    b"\xff\xff\xff\xff\xff",  # remaining length over 4 bytes
    m.pingreq(),  # not CONNECT first
    b"\x10\x04\x00\x04MQ",  # CONNECT fields longer than the packet
    b"GET / HTTP/1.1\r\n\r\n",
])
def test_garbage_before_connect_closes(emulator, witness, data):
    c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
    try:
        c.send(data)
        assert c.closed()
    finally:
        c.close()


def test_garbage_after_connect_closes(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.send(b"\xf0\x00garbage")
        assert c.closed()
    finally:
        c.close()
    ev = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "protocol error" in ev["reason"]
    assert not emulator.app.device(dev)["connected"]


def test_plain_tcp_on_hub_port(emulator, witness):
    host, port = tc.split_hostport(emulator.info["hub"])
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(m.connect("x"))
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()


def test_qos2_publish_closes(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.send(m.publish("devices/{}/messages/events/".format(dev), b"x", qos=2, pid=1))
        assert c.closed()
    finally:
        c.close()


@pytest.mark.parametrize("topic", [
    "devices/{dev}/messages/devicebound/",
    "devices/someone-else/messages/events/",
    "$iothub/methods/res/abc/?$rid=1",
    "random/topic",
])
def test_publish_to_unknown_topic_closes(emulator, witness, topic):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.publish(topic.format(dev=dev), b"x")
        assert c.closed()
    finally:
        c.close()


def test_subscription_rules(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        assert c.subscribe("devices/{}/messages/devicebound/#".format(dev), "$iothub/twin/res/#",
                           ("$iothub/twin/PATCH/properties/desired/#", 0),
                           ("$iothub/methods/POST/#", 2)) == [1, 1, 0, 1]
        assert c.subscribe("#", "$iothub/twin/res/+", "devices/other/messages/devicebound/#",
                           "devices/{}/messages/events/#".format(dev)) == [0x80] * 4
        assert c.subscribe("$iothub/streams/POST/#") == [1]  # the 5th
        assert c.subscribe("$iothub/twin/res/#") == [1]  # again: not a new one
        assert c.subscribe("$iothub/streams/POST/x/#") == [0x80]  # a 6th
        c.send(m.unsubscribe(99, ["$iothub/streams/POST/#"]))
        assert c.expect(m.UNSUBACK)[2] == b"\x00\x63"
        assert len(emulator.app.device(dev)["subscriptions"]) == 4
        c.send(b"\x80\x03\x00\x01\x00")  # SUBSCRIBE with bad flags and no topics
        assert c.closed()
    finally:
        c.close()


def test_keepalive_expiry(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key, keepalive=1)
    try:
        for _ in range(3):  # pings keep it open
            time.sleep(0.8)
            c.send(m.pingreq())
            assert c.expect(m.PINGRESP)
        t0 = time.monotonic()
        assert c.closed(timeout=4)
        assert 1.2 < time.monotonic() - t0 < 3.0
    finally:
        c.close()
    ev = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "keep-alive" in ev["reason"]


def test_duplicate_client_id_drops_old(emulator, witness):
    dev, key = new_device(emulator)
    first = tc.hub_connect(emulator.info, dev, key)
    second = tc.hub_connect(emulator.info, dev, key)
    try:
        assert first.closed()
        second.send(m.pingreq())
        assert second.expect(m.PINGRESP)
        d = emulator.app.device(dev)
        assert d["connected"] and d["connects"] == 2
        ev = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
        assert "replaced" in ev["reason"]
    finally:
        first.close()
        second.close()


def test_token_expiry_disconnects(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key, ttl=2)
    try:
        assert c.closed(timeout=5)
    finally:
        c.close()
    ev = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "expired" in ev["reason"]


def test_clean_session_drops_queue(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key, clean=False)
    c.subscribe("$iothub/methods/POST/#")
    c.close()
    emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    emulator.app.send_c2d(dev, "queued while offline")
    c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
    try:
        code, present = c.connect(dev, tc.hub_username(emulator.info, dev),
                                  tc.hub_token(emulator.info, dev, key), clean=False)
        assert code == 0 and present
        assert emulator.app.device(dev)["subscriptions"] == {"$iothub/methods/POST/#": 1}
    finally:
        c.close()
    emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    c = tc.hub_connect(emulator.info, dev, key, clean=True)
    try:
        d = emulator.app.device(dev)
        assert d["subscriptions"] == {} and d["pending_c2d"] == 0
    finally:
        c.close()


def test_will_message(emulator, witness):
    dev, key = new_device(emulator)
    c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
    will = ("devices/{}/messages/events/".format(dev), b"gone", 1, False)
    token = tc.hub_token(emulator.info, dev, key)
    assert c.connect(dev, tc.hub_username(emulator.info, dev), token, will=will)[0] == 0
    c.close()  # no DISCONNECT: the will is published
    ev = emulator.app.wait_event(lambda e: e["type"] == "telemetry" and e["device"] == dev)
    assert ev["body"] == "gone" and ev["properties"]["iothub-MessageType"] == "Will"


def test_twin_answers_need_the_subscription(emulator, witness):
    """As on IoT Hub, a twin response reaches only a device subscribed to $iothub/twin/res/#."""
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.publish("$iothub/twin/GET/?$rid=1")
        ev = emulator.app.wait_event(lambda e: e["type"] == "not_delivered" and e["device"] == dev)
        assert ev["topic"] == "$iothub/twin/res/200/?$rid=1"
        c.subscribe("$iothub/twin/res/#")
        c.publish("$iothub/twin/GET/?$rid=2")
        topic, *_ = c.message("$iothub/twin/res/")
        assert topic == "$iothub/twin/res/200/?$rid=2"
    finally:
        c.close()
