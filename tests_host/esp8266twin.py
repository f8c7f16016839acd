"""The ESP8266 twin's scenario (issue 14 §2), host side: samples/esp8266.py, unmodified, in the
twin (a 32-bit unix port with axTLS on the GC heap and iotc frozen as the ESP8266 board freezes
it; tools/esp8266-twin, built by `make esp8266-twin MICROPY_DIR=...`), against the emulator.

    python -m tests_host.esp8266twin TWIN               # pass/fail at 38,912 B, cold and warm
    python -m tests_host.esp8266twin TWIN --runs 5      # and the smallest heaps (medians)
    python -m tests_host.esp8266twin TWIN --via widened # the emulator widened, no relay

A run is one boot of the sample in `-X heapsize=N`: cold (no stored assignment: DPS, then the
hub) or warm (the assignment FileStorage wrote at an earlier boot: the hub only). While it runs,
the cloud's part is played from here: a writable property (acknowledged), a command (answered
200), then the connection dropped (the sample's listen() reconnects, and sends on). The run
passes when the sample exits 0 after all of that, as seen on the application side.

The emulator refuses axTLS's RSA key-exchange suites, as Azure does. Two ways past that (--via):
  relay    (the default) the path a real ESP8266 takes: the relay (relay/relay.py, nginx) in
           front of the emulator, which is NOT widened. The emulator has DNS names the relay
           routes by; the sample's iotc_config.json gets "relay" (the relay's address) and
           "endpoint" (the DPS name), as docs/esp8266.md, "The relay", tells a user to write.
  widened  straight to the emulator, started with $IOTC_EMU_TEST_ONLY_CIPHERS (a test-only
           widening, tests_host/emulator/README.md).
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE = os.path.join(ROOT, "samples", "esp8266.py")

ESP8266_HEAP = 38 * 1024  # ports/esp8266/main.c: static char heap[38 * 1024]
# axTLS's four RSA key-exchange suites, and OpenSSL's security level 0: asked for a client
# certificate (the emulator asks, as Azure does), axTLS sends its built-in one (1024-bit RSA,
# signed with SHA-1: "axTLS Project Dodgy Certificate Authority"), which OpenSSL 3 refuses
# above level 0.
AXTLS_SUITES = "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256:@SECLEVEL=0"
WIDEN_ENV = "IOTC_EMU_TEST_ONLY_CIPHERS"
LOOPS, INTERVAL = 40, 0.25  # the sample's own run: 10 s, long enough for the cloud's part


@contextlib.contextmanager
def _environ(**changes):
    # os.environ changed for the with block (None: unset); the emulator inherits it at start.
    old = {k: os.environ.get(k) for k in changes}
    try:
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def cloud(via, workdir):
    """The emulator, and the relay in front of it for via="relay" (None for "widened"), in
    workdir; -> (emulator, relay). Both are stopped at the end. For "relay", raises RuntimeError
    if nginx or its stream module is missing (relayfixture.nginx_missing() says why)."""
    from emufixture import RunningEmulator
    import relayfixture

    if via not in ("relay", "widened"):
        raise ValueError("via: relay or widened")
    if via == "relay":
        why = relayfixture.nginx_missing()
        if why:
            raise RuntimeError(why)
    os.makedirs(os.path.join(workdir, "emulator"))
    with _environ(**{WIDEN_ENV: AXTLS_SUITES if via == "widened" else None}):
        emulator = RunningEmulator(os.path.join(workdir, "emulator"),
                                   extra_args=relayfixture.EMULATOR_ARGS if via == "relay"
                                   else ())
    relay = None
    try:
        if via == "relay":
            relay = relayfixture.Relay(os.path.join(workdir, "relay"),
                                       relayfixture.routes(emulator), emulator.info["ca_pem"])
        yield emulator, relay
    finally:
        if relay:
            relay.stop()
        emulator.stop()


def write_config(emulator, cwd, device_id, **extra):
    i = emulator.info
    cfg = {"id_scope": i["id_scope"], "device_id": device_id, "group_key": i["group_key"],
           "endpoint": i["dps"], "verify": False,  # axTLS cannot verify (README)
           "wifi_ssid": "-", "wifi_password": "-", "interval": INTERVAL, "loops": LOOPS}
    cfg.update(extra)
    with open(os.path.join(cwd, "iotc_config.json"), "w") as f:
        json.dump(cfg, f)


def start(twin, cwd, heapsize, script=SAMPLE, env=None):
    # Everything the sample imports is frozen (.frozen first: the frozen `time` stand-in
    # shadows the unix one); the sample itself is compiled from source, as main.py on a board.
    full = dict(os.environ, MICROPYPATH=".frozen")
    full.update(env or {})
    return subprocess.Popen([twin, "-X", "heapsize={}".format(heapsize), script], cwd=cwd,
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def run(emulator, twin, cwd, heapsize, device, cold, timeout=60, script=SAMPLE, relay=None):
    """One boot of the sample; -> (passed, why, output). cold: remove the stored assignment
    first (DPS, then the hub); else it must be there (the hub only). relay: the relay's
    address, in front of an emulator started with relayfixture.EMULATOR_ARGS."""
    stored = os.path.join(cwd, "iotc_assignment.json")
    if cold and os.path.exists(stored):
        os.remove(stored)
    elif not cold and not os.path.exists(stored):
        raise RuntimeError("a warm start needs {} from a cold one".format(stored))
    if relay:
        import relayfixture

        write_config(emulator, cwd, device, relay=relay, endpoint=relayfixture.DPS_NAME)
    else:
        write_config(emulator, cwd, device)
    since = emulator.app.last_seq()
    proc = start(twin, cwd, heapsize, script)
    result = {}
    import memscenario  # tests_host on sys.path, as main() and the tests have it

    cloud = threading.Thread(target=_play_cloud, args=(emulator, device, since, proc, result))
    out = memscenario.beside(proc, cloud, timeout)
    why = _verdict(emulator, device, since, proc.returncode, out, result, cold)
    return why is None, why, out


def _play_cloud(emulator, device, since, proc, result):
    app = emulator.app

    def ev(kind, after, pred=lambda e: True):
        while proc.poll() is None:
            e = app.wait_event(lambda e: e["type"] == kind and e.get("device") == device
                               and pred(e), since=after, timeout=1)
            if e is not None:
                return e
        return None

    def methods(e):
        return e.get("topic", "").startswith("$iothub/methods/")

    try:
        if ev("subscribed", since, methods) is None:
            return  # it failed before: its exit status and output say why
        version = app.set_desired(device, {"fanSpeed": 2})
        ack = ev("reported", since, lambda e: (e["patch"].get("fanSpeed") or {}).get("av")
                 == version)
        result["ack"] = ack is not None and ack["patch"]["fanSpeed"]["ac"] == 200
        result["command"] = app.invoke(device, "ping", None, timeout=15)["status"]
        dropped = app.last_seq()
        app.drop(device)
        back = ev("subscribed", dropped, methods)
        result["reconnected"] = back["seq"] if back else None
    except OSError:
        pass  # the device went away: its exit status tells
    except Exception as e:  # AppError: the device never answered
        result["cloud"] = str(e)


def _verdict(emulator, device, since, rc, out, result, cold):
    if rc != 0:
        lines = out.strip().splitlines()
        what = "crashed (signal {})".format(-rc) if rc < 0 else "exit {}".format(rc)
        return "{}: {}".format(what, lines[-1] if lines else "no output")
    evs, _ = emulator.app.events(since)
    mine = [e for e in evs if e.get("device") == device]
    if cold != any(e["type"] == "dps_register" for e in mine):
        return "cold start without DPS" if cold else "warm start went through DPS"
    if not result.get("ack"):
        return "the property was not acknowledged with 200"
    if result.get("command") != 200:
        return "the command was not answered 200 ({})".format(result.get("command"))
    back = result.get("reconnected")
    if not back:
        return "no reconnect after the drop"
    if not any(e["type"] == "telemetry" and e["seq"] > back for e in mine):
        return "no telemetry after the reconnect"
    return None


def free_after_connect(out):
    """The sample prints "connected, free heap N" (gc.mem_free() right after connect())."""
    for line in out.splitlines():
        if line.startswith("connected, free heap"):
            return int(line.split()[-1])
    return None


def smallest_heap(attempt, lo=12 * 1024, hi=64 * 1024, step=256, say=print):
    """Smallest heap in which attempt(heapsize) -> (passed, why, out) passes, by bisection
    (near the edge single runs vary by a few hundred bytes: take a median of several)."""
    import memscenario

    def labelled(heapsize):
        ok, why, out = attempt(heapsize)
        return ok, "failed: {}".format(why), out

    return memscenario.bisect(labelled, lo, hi, step, say)


class Twin:
    """The twin and one working folder: cold(heap) provisions a new device each time; warm(heap)
    boots the device of the last passing cold run, from its stored assignment. relay: the
    relay's address (cloud("relay", ...)), or None straight to the emulator."""

    def __init__(self, emulator, binary, workdir, script=SAMPLE, relay=None):
        self.emulator, self.binary, self.dir, self.script = emulator, binary, workdir, script
        self.relay = relay
        self.warm_dir = os.path.join(workdir, "warm-" + os.path.basename(script)[:-3])
        self.warm_device = None

    def cold(self, heapsize):
        dev = "twin-" + uuid.uuid4().hex[:8]
        cwd = tempfile.mkdtemp(dir=self.dir)
        try:
            ok, why, out = run(self.emulator, self.binary, cwd, heapsize, dev, cold=True,
                               script=self.script, relay=self.relay)
            if ok and self.warm_device is None:
                shutil.copytree(cwd, self.warm_dir)
                self.warm_device = dev
            return ok, why, out
        finally:
            shutil.rmtree(cwd, ignore_errors=True)

    def warm(self, heapsize):
        if self.warm_device is None:
            ok, why, out = self.cold(4 * ESP8266_HEAP)
            if not ok:
                raise RuntimeError("no cold start to warm from: {}\n{}".format(why, out))
        return run(self.emulator, self.binary, self.warm_dir, heapsize, self.warm_device,
                   cold=False, script=self.script, relay=self.relay)


