"""The fault knobs under TLS (tcpfault.py): half_open keeps a connection open but silent, both
ways; cut_after closes one after an exact number of bytes, inside the TLS handshake or inside an
MQTT packet. For a device, or for the next connection to the hub or to DPS."""

import json
import socket
import ssl
import threading
import uuid

import pytest

from emulator import mqttcodec as m
from emulator import sas
from emulator import testclient as tc
from emulator.app import AppError


@pytest.fixture(autouse=True)
def clean_faults(emulator):
    emulator.app.clear_faults()
    yield
    emulator.app.clear_faults()


def new_device(emulator):
    dev = "tcp-" + uuid.uuid4().hex[:8]
    tc.provision(emulator.info, dev)
    return dev, sas.derive_device_key(emulator.info["group_key"], dev)


def fault_events(emulator, since, kind):
    evs, _ = emulator.app.events(since)
    return [e for e in evs if e["type"] == "fault" and e.get("kind") == kind]


def test_half_open_device_until_cleared(emulator):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key, keepalive=1)
    try:
        c.subscribe("$iothub/twin/res/#")
        emulator.app.fault(kind="half_open", device=dev)
        c.send(m.pingreq())
        c.publish("$iothub/twin/GET/?$rid=h")
        # Nothing comes back, and the link is not closed either: not by the hub's keep-alive
        # (1.5 s here), not by anything else. closed() reads for 3 s.
        assert not c.closed(timeout=3)
        assert emulator.app.device(dev)["connected"]
        assert emulator.app.state()["faults"]["half_open"] == 1
        emulator.app.clear_faults()  # then service resumes where it was
        assert c.expect(m.PINGRESP, timeout=5)
        topic, *_ = c.message("$iothub/twin/res/200/", timeout=5)
        assert topic == "$iothub/twin/res/200/?$rid=h"
    finally:
        c.close()


def test_half_open_device_for_seconds(emulator):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        emulator.app.fault(kind="half_open", device=dev, seconds=1.5)
        c.send(m.pingreq())
        assert c.expect(m.PINGRESP, timeout=10)  # once the spell is over
        assert emulator.app.state()["faults"]["half_open"] == 0
    finally:
        c.close()


def test_half_open_offline_device_is_refused(emulator):
    dev, key = new_device(emulator)
    with pytest.raises(AppError) as e:
        emulator.app.fault(kind="half_open", device=dev)
    assert e.value.status == 404


def handshake_in_thread(hostport, ca_pem):
    """Start a TLS handshake in a thread -> (thread, result dict: "sock" or "error")."""
    out = {}

    def run():
        try:
            out["sock"] = tc.tls_connect(hostport, ca_pem, timeout=20)
        except (OSError, ssl.SSLError) as e:
            out["error"] = e

    th = threading.Thread(target=run)
    th.start()
    return th, out


@pytest.mark.parametrize("target,key", [("hub", "hub"), ("dps", "dps"),
                                        ("dps_mqtt", "dps_mqtt")])
def test_half_open_next_connection(emulator, target, key):
    """The next connection is held before its TLS handshake; the one after is served."""
    emulator.app.fault(kind="half_open", target=target)
    held, out = handshake_in_thread(emulator.info[key], emulator.info["ca_pem"])
    held.join(2)
    assert held.is_alive() and not out  # the handshake waits
    s = tc.tls_connect(emulator.info[key], emulator.info["ca_pem"])  # count=1: this one is not
    s.close()
    emulator.app.clear_faults()
    held.join(20)
    assert "sock" in out, out
    out["sock"].close()


@pytest.mark.parametrize("direction,n", [("received", 100), ("sent", 200)])
def test_cut_inside_the_tls_handshake(emulator, direction, n):
    since = emulator.app.last_seq()
    emulator.app.fault(kind="cut_after", target="hub", **{direction: n})
    with pytest.raises((ssl.SSLError, OSError)):
        tc.tls_connect(emulator.info["hub"], emulator.info["ca_pem"]).close()
    ev = fault_events(emulator, since, "cut_after")[-1]
    assert ev[direction] == n and ev["target"] == "hub"  # to the byte
    dev, key = new_device(emulator)
    tc.hub_connect(emulator.info, dev, key).close()  # the next one is whole


