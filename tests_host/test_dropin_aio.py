"""The iotc Python client's asyncio API (iotc.aio) with that client's own documented code.

CI: a program composed at test time from the code blocks of the pinned iotc 1.1.3 README (the
PyPI sdist, fetched by `make test` into .deps/iotc-1.1.3/, never committed), in the order a
reader would put them, plus glue that says what the README leaves open (credentials, the
emulator's DPS endpoint and CA, an end: tests_host/aio/aioglue.py). Checked from the
emulator's application side: telemetry arrives, the property is acknowledged with ac 200, the
command answered as that client answered it, an enqueued command delivered.

Developer check (not in CI: the sample is on GitHub only): the client's async sample
samples/py3.py run as it is, but for one line (configparser's path: MicroPython has no
os.path) and a samples.ini with the emulator's credentials. Point IOTC_PY_SAMPLES at a folder
holding py3.py (a checkout of github.com/iot-for-all/iotc-python-client/samples):

    make test-aio-sample IOTC_PY_SAMPLES=~/iotc-python-client/samples

The idle case counts the listening task's wakeups and the CPU time of an idle device.
"""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

import harness
from test_samples import finish

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GLUE = os.path.join(HERE, "aio")
README = os.path.join(ROOT, ".deps", "iotc-1.1.3", "README.md")
MICROPYPATH = ":".join([GLUE, ROOT, os.path.join(ROOT, ".deps", "lib"),
                        os.path.join(HERE, "mplib"), ".frozen"])
MODEL_ID = "dtmi:com:example:aio;1"
RECEIVED = {"result": True, "data": "Command received"}  # that client's answer to a command


def new_id(prefix):
    return "{}-{}".format(prefix, uuid.uuid4().hex[:8])


