"""The old `iotc` SDK's camelCase API (iotc.legacy) on the unix port, against the emulator.

The sample app of that SDK's README (iotc 0.3.9 on PyPI, fetched by hash into .deps/ by the
Makefile, never committed) runs with only its credentials set, the emulator's DPS and CA given
through its own setters, its loop bounded, and its one bug fixed (see sample_app()). What it did
is checked from the application side of the emulator. A second script calls every method once.
"""

import json
import os
import shutil
import re
import subprocess
import textwrap
import time
import uuid

import pytest

import harness
from test_samples import MICROPYPATH, ack_of, finish, wait_connected

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
README = os.path.join(ROOT, ".deps", "iotc-0.3.9", "README.md")
RUN_SECONDS = 25  # the sample's loop ends after this, or as soon as the test says stop


def new_id(prefix):
    return "{}-{}".format(prefix, uuid.uuid4().hex[:8])


def readme():
    if not os.path.exists(README):
        p = subprocess.run(["make", "-s", ".deps/iotc-0.3.9/README.md"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, "cannot fetch iotc 0.3.9 (make test fetches it):\n" \
            + p.stdout + p.stderr
    with open(README) as f:
        return f.read()


def sample_app(emulator, device_id, stop_file):
    """The README's "sample app" code block, changed only where the test must change it."""
    text = readme()
    m = re.search(r"#### sample app\s*```py\n(.*?)```", text, re.S)
    assert m, "no sample app code block in the iotc 0.3.9 README"
    code = m.group(1)
    info = emulator.info

    def change(old, new):
        nonlocal code
        assert code.count(old) == 1, "the sample changed: {!r}".format(old)
        code = code.replace(old, new)

    # Credentials. IOTC_CONNECT_SYMM_KEY is the group key here (docs/legacy.md).
    change('deviceId = "DEVICE_ID"', "deviceId = {!r}".format(device_id))
    change('scopeId = "SCOPE_ID"', "scopeId = {!r}".format(info["id_scope"]))
    change('deviceKey = "DEVICE_KEY"', "deviceKey = {!r}".format(info["group_key"]))
    # The sample's own bug: it uses IOTQosLevel without importing it, so it stops with a
    # NameError on the original SDK too. The one line it lacks:
    change("from iotc import IOTConnectType, IOTLogLevel\n",
           "from iotc import IOTConnectType, IOTLogLevel\nfrom iotc import IOTQosLevel\n")
    # The emulator's DPS and CA, through the layer's setters (the old SDK had no CA argument).
    change("iotc.setLogLevel(", "iotc.setServiceHost({!r})\niotc.setCAFile({!r})\n"
           "iotc.setLogLevel(".format(info["dps"], info["ca_der"]))
    # Its loop, bounded: RUN_SECONDS, or until the test creates stop_file.
    change("while iotc.isConnected():", "while iotc.isConnected() and _go():")
    bound = textwrap.dedent("""\
        import os as _os, time as _time
        _END = _time.time() + {}
        def _go():
            try:
                _os.stat({!r})
                return False
            except OSError:
                return _time.time() < _END
        """).format(RUN_SECONDS, stop_file)
    return bound + code


def run_mp(path, cwd, path_first=None):
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    if path_first:
        env["MICROPYPATH"] = path_first + ":" + MICROPYPATH
    return subprocess.Popen([harness.MICROPYTHON, path], cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)




def test_readme_sample_app(emulator, tmp_path):
    dev = new_id("legacy-sample")
    stop = str(tmp_path / "stop")
    app = tmp_path / "app.py"
    app.write_text(sample_app(emulator, dev, stop))
    since = emulator.app.last_seq()
    proc = run_mp(str(app), tmp_path)
    try:
        wait_connected(emulator, dev, since, proc)
        # A writable property: acknowledged as completed (the sample sets no response).
        version = emulator.app.set_desired(dev, {"fanSpeed": 3})
        ack = ack_of(emulator, dev, "fanSpeed", version, since)
        assert ack["value"] == 3 and ack["ac"] == 200 and ack["ad"] == "completed", ack
        # A command: the sample sets no response, so 200 and {} (the old SDK's default).
        res = emulator.app.invoke(dev, "reboot", {"delay": 1}, timeout=15)
        assert res["status"] == 200 and res["payload"] == {}, res
        # Telemetry is sent only once its onconnect saw status 0 with isConnected() true.
        deadline = time.time() + 15
        while not emulator.app.telemetry(dev) and time.time() < deadline:
            time.sleep(0.2)
    finally:
        open(stop, "w").close()
        out = finish(proc, timeout=RUN_SECONDS + 30)
    got = [json.loads(t["body"]) for t in emulator.app.telemetry(dev)]
    assert got and all(20 <= b["temp"] <= 45 for b in got), out
    assert "- [onconnect] => status:0" in out, out
    assert "command name: reboot" in out and "setting name: fanSpeed" in out, out
    assert "[onmessagesent]" in out, out


# Every method once; each result printed as "name value" for the test to read.
EVERY_METHOD = """
import sys
import iotc
assert "iotc.legacy" not in sys.modules  # `import iotc` alone loads none of it
from iotc import IOTConnectType, IOTLogLevel, IOTQosLevel, IOTCallbackInfo
assert "iotc.more" not in sys.modules  # dropped once the names were found

def out(name, value):
    print("R", name, repr(value))

out("types", (IOTConnectType.IOTC_CONNECT_SYMM_KEY, IOTConnectType.IOTC_CONNECT_X509_CERT,
              IOTConnectType.IOTC_CONNECT_DEVICE_KEY, IOTLogLevel.IOTC_LOGGING_ALL,
              IOTQosLevel.IOTC_QOS_AT_LEAST_ONCE))
d = iotc.Device(SCOPE, KEY, DEV, IOTConnectType.IOTC_CONNECT_SYMM_KEY)
try:
    d.on("Bogus", print)
except ValueError as e:
    out("bogus", str(e))
seen = []

def on_status(info):
    seen.append(("status", info.getStatusCode(), d.isConnected()))

def on_sent(info):
    seen.append(("sent", info.getPayload()))

def on_command(info):
    seen.append(("command", info.getTag(), info.getPayload(), info.getInterface(),
                 info.getEventName(), info.getClient() is d, info.getMessageId() is not None))
    info.setResponse(201, "done")
    seen.append(("response", info.getResponseCode(), info.getResponseMessage()))

def on_props(info):
    seen.append(("prop", info.getTag(), info.getPayload(), info.getEventName()))
    info.setResponse(202, "later")

out("on", [d.on("ConnectionStatus", on_status), d.on("MessageSent", on_sent),
           d.on("Command", on_command), d.on("Properties", on_props)])
out("setLogLevel", [d.setLogLevel(99), d.setLogLevel(IOTLogLevel.IOTC_LOGGING_API_ONLY)])
out("setExitOnError", d.setExitOnError(True))
out("setModelData", d.setModelData({"iotcModelId": "dtmi:example:legacy;1"}))
out("setInterfaces", d.setInterfaces({"sensors": "urn:example:sensors:1"}))
out("setTokenExpiration", [d.setTokenExpiration(1), d.setTokenExpiration(3600)])
out("setServiceHost", d.setServiceHost(DPS))
out("setDPSEndpoint", d.setDPSEndpoint(DPS))
out("setCAFile", d.setCAFile(CA))
out("setQosLevel", [d.setQosLevel(2), d.setQosLevel(IOTQosLevel.IOTC_QOS_AT_LEAST_ONCE)])
out("setSSLVerification", d.setSSLVerification(True))
out("setCleanSession", d.setCleanSession(True))
out("before", [d.isConnected(), d.sendTelemetry("{}"), d.getDeviceProperties()])
out("connect", d.connect())
out("isConnected", d.isConnected())
out("getHostName", d.getHostName())
out("late", [d.setServiceHost(DPS), d.setModelData("x")])
out("sendTelemetry", d.sendTelemetry('{"t": 1}', {"alert": "yes"}))
out("sendState", d.sendState({"status": "ok"}))
out("sendEvent", d.sendEvent('{"ev": 1}'))
out("sendProperty", d.sendProperty({"fw": "1.0"}))
out("sendCommandUpdate", d.sendCommandUpdate("sensors", "calibrate", "r1", 200, {"ok": 1}))
print("READY")
for _ in range(200):
    d.doNext(0.05)
    if any(s[0] == "prop" for s in seen) and any(s[0] == "response" for s in seen):
        break
out("doNext", d.doNext(0.1))
out("getDeviceProperties", d.getDeviceProperties())
out("getDeviceSettings", d.getDeviceSettings())
out("seen", seen)
host = d.getHostName()
out("disconnect", [d.disconnect(), d.isConnected(), d.disconnect()])
seen.clear()
out("connect-host", d.connect(host))
out("seen-host", seen)
d.disconnect()
"""


def test_every_method(emulator, tmp_path):
    dev = new_id("legacy-all")
    i = emulator.info
    head = "SCOPE, KEY, DEV, DPS, CA = {!r}, {!r}, {!r}, {!r}, {!r}\n".format(
        i["id_scope"], i["group_key"], dev, i["dps"], i["ca_der"])
    script = tmp_path / "every.py"
    script.write_text(head + EVERY_METHOD)
    since = emulator.app.last_seq()
    proc = run_mp(str(script), tmp_path)
    try:
        wait_connected(emulator, dev, since, proc)
        version = emulator.app.set_desired(dev, {"fanSpeed": 5})
        ack = ack_of(emulator, dev, "fanSpeed", version, since)
        res = emulator.app.invoke(dev, "calibrate", {"level": 2}, timeout=15)
    finally:
        out = finish(proc, timeout=60)
    r = {}
    for line in out.splitlines():
        if line.startswith("R "):
            _, name, value = line.split(" ", 2)
            r[name] = value
    assert r["types"] == "(1, 2, 3, 16, 1)", out
    assert "'Bogus'" in r["bogus"] and "ConnectionStatus" in r["bogus"] \
        and "PropertiesUpdated" in r["bogus"], out
    assert r["on"] == "[0, 0, 0, 0]"
    for name in ("setExitOnError", "setModelData", "setInterfaces", "setServiceHost",
                 "setDPSEndpoint", "setCAFile", "setSSLVerification", "setCleanSession"):
        assert r[name] == "0", (name, out)
    for name in ("setLogLevel", "setTokenExpiration", "setQosLevel"):
        assert r[name] == "[1, 0]", (name, out)
    assert r["before"] == "[False, 1, 1]", out
    assert r["connect"] == "0" and r["isConnected"] == "True", out
    assert r["getHostName"] == repr(i["hub_name"]), out
    assert r["late"] == "[1, 1]", out  # DPS settings after connect are refused, as before
    for name in ("sendTelemetry", "sendState", "sendEvent", "sendProperty", "sendCommandUpdate",
                 "getDeviceProperties", "getDeviceSettings"):
        assert r[name] == "0", (name, out)
    assert r["doNext"] == "None", out
    assert r["disconnect"] == "[0, False, None]", out
    seen = r["seen"]
    assert "('status', 0, True)" in seen, out
    assert "('command', 'calibrate', '{\"level\": 2}', None, 'Command', True, True)" in seen, out
    assert "('response', 201, 'done')" in seen, out
    assert "('prop', 'fanSpeed', {'value': 5}, 'Properties')" in seen, out
    assert "('sent', '{\"t\": 1}')" in seen and "('sent', {'fw': '1.0'})" in seen, out
    assert r["connect-host"] == "0" and "('status', 0, True)" in r["seen-host"], out
    # The application side: setResponse() made the command's answer and the property's ack.
    assert res["status"] == 201 and res["payload"] == "done", res
    assert ack["ac"] == 202 and ack["ad"] == "later" and ack["value"] == 5, ack
    d = emulator.app.device(dev)
    assert d["model_id"] == "dtmi:example:legacy;1", d
    assert d["twin"]["reported"]["fw"] == "1.0"
    tel = emulator.app.telemetry(dev)
    bodies = [t["body"] for t in tel]
    assert '{"t": 1}' in bodies and '{"ev": 1}' in bodies, bodies
    first = [t for t in tel if t["body"] == '{"t": 1}'][0]
    assert first["properties"].get("alert") == "yes", first
    update = [t for t in tel if t["properties"].get("iothub-message-schema") == "asyncResult"]
    assert update and json.loads(update[0]["body"]) == '{"ok": 1}', tel
    assert update[0]["properties"]["iothub-command-name"] == "calibrate"
    # connect(hostName) went straight to the hub: one DPS registration in all.
    evs, _ = emulator.app.events(since)
    assert [e["type"] for e in evs if e.get("device") == dev].count("dps_register") == 1


def test_unknown_event_and_missing_package(tmp_path):
    # Without the emulator: on("Bogus") raises, naming the known events; a name of a package
    # that is not installed says which package to install: a board with the core and
    # iotc-legacy only (a copy of iotc/ without aio.py, first on the path).
    board = tmp_path / "board"
    shutil.copytree(os.path.join(ROOT, "iotc"), str(board / "iotc"),
                    ignore=shutil.ignore_patterns("aio.py", "__pycache__"))
    script = tmp_path / "t.py"
    script.write_text(textwrap.dedent("""\
        import iotc
        d = iotc.Device("0ne0", "a2V5", "dev", iotc.IOTConnectType.IOTC_CONNECT_DEVICE_KEY)
        try:
            d.on("Bogus", print)
            print("no error")
        except ValueError as e:
            print("ValueError", e)
        try:
            from iotc import IOTCConnectType
        except ImportError as e:
            print("ImportError", e)
        try:
            iotc.NoSuchName
        except AttributeError as e:
            print("AttributeError", e)
        """))
    out = finish(run_mp(str(script), tmp_path, str(board)), timeout=30)
    assert "ValueError unknown event 'Bogus'" in out and "SettingsUpdated" in out, out
    assert "ImportError iotc.aio is not installed: install the iotc-aio package" in out, out
    assert "AttributeError NoSuchName" in out, out
