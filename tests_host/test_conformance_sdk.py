"""Conformance: the official Azure IoT device SDK for Python (azure-iot-device 2.14.0) provisions
and talks to the emulator as it would to Azure. If the SDK is happy, the emulator speaks the
protocol as Azure does (at least as far as the SDK checks it).

The SDK always dials port 8883: the hub is there by default (on a loopback address of its own),
and this emulator instance puts DPS-over-MQTT on 8883 too, on another random address of 127/8
(so parallel runs do not collide); the certificate names both. Every SDK call runs with a
deadline.
"""

import concurrent.futures
import json
import queue
import random
import shutil
import tempfile
import uuid

import pytest

from emufixture import RunningEmulator

pytest.importorskip("azure.iot.device")
from azure.iot.device import (  # noqa: E402
    IoTHubDeviceClient,
    Message,
    MethodResponse,
    ProvisioningDeviceClient,
)

from emulator import sas  # noqa: E402

# The SDK builds its TLS context with the deprecated ssl.PROTOCOL_TLSv1_2: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DEADLINE = 30.0
MODEL = "dtmi:com:example:Thermostat;1"


def bounded(fn, *args, timeout=DEADLINE, **kw):
    """Run one blocking SDK call with a deadline (the SDK's own retries could wait forever)."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(fn, *args, **kw).result(timeout)
    except concurrent.futures.TimeoutError:
        raise AssertionError("{} did not finish in {} s".format(fn.__name__, timeout)) from None
    finally:
        pool.shutdown(wait=False)


@pytest.fixture(scope="module")
def sdk_emulator():
    errors = []
    for _ in range(5):
        a = "127.{}.{}.{}".format(random.randint(64, 250), random.randint(0, 255),
                                  random.randint(2, 254))
        workdir = tempfile.mkdtemp(prefix="iotc-emu-sdk-")
        try:
            emu = RunningEmulator(workdir, retry_after=1, extra_args=["--dps-mqtt-host", a],
                                  ports={"dps-mqtt": 8883})
        except RuntimeError as e:  # port taken on that address: try another
            errors.append(str(e))
            shutil.rmtree(workdir, ignore_errors=True)
            continue
        try:
            with open(emu.info["ca_pem"]) as f:
                emu.ca = f.read()
            emu.dps_host = a
            yield emu
        finally:
            emu.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        return
    raise RuntimeError("could not start the emulator on 8883:\n" + "\n".join(errors))


def provision(emu, reg_id, payload=None):
    key = sas.derive_device_key(emu.info["group_key"], reg_id)
    pc = ProvisioningDeviceClient.create_from_symmetric_key(
        provisioning_host=emu.dps_host, registration_id=reg_id, id_scope=emu.info["id_scope"],
        symmetric_key=key, server_verification_cert=emu.ca)
    if payload is not None:
        pc.provisioning_payload = payload
    return bounded(pc.register), key  # register() disconnects when done


@pytest.fixture
def device(sdk_emulator):
    """A provisioned, connected IoTHubDeviceClient (shut down after the test)."""
    reg_id = "sdk-" + uuid.uuid4().hex[:8]
    result, key = provision(sdk_emulator, reg_id)
    assert result.status == "assigned", result
    rs = result.registration_state
    client = IoTHubDeviceClient.create_from_symmetric_key(
        symmetric_key=key, hostname=rs.assigned_hub, device_id=rs.device_id,
        server_verification_cert=sdk_emulator.ca, connection_retry=False)
    bounded(client.connect)
    client.id = rs.device_id
    try:
        yield client
    finally:
        bounded(client.shutdown)


def test_provision_with_group_key(sdk_emulator):
    reg_id = "sdk-" + uuid.uuid4().hex[:8]
    result, _ = provision(sdk_emulator, reg_id, {"modelId": MODEL})
    assert result.status == "assigned"
    rs = result.registration_state
    hub_host = sdk_emulator.info["hub"].split(":")[0]
    assert rs.assigned_hub == sdk_emulator.info["hub_name"] == hub_host  # on 8883: no port
    assert rs.device_id == reg_id
    reg = sdk_emulator.app.device(reg_id)["registration"]
    assert reg["payload"] == {"modelId": MODEL} and reg["model_id"] == MODEL
    assert reg["enrollment"]["id"] == "SAS-IoT-Devices"


def test_connect(sdk_emulator, device):
    assert device.connected
    d = sdk_emulator.app.device(device.id)
    assert d["connected"] and d["connects"] == 1


def test_send_message_with_properties(sdk_emulator, device):
    msg = Message(json.dumps({"temperature": 21.5}))
    msg.content_type = "application/json"
    msg.content_encoding = "utf-8"
    msg.message_id = "m-1"
    msg.custom_properties["alert"] = "on fire"
    msg.custom_properties["level"] = "3"
    bounded(device.send_message, msg)
    app = sdk_emulator.app
    ev = app.wait_event(lambda e: e["type"] == "telemetry" and e["device"] == device.id)
    assert ev is not None
    t = app.telemetry(device.id)[-1]
    assert json.loads(t["body"]) == {"temperature": 21.5}
    assert t["properties"] == {"alert": "on fire", "level": "3"}
    assert t["system"]["$.ct"] == "application/json" and t["system"]["$.ce"] == "utf-8"
    assert t["system"]["$.mid"] == "m-1"
    assert t["qos"] == 1


def test_get_twin(sdk_emulator, device):
    sdk_emulator.app.set_desired(device.id, {"targetTemperature": 20})
    twin = bounded(device.get_twin)
    assert twin["desired"]["targetTemperature"] == 20 and twin["desired"]["$version"] == 2
    assert twin["reported"] == {"$version": 1}


def test_patch_reported(sdk_emulator, device):
    bounded(device.patch_twin_reported_properties, {"fw": "1.0", "maxTemp": 38.7})
    bounded(device.patch_twin_reported_properties, {"maxTemp": None})
    twin = sdk_emulator.app.twin(device.id)
    assert twin["reported"] == {"fw": "1.0", "$version": 3}


def test_receive_desired_patch(sdk_emulator, device):
    got = queue.Queue()
    device.on_twin_desired_properties_patch_received = got.put
    ev = sdk_emulator.app.wait_event(
        lambda e: e["type"] == "subscribed" and e["device"] == device.id
        and e["topic"].startswith("$iothub/twin/PATCH"), timeout=10)
    assert ev and ev["granted"] == 1
    v = sdk_emulator.app.set_desired(device.id, {"targetTemperature": 23.5})
    patch = got.get(timeout=DEADLINE)
    assert patch == {"targetTemperature": 23.5, "$version": v}


def test_direct_method(sdk_emulator, device):
    def on_method(req):
        payload = {"echo": req.payload, "name": req.name}
        device.send_method_response(MethodResponse.create_from_method_request(req, 200, payload))

    device.on_method_request_received = on_method
    app = sdk_emulator.app
    assert app.wait_event(lambda e: e["type"] == "subscribed" and e["device"] == device.id
                          and e["topic"] == "$iothub/methods/POST/#", timeout=10)
    res = app.invoke(device.id, "reboot", {"delay": 5}, timeout=DEADLINE)
    assert res["status"] == 200
    assert res["payload"] == {"echo": {"delay": 5}, "name": "reboot"}
    assert app.methods(device.id)[-1]["status"] == 200


def test_receive_c2d(sdk_emulator, device):
    got = queue.Queue()
    device.on_message_received = got.put
    app = sdk_emulator.app
    assert app.wait_event(lambda e: e["type"] == "subscribed" and e["device"] == device.id
                          and e["topic"].endswith("/messages/devicebound/#"), timeout=10)
    mid = app.send_c2d(device.id, "@", {"method-name": "setLed", "color": "red green"})
    msg = got.get(timeout=DEADLINE)
    assert msg.data == b"@" and msg.message_id == mid
    assert msg.custom_properties == {"method-name": "setLed", "color": "red green"}
    assert app.wait_event(lambda e: e["type"] == "c2d_ack" and e.get("id") == mid, timeout=10)