def main(argv=None):
    p = argparse.ArgumentParser(description="samples/esp8266.py in the ESP8266 twin")
    p.add_argument("twin", help="the twin's micropython (make esp8266-twin builds it)")
    p.add_argument("--sample", default=SAMPLE, help="the sample to run (default %(default)s)")
    p.add_argument("--runs", type=int, default=0,
                   help="bisections of the smallest heap, cold and warm (0: none)")
    p.add_argument("--via", choices=("relay", "widened"), default="relay",
                   help="through the relay to the emulator, or straight to the emulator "
                   "widened to axTLS's suites (default %(default)s)")
    args = p.parse_args(argv)
    sys.path.insert(0, HERE)

    work = tempfile.mkdtemp(prefix="iotc-twin-")
    failed = False
    try:
        with cloud(args.via, work) as (emulator, relay):
            twin = Twin(emulator, os.path.abspath(args.twin), work, os.path.abspath(args.sample),
                        relay=relay.address if relay else None)
            print("ESP8266 twin: {}, heap {} B (the ESP8266 port's), {}".format(
                os.path.relpath(twin.script, ROOT), ESP8266_HEAP,
                "through the relay (nginx) to the emulator" if relay else
                "straight to the emulator, widened to axTLS's suites (test only)"))
            for name in ("cold", "warm"):
                ok, why, out = getattr(twin, name)(ESP8266_HEAP)
                failed |= not ok
                print("  {} start at {} B: {}{}".format(
                    name, ESP8266_HEAP, "PASS" if ok else "FAIL: " + why,
                    ", free after connect {} B".format(free_after_connect(out)) if ok else ""))
                if not ok:
                    print(out)
            for name in ("cold", "warm") if args.runs else ():
                found = []
                for i in range(args.runs):
                    h = smallest_heap(getattr(twin, name))
                    found.append(h)
                    print("smallest heap, {} start (bisection {}): {} B".format(name, i + 1, h))
                print("smallest heap, {} start: median of {}: {} B (all: {})".format(
                    name, args.runs, int(statistics.median(found)), found))
            if relay:
                print("relay: " + " ".join(sorted(set(
                    w for w in relay.access().split() if w.startswith("sni=") and w != "sni=-"))))
    except RuntimeError as e:
        print("ESP8266 twin: {}".format(e))
        failed = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
