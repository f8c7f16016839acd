"""`make demo`: the whole IoT Central round trip on this machine, in well under 30 seconds.

Starts the local emulator (DPS + IoT Hub stand-in, free ports, a fresh temporary state folder),
runs samples/unix_emulator.py under the MicroPython unix port as the device, and acts as the
application: waits for the provisioning and the telemetry, sets a writable property and waits
for the device's acknowledgement, invokes a command and shows the answer. Every child runs in
its own process group and is stopped (and waited for) on the way out, also on Ctrl-C or error.
Exit status 0 only when every step was seen.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests_host"))

from emulator.app import AppClient, AppError  # noqa: E402

BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
DEVICE = "thermostat-1"
MODEL = "dtmi:com:example:Thermostat;1"
TOTAL_BUDGET = 30.0  # seconds for the whole demo, whatever happens
STEP_TIMEOUT = 10.0
WIDTH = 72

T0 = time.monotonic()
_print_lock = threading.Lock()


def say(who, text):
    with _print_lock:
        print("[{:5.1f}s] {:<7} {}".format(time.monotonic() - T0, who, text), flush=True)


def banner(lines):
    with _print_lock:
        print("=" * WIDTH)
        for line in lines:
            print(" " + line)
        print("=" * WIDTH, flush=True)


def left():
    return TOTAL_BUDGET - (time.monotonic() - T0)


class Demo:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="iotc-demo-")
        self.emu = None
        self.dev = None
        self.stopping = False  # set once the demo itself stops the device
        self.app = None
        self.since = 0
        self.results = []  # (step, ok, detail)
        self.telemetry = 0
        self.device_lines = []

    # -- processes -------------------------------------------------------------------------------
    def start_emulator(self):
        say("setup", "starting the emulator (local DPS + IoT Hub stand-in, not Azure)")
        ready = os.path.join(self.tmp, "ready.json")
        cmd = [sys.executable, "-m", "tests_host.emulator", "serve", "-q",
               "--state", os.path.join(self.tmp, "state"), "--ready-file", ready,
               "--dps-port", "0", "--dps-mqtt-port", "0", "--hub-port", "0",
               "--control-port", "0"]
        self.emu_log = open(os.path.join(self.tmp, "emulator.log"), "wb")
        self.emu = subprocess.Popen(cmd, cwd=ROOT, stdout=self.emu_log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + min(20.0, left())
        while not os.path.exists(ready):
            if self.emu.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start:\n" + self.emulator_log())
            time.sleep(0.05)
        with open(ready) as f:
            self.info = json.load(f)
        self.ready = ready
        self.app = AppClient(self.info["control"], timeout=10)
        self.since = self.app.last_seq()
        say("setup", "emulator ready: DPS https://{}  hub mqtts://{}".format(
            self.info["dps"], self.info["hub"]))
        say("setup", "ID scope {}, enrollment group {}, its CA in {}".format(
            self.info["id_scope"], self.info["group_id"], os.path.basename(self.info["ca_der"])))

    def emulator_log(self):
        try:
            with open(os.path.join(self.tmp, "emulator.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def start_device(self):
        say("setup", "starting the device: samples/unix_emulator.py on the MicroPython unix port")
        env = dict(os.environ)
        env.update({
            "MICROPYPATH": ":".join([ROOT, os.path.join(ROOT, ".deps", "lib"),
                                     os.path.join(ROOT, "tests_host", "mplib"), ".frozen"]),
            "IOTC_EMU_READY": self.ready,
            "IOTC_DEVICE_ID": DEVICE,
            "IOTC_INTERVAL": "1",
            "IOTC_LOOPS": "40",  # a bound of its own; the demo stops it well before that
        })
        self.dev = subprocess.Popen(
            [MICROPYTHON, os.path.join("samples", "unix_emulator.py")], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.dev.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.device_lines.append(line)
            if line.startswith("device: "):
                line = line[len("device: "):]
            say("device", line)

    def stop(self):
        # The device first (Ctrl-C lets the sample disconnect cleanly), then the emulator.
        for name, proc in (("device", self.dev), ("emulator", self.emu)):
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError, PermissionError):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        if self.emu is not None:
            self.emu_log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the application side ------------------------------------------------------------------
    def wait(self, kind, match=None, timeout=STEP_TIMEOUT):
        """The next event of `kind` for our device (and match(e)), printing telemetry meanwhile."""
        deadline = time.monotonic() + min(timeout, max(left(), 0.1))
        while time.monotonic() < deadline:
            if self.dev is not None and not self.stopping and self.dev.poll() is not None:
                raise RuntimeError(
                    "the device exited early (status {})".format(self.dev.returncode))
            wait = min(1.0, max(deadline - time.monotonic(), 0.1))
            evs, last = self.app.events(self.since, wait)
            for e in evs:
                self.since = e["seq"]
                if e.get("device") != DEVICE:
                    continue
                self.show(e)
                if e["type"] == kind and (match is None or match(e)):
                    return e
            if not evs:
                self.since = max(self.since, last)
        return None

    def show(self, e):
        kind = e["type"]
        if kind == "telemetry":
            self.telemetry += 1
            props = {k: v for k, v in e["properties"].items() if not k.startswith("$")}
            say("cloud", "telemetry  {}  properties {}".format(e["body"], json.dumps(props)))
        elif kind == "reported":
            say("cloud", "reported properties {}".format(json.dumps(e["patch"])))
        elif kind == "connected":
            say("cloud", "device connected to the hub (MQTT, model-id {})".format(e["model_id"]))
        elif kind == "disconnected":
            say("cloud", "device disconnected ({})".format(e.get("reason")))
        elif kind == "dps_register":
            say("cloud", "DPS: registration request from {} (modelId {})".format(
                e["device"], e.get("model_id")))
        elif kind == "dps_assigned":
            say("cloud", "DPS: {} assigned to hub {}".format(e["device"], e["hub"]))

    def step(self, name, ok, detail):
        self.results.append((name, ok, detail))
        say("result", "{} {}: {}".format("OK  " if ok else "FAIL", name, detail))
        if not ok:
            raise RuntimeError(name + " did not happen")

    def run(self):
        banner(["iotc demo: a MicroPython device and Azure IoT Central, on this machine",
                "the cloud side is a local emulator; nothing leaves 127.0.0.1",
                "it stops by itself within {:.0f} s (Ctrl-C stops it now)".format(TOTAL_BUDGET)])
        self.start_emulator()
        self.start_device()

        say("step", "1/4 provisioning: the device registers with DPS and connects to its hub")
        e = self.wait("dps_assigned")
        self.step("provisioning", e is not None and e["model_id"] == MODEL,
                  "assigned to {}".format(e["hub"]) if e else "no DPS assignment")
        e = self.wait("connected")
        self.step("hub connection", e is not None, "MQTT session up" if e else "no connection")

        say("step", "2/4 telemetry: waiting for messages from the device")
        for _ in range(2):
            e = self.wait("telemetry")
        self.step("telemetry", self.telemetry >= 2, "{} messages arrived".format(self.telemetry))

        say("step", "3/4 writable property: the application sets targetTemperature = 25")
        version = self.app.set_desired(DEVICE, {"targetTemperature": 25})
        say("app", "desired property targetTemperature = 25 sent (twin $version {})".format(
            version))

        def acked(ev):
            v = ev["patch"].get("targetTemperature")
            return isinstance(v, dict) and v.get("av") == version

        e = self.wait("reported", acked)
        ack = e["patch"]["targetTemperature"] if e else None
        ok = bool(ack and ack.get("ac") == 200 and ack.get("value") == 25)
        detail = "no acknowledgement"
        if ack:
            detail = "device answered value={} ac={} av={}".format(
                ack.get("value"), ack.get("ac"), ack.get("av"))
        self.step("property acknowledged", ok, detail)

        say("step", "4/4 command: the application invokes getMaxMinReport")
        try:
            res = self.app.invoke(DEVICE, "getMaxMinReport", {"since": "2026-01-01T00:00:00Z"},
                                  timeout=min(STEP_TIMEOUT, max(left(), 1)))
        except AppError as err:
            res = {"status": err.status, "payload": err.body}
        say("app", "command answered: status {} payload {}".format(
            res.get("status"), json.dumps(res.get("payload"))))
        ok = res.get("status") == 200 and "maxTemp" in (res.get("payload") or {})
        self.step("command answered", ok, "status {}".format(res.get("status")))

        say("step", "the device heads for the new set point; two more readings")
        n = self.telemetry
        while self.telemetry < n + 2 and left() > 3:
            if self.wait("telemetry", timeout=3) is None:
                break
        say("setup", "stopping the device (Ctrl-C to the sample: it disconnects cleanly)")
        self.stopping = True  # from now on its exit is expected, maybe before its last event
        os.killpg(self.dev.pid, signal.SIGINT)
        self.wait("disconnected", timeout=5)
        try:
            self.dev.wait(5)
        except subprocess.TimeoutExpired:
            pass


def main():
    demo = Demo()
    code = 1
    interrupted = False
    try:
        demo.run()
        code = 0
    except KeyboardInterrupt:
        interrupted = True
        code = 130
        say("setup", "interrupted: stopping")
    except Exception as e:
        say("error", str(e))
        log = demo.emulator_log()
        if log:
            say("error", "emulator log (end):\n" + log)
    finally:
        demo.stop()
    done = [r[0] for r in demo.results if r[1]]
    lines = ["iotc demo {} in {:.1f} s".format(
        "PASSED" if code == 0 else ("INTERRUPTED" if interrupted else "FAILED"),
        time.monotonic() - T0)]
    for name, ok, detail in demo.results:
        lines.append("  {} {:<22} {}".format("[x]" if ok else "[ ]", name, detail))
    lines.append("{} of 5 steps seen; emulator and device stopped.".format(len(done)))
    banner(lines)
    return code


if __name__ == "__main__":
    sys.exit(main())