def readme_blocks(text):
    return [m.group(2) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def one_block(blocks, marker):
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, "README: {} blocks with {!r}".format(len(found), marker)
    return found[0]


def compose_readme_program(text, scope, device_id, key):
    # The README's blocks, verbatim but for the placeholders of credentials and model id.
    b = readme_blocks(text)

    def indent(block):
        return "".join("    " + line + "\n" for line in block.rstrip("\n").split("\n"))

    sas = one_block(b, "IOTCConnectType.IOTC_CONNECT_SYMM_KEY, sas_key")
    for old, new in (("'scopeID'", scope), ("'device_id'", device_id), ("'masterKey'", key)):
        assert old in sas
        sas = sas.replace(old, repr(new))
    model = one_block(b, "iotc.set_model_id('<modelId>')").replace("'<modelId>'", repr(MODEL_ID))
    parts = [
        "import aioglue  # glue: the emulator's endpoint and CA; an end (tests_host/aio)\n",
        "import asyncio, time  # glue: names the README's blocks use\n",
        "from random import randint\n",
        one_block(b, "from iotc.aio import IoTCClient"),
        "from iotc.aio import IOTCConnectType, IOTCEvents  # glue: 'from the same module'\n",
        "sas_key = {!r}  # glue: the README assigns sasKey, passes sas_key\n".format(key),
        sas,
        model,
        one_block(b, "async def on_props"),
        one_block(b, "async def on_commands"),
        "callback = on_commands  # glue: the README registers `callback`\n",
        one_block(b, "iotc.on(IOTCEvents.IOTC_COMMAND, callback)"),
        "async def glue_enqueued(command_name, command_data):  # glue: the README has none\n"
        "    print('enqueued:', command_name, command_data)\n",
        "iotc.on(IOTCEvents.IOTC_ENQUEUED_COMMAND, glue_enqueued)\n",
        "async def main():\n",
        indent(one_block(b, "await iotc.connect()")),
        indent(one_block(b, "iotc.send_property({'fieldName':'fieldValue'})")),
        indent(one_block(b, "while iotc.is_connected():")),
        "asyncio.run(main())\n",
    ]
    return "".join(parts)


def start(program, cwd, emulator, env=None):
    path = os.path.join(str(cwd), "program.py")
    with open(path, "w") as f:
        f.write(program)
    full_env = dict(os.environ, MICROPYPATH=MICROPYPATH, **emulator.env())
    full_env["IOTC_AIO_STOP"] = os.path.join(str(cwd), "stop")
    full_env.update(env or {})
    return subprocess.Popen([harness.MICROPYTHON, path], cwd=str(cwd), env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_and_finish(proc, cwd, timeout=30):
    open(os.path.join(str(cwd), "stop"), "w").close()
    return finish(proc, timeout)


def wait_for(emulator, proc, match, since, what, timeout=30):
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        e = emulator.app.wait_event(match, since=since, timeout=1)
        if e is not None:
            return e
    proc.kill()
    raise AssertionError("{}; program output:\n{}".format(what, proc.communicate()[0]))


def exercise(emulator, proc, dev, since, prop, ack_value):
    # What the application side sees of the device; -> the command's method call id.
    app = emulator.app
    wait_for(emulator, proc, lambda e: e["type"] == "subscribed" and e.get("device") == dev
             and e.get("topic", "").startswith("$iothub/methods/"), since, "never connected")

    def reported(name, check):
        def match(e):
            v = e["patch"].get(name) if e["type"] == "reported" and e.get("device") == dev else None
            return isinstance(v, dict) and check(v)
        return wait_for(emulator, proc, match, since, "no reported " + name)["patch"][name]

    version = app.set_desired(dev, {prop: 42})
    ack = reported(prop, lambda v: v.get("av") == version)
    assert ack["ac"] == 200 and ack["value"] == 42, ack
    res = app.invoke(dev, "reboot", {"delay": 1}, timeout=30)
    assert res["status"] == 200 and res["payload"] == RECEIVED, res
    # ack(command.name, 'Command received', command.request_id): a reported property.
    got = reported("reboot", lambda v: v.get("value") == "Command received")
    assert got["requestId"], got
    mid = app.send_c2d(dev, '{"color": "red"}', {"method-name": "setLed"})
    wait_for(emulator, proc, lambda e: e["type"] == "c2d_ack" and e.get("id") == mid, since,
             "enqueued command not delivered")
    assert len(app.telemetry(dev)) >= 1


def test_readme_program(emulator, tmp_path):
    if not os.path.exists(README):  # `make test` fetches it; a bare pytest run does it here
        subprocess.run(["make", "--no-print-directory", "-C", ROOT,
                        os.path.relpath(README, ROOT)], check=True)
    with open(README) as f:
        text = f.read()
    i = emulator.info
    dev = new_id("aio-readme")
    program = compose_readme_program(text, i["id_scope"], dev, i["group_key"])
    since = emulator.app.last_seq()
    proc = start(program, tmp_path, emulator)
    exercise(emulator, proc, dev, since, "targetTemperature", 42)
    out = stop_and_finish(proc, tmp_path)
    assert "enqueued: setLed b'{\"color\": \"red\"}'" in out, out
    d = emulator.app.device(dev)
    assert d["model_id"] == MODEL_ID
    assert d["twin"]["reported"]["fieldName"] == "fieldValue"  # send_property, not awaited
    t = emulator.app.telemetry(dev)
    assert set(json.loads(t[0]["body"])) == {"accelerometerX", "accelerometerY",
                                             "accelerometerZ"}
    assert not d["connected"]  # the glue's disconnect() ended the README's loop


SAMPLES = os.environ.get("IOTC_PY_SAMPLES")
CONFIG_LINE = "config.read(os.path.join(os.path.dirname(__file__),'samples.ini'))"


@pytest.mark.skipif(not SAMPLES, reason="developer check: IOTC_PY_SAMPLES names a folder with "
                    "the iotc Python client's samples/py3.py (make test-aio-sample)")
def test_github_async_sample(emulator, tmp_path):
    with open(os.path.join(os.path.expanduser(SAMPLES), "py3.py")) as f:
        sample = f.read()
    assert CONFIG_LINE in sample
    program = ("import aioglue  # glue: the emulator's endpoint and CA; an end\n"
               + sample.replace(CONFIG_LINE, "config.read('samples.ini')  # no os.path"))
    i = emulator.info
    dev = new_id("aio-py3")
    with open(os.path.join(str(tmp_path), "samples.ini"), "w") as f:
        f.write("[DEVICE_M3]\nScopeId = {}\nDeviceId = {}\nDeviceKey = {}\nModelId = {}\n".format(
            i["id_scope"], dev, i["group_key"], MODEL_ID))
    since = emulator.app.last_seq()
    proc = start(program, tmp_path, emulator)
    exercise(emulator, proc, dev, since, "interval", 42)
    out = stop_and_finish(proc, tmp_path)
    assert "setLed" in out and "reboot" in out, out
    assert emulator.app.device(dev)["model_id"] == MODEL_ID


def cpu_seconds(pid):
    with open("/proc/{}/stat".format(pid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("keepalive,idle", [(120, 20), (6, 18)])
def test_idle_wakeups(emulator, tmp_path, keepalive, idle):
    # No busy loop: the listening task sleeps on the socket; it wakes for what comes in and
    # for what is due (a PINGREQ each half keepalive), nothing else.
    dev = new_id("aio-idle")
    env = {"IOTC_DEVICE_ID": dev, "IOTC_AIO_KEEPALIVE": str(keepalive),
           "IOTC_AIO_IDLE": str(idle)}
    with open(os.path.join(GLUE, "aio_idle.py")) as f:
        proc = start(f.read(), tmp_path, emulator, env)
    seen = ""
    cpu0 = None
    while True:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if line.startswith("idle"):
            cpu0 = cpu_seconds(proc.pid)
        elif line.startswith("wakes"):
            cpu = cpu_seconds(proc.pid) - cpu0
            break
    out = seen + proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and cpu0 is not None, out
    wakes = int(re.search(r"wakes (\d+)", out).group(1))
    pings = idle * 2 // keepalive  # each PINGREQ: one wake when due, one for its PINGRESP
    assert wakes <= 2 * pings + 2, out
    assert cpu < max(0.05, 0.01 * idle), "{:.2f} s of CPU in {} s idle".format(cpu, idle)
    assert "connected True" in out, out
    print("keepalive {} s: {} wakeups in {} s idle ({:.1f}/min), {:.3f} s CPU".format(
        keepalive, wakes, idle, wakes * 60 / idle, cpu))


def test_shapes_of_1_1_and_a_dropped_link(emulator, tmp_path):
    # 1.1's callbacks (a Property; command.reply()), plain and async; the link dropped by the
    # hub is healed while the application's `while client.is_connected()` loop goes on.
    app = emulator.app
    dev = new_id("aio-shapes")
    since = app.last_seq()
    with open(os.path.join(GLUE, "aio_shapes.py")) as f:
        proc = start(f.read(), tmp_path, emulator, {"IOTC_DEVICE_ID": dev})
    wait_for(emulator, proc, lambda e: e["type"] == "subscribed" and e.get("device") == dev
             and e.get("topic", "").startswith("$iothub/methods/"), since, "never connected")
    v = app.set_desired(dev, {"mode": "eco", "other": "refuse"})
    e = wait_for(emulator, proc, lambda e: e["type"] == "reported" and e.get("device") == dev
                 and "mode" in e["patch"], since, "no acknowledgement")
    assert e["patch"]["mode"]["ac"] == 200 and e["patch"]["mode"]["av"] == v
    res = app.invoke(dev, "reboot", {"delay": 2}, timeout=15)
    assert res["status"] == 200 and res["payload"] == RECEIVED, res
    since = app.last_seq()
    app.drop(dev)
    wait_for(emulator, proc, lambda e: e["type"] == "subscribed" and e.get("device") == dev
             and e.get("topic", "").startswith("$iothub/methods/"), since, "not healed")
    res = app.invoke(dev, "again", None, timeout=15)
    assert res["status"] == 200, res
    mid = app.send_c2d(dev, "text", {"method-name": "setLed"})
    wait_for(emulator, proc, lambda e: e["type"] == "c2d_ack" and e.get("id") == mid, since,
             "enqueued command not delivered")
    out = stop_and_finish(proc, tmp_path)
    assert "property mode eco None" in out and "property other refuse None" in out, out
    assert "command reboot {'delay': 2}" in out and "enqueued setLed text" in out, out
    assert "loop ended: connected True" in out, out  # not ended by the drop
    assert "other" not in app.twin(dev)["reported"]  # False: not acknowledged
