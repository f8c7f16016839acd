"""The emulator's command line: serve (banner, ready file, Ctrl-C), certificate reuse, and the
application commands (devices, twin, set, send, invoke, watch) against a running instance."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from emufixture import ROOT, RunningEmulator
from emulator import certs, sas
from emulator import testclient as tc
from emulator.app import AppError


def cli(emulator, *args, timeout=30):
    p = subprocess.run([sys.executable, "-m", "tests_host.emulator", *args,
                        "--control", emulator.info["control"]],
                       cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def connected_device(emulator):
    dev = "cli-" + uuid.uuid4().hex[:8]
    tc.provision(emulator.info, dev)
    key = sas.derive_device_key(emulator.info["group_key"], dev)
    return dev, tc.hub_connect(emulator.info, dev, key)


def test_certs_reused_and_reissued(tmp_path):
    d = str(tmp_path)
    first = certs.ensure(d, {"127.0.0.1"})
    assert first["issued"] == ["ca", "server"]
    ca = open(first["ca_pem"], "rb").read()
    assert certs.ensure(d, {"127.0.0.1", "localhost"})["issued"] == []
    again = certs.ensure(d, {"127.0.0.9", "emu.example"})
    assert again["issued"] == ["server"] and open(again["ca_pem"], "rb").read() == ca
    cert = x509.load_pem_x509_certificate(open(again["cert"], "rb").read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "emu.example"} <= set(san.get_values_for_type(x509.DNSName))
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", "127.0.0.9", "::1"} <= ips
    der = open(again["ca_der"], "rb").read()
    assert x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM) == ca


def test_serve_banner_and_ctrl_c(tmp_path):
    ready = str(tmp_path / "ready.json")
    cmd = [sys.executable, "-m", "tests_host.emulator", "serve", "--state", str(tmp_path / "st"),
           "--dps-port", "0", "--dps-mqtt-port", "0", "--hub-port", "0", "--control-port", "0",
           "--ready-file", ready, "--cert-name", "emu.example", "--retry-after", "0"]
    for run in range(2):
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        try:
            lines = []
            deadline = time.monotonic() + 30
            while not any(ln.startswith("Ctrl-C") for ln in lines) and time.monotonic() < deadline:
                lines.append(p.stdout.readline())
            out = "".join(lines)
            info = json.load(open(ready))
            assert "ready" in out and info["group_key"] in out and info["ca_pem"] in out
            assert info["id_scope"] in out and "SAS-IoT-Devices" in out
            assert ("issued ca and server" in out) == (run == 0)
            assert info["retry_after"] == 0
            p.send_signal(signal.SIGINT)
            rest, _ = p.communicate(timeout=15)
            assert p.returncode == 0, rest
            assert "stopping" in rest
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        os.remove(ready)


def test_serve_port_in_use(emulator, tmp_path):
    port = emulator.info["control"].rsplit(":", 1)[1]
    p = subprocess.run([sys.executable, "-m", "tests_host.emulator", "serve",
                        "--state", str(tmp_path), "--dps-port", "0", "--dps-mqtt-port", "0",
                        "--hub-port", "0", "--control-port", port],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "cannot listen" in p.stderr


def test_devices_twin_set(emulator):
    dev, c = connected_device(emulator)
    try:
        rc, out, err = cli(emulator, "devices")
        assert rc == 0 and dev in out and "connected" in out
        rc, out, err = cli(emulator, "set", dev, '{"targetTemperature": 22}')
        assert rc == 0 and "version is now 2" in out
        rc, out, err = cli(emulator, "twin", dev)
        assert rc == 0 and json.loads(out)["desired"] == {"targetTemperature": 22, "$version": 2}
        rc, out, err = cli(emulator, "twin", "nobody")
        assert rc == 1 and "404" in err
    finally:
        c.close()


def test_send_and_invoke(emulator):
    dev, c = connected_device(emulator)
    try:
        c.subscribe("devices/{}/messages/devicebound/#".format(dev), "$iothub/methods/POST/#")
        rc, out, err = cli(emulator, "send", dev, "hello", "--prop", "a=1", "--prop", "b=x y")
        assert rc == 0 and out.startswith("queued")
        topic, payload, qos, pid, *_ = c.message("devices/{}/messages/devicebound/".format(dev))
        assert payload == b"hello" and "a=1" in topic and "b=x%20y" in topic
        res = {}
        th = threading.Thread(target=lambda: res.update(
            zip(("rc", "out", "err"), cli(emulator, "invoke", dev, "blink", '{"n": 3}'))))
        th.start()
        topic, payload, *_ = c.message("$iothub/methods/POST/blink/", timeout=20)
        assert json.loads(payload) == {"n": 3}
        c.publish("$iothub/methods/res/200/?$rid=" + topic.split("$rid=")[1], b'{"blinked": 3}')
        th.join(30)
        assert res["rc"] == 0 and json.loads(res["out"]) == {
            "status": 200, "payload": {"blinked": 3}, "id": json.loads(res["out"])["id"]}
    finally:
        c.close()


def test_watch(emulator):
    dev, c = connected_device(emulator)
    p = subprocess.Popen([sys.executable, "-m", "tests_host.emulator", "watch", "--control",
                          emulator.info["control"]], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        assert "watching" in p.stdout.readline()
        time.sleep(0.3)
        c.publish("devices/{}/messages/events/alert=1".format(dev), b'{"t": 5}')
        line = ""
        deadline = time.monotonic() + 20
        while "telemetry" not in line and time.monotonic() < deadline:
            line = p.stdout.readline()
        assert dev in line and '{"t": 5}' in line and '"alert": "1"' in line
        p.send_signal(signal.SIGINT)
        p.wait(10)
        assert p.returncode == 0
    finally:
        c.close()
        if p.poll() is None:
            p.kill()
            p.wait()


def test_public_name(emulator_factory):
    """--public-name: the assigned hub and the certificate carry that name."""
    emu = emulator_factory(extra_args=["--public-name", "localhost"], ports={"hub": 0})
    info = emu.info
    assert info["hub_name"] == "localhost:" + info["hub"].rsplit(":", 1)[1]
    assert info["dps"].startswith("localhost:")
    dev = "pub-" + uuid.uuid4().hex[:6]
    rs = tc.provision(info, dev)
    assert rs["assignedHub"] == info["hub_name"]
    c = tc.hub_connect(info, dev, sas.derive_device_key(info["group_key"], dev))
    c.close()


def test_hub_addresses(emulator, tmp_path):
    """Without --hub-port each emulator's hub takes 8883 on a loopback address of its own, kept
    for the next start; assignedHub, the SAS `sr` and the user name then carry a bare name."""
    first = RunningEmulator(str(tmp_path))
    try:
        info = first.info
        assert info["hub_name"] != emulator.info["hub_name"]
        assert info["hub"] == info["hub_name"] + ":8883"
        dev = "adr-" + uuid.uuid4().hex[:6]
        key = sas.derive_device_key(info["group_key"], dev)
        assert tc.provision(info, dev)["assignedHub"] == info["hub_name"]
        tc.hub_connect(info, dev, key).close()
        c = tc.Mqtt(info["hub"], info["ca_pem"])  # "name:8883" is not the hub's name
        try:
            user = "{}1/{}/?api-version=2021-04-12".format(info["hub"], dev)
            assert c.connect(dev, user, tc.hub_token(info, dev, key))[0] == 5
        finally:
            c.close()
    finally:
        first.stop()
    again = RunningEmulator(str(tmp_path))
    try:
        assert again.info["hub_name"] == info["hub_name"]
    finally:
        again.stop()


def test_limits_cli_and_api(emulator_factory):
    emu = emulator_factory(extra_args=["--limit", "dps_registrations_per_min=7",
                                       "--limit", "c2d-max-pending=3"])
    assert emu.info["limits"]["dps_registrations_per_min"] == 7
    rc, out, err = cli(emu, "limits")
    shown = json.loads(out)
    assert rc == 0 and shown["c2d_max_pending"] == 3 and shown["d2c_max_bytes"] == 256 * 1024
    rc, out, err = cli(emu, "limits", "d2c_per_s=5", "twin-updates-per-s=9")
    assert rc == 0 and json.loads(out)["d2c_per_s"] == 5
    assert emu.app.limits()["twin_updates_per_s"] == 9
    rc, out, err = cli(emu, "limits", "no_such_limit=1")
    assert rc == 1 and "400" in err and "unknown limit" in err
    with pytest.raises(AppError) as e:
        emu.app.set_limits(d2c_per_s=-1)
    assert e.value.status == 400
    with pytest.raises(AppError) as e:
        emu.app.set_limits(d2c_per_s=3, nope=1)  # all or nothing
    assert e.value.status == 400 and emu.app.limits()["d2c_per_s"] == 5


def test_bad_limit_at_start(tmp_path):
    p = subprocess.run([sys.executable, "-m", "tests_host.emulator", "serve", "--state",
                        str(tmp_path), "--limit", "d2c_per_s"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "NAME=VALUE" in p.stderr


def test_fault_cli(emulator):
    dev, c = connected_device(emulator)
    c.close()
    rc, out, err = cli(emulator, "fault", "refuse_connect", "device=" + dev, "count=1", "code=3")
    assert rc == 0 and json.loads(out) == {"armed": "refuse_connect"}
    assert emulator.app.state()["faults"]["refuse"][dev] == [1, 3]
    rc, out, err = cli(emulator, "fault", "clear")
    assert rc == 0 and emulator.app.state()["faults"]["refuse"] == {}
    rc, out, err = cli(emulator, "fault", "nonsense")
    assert rc == 1 and "400" in err
