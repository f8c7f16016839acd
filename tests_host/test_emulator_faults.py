"""The fault knobs of the control API: each does what it says once, then service is normal."""

import json
import time
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


def new_device(emulator, provision=True):
    dev = "flt-" + uuid.uuid4().hex[:8]
    if provision:
        tc.provision(emulator.info, dev)
    return dev, sas.derive_device_key(emulator.info["group_key"], dev)


def test_drop(emulator):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        assert emulator.app.fault(kind="drop", device=dev) == {"dropped": True}
        assert c.closed()
    finally:
        c.close()
    ev = emulator.app.wait_event(lambda e: e["type"] == "disconnected" and e["device"] == dev)
    assert "fault" in ev["reason"]
    assert emulator.app.drop(dev) == {"dropped": False}  # nothing left to drop


def test_refuse_connect(emulator):
    dev, key = new_device(emulator)
    emulator.app.fault(kind="refuse_connect", device=dev, count=2, code=3)
    for want in (3, 3, 0):
        c = tc.Mqtt(emulator.info["hub"], emulator.info["ca_pem"])
        try:
            code, _ = c.connect(dev, tc.hub_username(emulator.info, dev),
                                tc.hub_token(emulator.info, dev, key))
            assert code == want
        finally:
            c.close()


def test_dps_status(emulator):
    info = emulator.info
    emulator.app.fault(kind="dps_status", status=429, count=2, retry_after=3)
    for _ in range(2):
        st, h, body = tc.register(info, "any-" + uuid.uuid4().hex[:6])
        assert st == 429 and h["retry-after"] == "3"
        assert json.loads(body)["errorCode"] // 1000 == 429
    emulator.app.fault(kind="dps_status", status=503)
    assert tc.register(info, "x-" + uuid.uuid4().hex[:6])[0] == 503
    assert tc.provision(info, new_device(emulator, False)[0])["status"] == "assigned"


def test_dps_assigning(emulator):
    info = emulator.info
    emulator.app.fault(kind="dps_assigning", polls=2, count=1)
    dev = new_device(emulator, False)[0]
    st, h, body = tc.register(info, dev)
    op = json.loads(body)["operationId"]
    for _ in range(2):
        st, h, body = tc.poll(info, dev, op)
        assert st == 202 and h["retry-after"] == "1"
        assert json.loads(body)["status"] == "assigning"
    assert tc.poll(info, dev, op)[0] == 200
    dev2 = new_device(emulator, False)[0]  # count=1: the next registration is normal
    op = json.loads(tc.register(info, dev2)[2])["operationId"]
    assert tc.poll(info, dev2, op)[0] == 200


def test_stall(emulator):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        c.subscribe("$iothub/twin/res/#")
        emulator.app.fault(kind="stall", device=dev, seconds=1.5)
        t0 = time.monotonic()
        c.publish("$iothub/twin/GET/?$rid=s")
        c.message("$iothub/twin/res/200/", timeout=5)
        assert time.monotonic() - t0 >= 1.3
        t0 = time.monotonic()
        c.publish("$iothub/twin/GET/?$rid=t")
        c.message("$iothub/twin/res/200/", timeout=5)
        assert time.monotonic() - t0 < 1.0
    finally:
        c.close()


def test_raw_publish_oversized_malformed_garbage(emulator):
    dev, key = new_device(emulator)
    c = tc.hub_connect(emulator.info, dev, key)
    try:
        emulator.app.fault(kind="publish", device=dev, topic="$iothub/methods/POST/x/?$rid=",
                           payload="{broken")
        topic, payload, *_ = c.message("$iothub/methods/POST/")
        assert (topic, payload) == ("$iothub/methods/POST/x/?$rid=", b"{broken")
        emulator.app.fault(kind="oversized", device=dev, size=100000)
        topic, payload, *_ = c.message("$iothub/twin/PATCH/properties/desired/", timeout=10)
        assert len(payload) == 100000
        emulator.app.fault(kind="malformed_publish", device=dev)
        t, f, body = c.recv()
        assert t == m.PUBLISH and body[:2] == b"\x00\xc8" and len(body) < 200
        emulator.app.fault(kind="garbage", device=dev, hex="deadbeef")
        c.sock.settimeout(5)
        data = c.buf
        while len(data) < 4:
            data += c.sock.recv(16)
        assert data[:4] == bytes.fromhex("deadbeef")
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["truncated", "chunked", "no_headers", "bad_json", "no_status"])
def test_dps_malformed(emulator, mode):
    info = emulator.info
    emulator.app.fault(kind="dps_malformed", mode=mode)
    dev = new_device(emulator, False)[0]
    path = "/{}/registrations/{}/register?api-version=2021-10-01".format(info["id_scope"], dev)
    s = tc.tls_connect(info["dps"], info["ca_pem"])
    body = json.dumps({"registrationId": dev}).encode()
    s.sendall("PUT {} HTTP/1.1\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n".format(
        path, tc.dps_token(info, dev), len(body)).encode() + body)
    raw = tc.read_all(s)
    s.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    if mode == "truncated":
        n = int(tc.parse_http(raw)[1]["content-length"])
        assert raw.startswith(b"HTTP/1.1 202") and len(payload) < n
    elif mode == "chunked":
        assert b"Transfer-Encoding: chunked" in head and payload.endswith(b"0\r\n\r\n")
        assert b"Content-Length" not in head
    elif mode == "no_headers":
        line, _, rest = raw.partition(b"\r\n")
        assert line == b"HTTP/1.1 202 Accepted" and json.loads(rest)["status"] == "assigning"
    elif mode == "bad_json":
        with pytest.raises(ValueError):
            json.loads(payload)
    else:
        assert not raw.startswith(b"HTTP/") and b"Content-Length" in head
    # the next request is answered normally
    assert tc.provision(info, new_device(emulator, False)[0])["status"] == "assigned"


def test_bad_fault_requests(emulator):
    app = emulator.app
    for bad in ({"kind": "nope"}, {"kind": "dps_malformed", "mode": "weird"},
                {"kind": "dps_status", "status": "x"}, {"kind": "stall", "device": "missing"}):
        with pytest.raises(AppError) as e:
            app.fault(**bad)
        assert e.value.status in (400, 404)
    with pytest.raises(AppError) as e:
        app.request("POST", "/faults", ok=(200,), body=None)
    assert e.value.status == 400
    assert app.state()["internal_errors"] == 0


def test_clear_faults(emulator):
    dev, key = new_device(emulator)
    app = emulator.app
    app.fault(kind="refuse_connect", device=dev, count=5, code=5)
    app.fault(kind="dps_status", status=500, count=5)
    app.fault(kind="stall", device=dev, seconds=30)
    app.clear_faults()
    assert app.state()["faults"]["dps_status"] is None
    c = tc.hub_connect(emulator.info, dev, key)
    c.close()
    assert tc.provision(emulator.info, new_device(emulator, False)[0])["status"] == "assigned"