def test_cut_dps_inside_the_handshake(emulator):
    since = emulator.app.last_seq()
    emulator.app.fault(kind="cut_after", target="dps", sent=300)
    with pytest.raises((ssl.SSLError, OSError)):
        tc.register(emulator.info, "cut-" + uuid.uuid4().hex[:6])
    assert fault_events(emulator, since, "cut_after")[-1]["sent"] == 300
    assert tc.provision(emulator.info, "cut-" + uuid.uuid4().hex[:6])["status"] == "assigned"


def test_cut_device_inside_a_packet(emulator):
    """Armed for a device, the cut applies to its next connection, counted from its first
    byte: here it falls inside a 6 KB PUBLISH (after about 1 KB of handshake and CONNECT),
    which is then never stored."""
    dev, key = new_device(emulator)
    since = emulator.app.last_seq()
    emulator.app.fault(kind="cut_after", device=dev, received=3000)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        with pytest.raises((EOFError, OSError)):
            c.publish("devices/{}/messages/events/".format(dev), b"x" * 6000, qos=1)
    finally:
        c.close()
    ev = fault_events(emulator, since, "cut_after")[-1]
    assert ev["received"] == 3000
    gone = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev,
                                   since=since)
    assert "cut_after" in gone["reason"] and emulator.app.telemetry(dev) == []
    c = tc.hub_connect(emulator.info, dev, key)  # count=1: the next connection is whole
    try:
        c.publish("devices/{}/messages/events/".format(dev), b"x" * 6000, qos=1)
        assert len(emulator.app.telemetry(dev)) == 1
    finally:
        c.close()


def test_cut_device_before_connack(emulator):
    dev, key = new_device(emulator)
    emulator.app.fault(kind="cut_after", device=dev, sent=1)  # the handshake sent more already
    c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
    try:
        with pytest.raises((EOFError, OSError, AssertionError)):
            c.connect(dev, tc.hub_username(emulator.info, dev), tc.hub_token(emulator.info, dev,
                                                                              key))
    finally:
        c.close()


def test_others_pass_through_the_relay(emulator):
    """While a device's cut is armed, every new hub connection is relayed (the device is known
    only after CONNECT): the others are served as usual, byte for byte."""
    armed, _ = new_device(emulator)
    emulator.app.fault(kind="cut_after", device=armed, received=10)
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.subscribe("$iothub/twin/res/#")
        c.publish("devices/{}/messages/events/".format(dev), b"y" * 20000, qos=1)
        c.publish("$iothub/twin/GET/?$rid=1")
        topic, payload, *_ = c.message("$iothub/twin/res/200/")
        assert json.loads(payload)["reported"] == {"$version": 1}
        assert len(emulator.app.telemetry(dev)[0]["body"]) == 20000
    finally:
        c.close()
    assert emulator.app.state()["faults"]["cut_device"] == {
        armed: {"kind": "cut_after", "received": 10, "count": 1}}


@pytest.mark.parametrize("bad", [
    {"kind": "half_open"},
    {"kind": "half_open", "device": "x", "target": "hub"},
    {"kind": "cut_after", "target": "somewhere", "sent": 1},
    {"kind": "cut_after", "target": "hub"},
    {"kind": "cut_after", "target": "hub", "received": -1},
    {"kind": "half_open", "target": "hub", "seconds": "soon"},
])
def test_bad_tcp_fault_requests(emulator, bad):
    with pytest.raises(AppError) as e:
        emulator.app.fault(**bad)
    assert e.value.status == 400


def test_plain_tcp_client_on_a_relayed_port(emulator):
    """A client that connects and closes without a byte, while a relay is in place."""
    emulator.app.fault(kind="cut_after", target="hub", received=5)
    host, port = tc.split_hostport(emulator.info["hub"])
    socket.create_connection((host, port), timeout=5).close()
    assert emulator.app.state()["internal_errors"] == 0
