"""Azure's limits, each answered as the service answers it (README here: "Limits, and where they
come from"). One emulator for the module; a test that lowers a limit puts it back after."""

import json
import shutil
import tempfile
import threading
import uuid

import pytest

from emufixture import RunningEmulator
from emulator import sas
from emulator import testclient as tc
from emulator.app import AppError
from emulator.limits import DEFAULTS


@pytest.fixture(scope="module")
def emu():
    workdir = tempfile.mkdtemp(prefix="iotc-emu-limits-")
    e = RunningEmulator(workdir)
    try:
        yield e
    finally:
        e.stop()
        shutil.rmtree(workdir, ignore_errors=True)


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
        assert e.body["errorCode"] == 502000 and "InvalidResponseWhileProxying" in e.body["message"]
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
    import subprocess
    import sys

    from emufixture import ROOT

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
