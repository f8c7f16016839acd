"""The relay (relay/relay.py, nginx's stream module) run as users run it, in front of the
emulator: tests_host/test_relay.py and the ESP8266 twin's relay path (tests_host/esp8266twin.py).

  need_nginx(fail_under_ci)   the reason nginx or its stream module is missing, or None
  Relay(workdir, routes, trust)   started on a free port of 127.0.0.1 (.port), .stop()
  EMULATOR_ARGS, routes(emulator)  the emulator under DNS names, and the relay's routes to it
"""

import os
import runpy
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RELAY_PY = os.path.join(ROOT, "relay", "relay.py")
MISSING = os.path.join(ROOT, ".deps", "relay-missing.txt")  # the Makefile's reason, if any
DPS_NAME = "dps.relay.test"  # names only the relay and the emulator know: the device never
HUB_NAME = "hub.relay.test"  # resolves them (it dials the relay), as for Azure's names
# The emulator under those names (its certificate names both), the hub on a port of its own.
EMULATOR_ARGS = ["--public-name", HUB_NAME, "--cert-name", DPS_NAME, "--hub-port", "0"]


def relay_module():
    return runpy.run_path(RELAY_PY)


def nginx_missing():
    """-> why the relay cannot run here (nginx or its stream module missing), or None."""
    try:
        relay_module()["find_nginx"]()
    except Exception as e:
        why = "relay: {}".format(e)
        if os.path.exists(MISSING):
            with open(MISSING) as f:
                why += "; make: " + f.read().strip()
        return why
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_of(hostport):
    return int(hostport.rpartition(":")[2])


def routes(emulator):
    """The relay's routes to an emulator started with EMULATOR_ARGS: DPS and the hub."""
    return ["{}=127.0.0.1:{}".format(DPS_NAME, port_of(emulator.info["dps"])),
            "{}=127.0.0.1:{}".format(HUB_NAME, port_of(emulator.info["hub"]))]


class Relay:
    def __init__(self, workdir, routes, trust):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "relay.out")
        for _ in range(3):  # a port picked free may be taken by another test meanwhile
            self.port = free_port()
            cmd = [sys.executable, RELAY_PY, "--dir", self.dir, "--trust", trust,
                   "--listen", "127.0.0.1:{}".format(self.port)]
            for r in routes:
                cmd += ["--route", r]
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return
            self.stop()
        raise AssertionError("the relay did not start:\n" + self.log())

    @property
    def address(self):
        return "127.0.0.1:{}".format(self.port)

    def _wait_ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access(self):
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nginx itself (relay.py execs it)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
