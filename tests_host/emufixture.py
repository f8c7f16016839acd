"""pytest fixtures that run the DPS + IoT Hub emulator (tests_host/emulator) as a subprocess.

  emulator          one instance for the whole session (all ports 0, a temporary state folder)
  emulator_factory  emulator_factory(**options) -> a fresh instance for one test
  running_emulator  `with running_emulator() as emu:` (for a fixture of another scope)
  (and, automatically, faults left armed on the session emulator are cleared after each test)

Each yields a RunningEmulator: .info (the ready JSON), .app (AppClient), .env() (variables for
MicroPython tests), .log() (its output so far). At the end the fixture checks that the emulator
was still running and recorded no internal error, stops it with SIGINT and checks it exited 0.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

from emulator.app import AppClient  # noqa: E402


class RunningEmulator:
    def __init__(self, workdir, retry_after=1, extra_args=(), host="127.0.0.1", ports=None):
        self.dir = workdir
        self.ready_file = os.path.join(workdir, "ready.json")
        self.log_path = os.path.join(workdir, "emulator.log")
        # The hub is not given a port: it takes 8883 on a loopback address of its own, so that
        # its name is a bare host name, as Azure's are.
        ports = dict({"dps": 0, "dps-mqtt": 0, "control": 0, "files": 0}, **(ports or {}))
        cmd = [sys.executable, "-m", "tests_host.emulator", "serve", "--host", host,
               "--state", os.path.join(workdir, "state"), "--ready-file", self.ready_file,
               "--retry-after", str(retry_after)]
        for k, v in ports.items():
            cmd += ["--{}-port".format(k), str(v)]
        cmd += list(extra_args)
        if os.path.exists(self.ready_file):  # from an earlier run in this folder
            os.remove(self.ready_file)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while not os.path.exists(self.ready_file):
            if self.proc.poll() is not None:
                raise RuntimeError("emulator exited with {} before it was ready:\n{}".format(
                    self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("emulator not ready in {} s:\n{}".format(
                    READY_TIMEOUT, self.log()))
            time.sleep(0.05)
        with open(self.ready_file) as f:
            self.info = json.load(f)
        self.app = AppClient(self.info["control"])

    def log(self):
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def env(self):
        i = self.info
        return {
            "IOTC_EMU_DPS": i["dps"],
            "IOTC_EMU_HUB": i["hub"],
            "IOTC_EMU_HUB_NAME": i["hub_name"],
            "IOTC_EMU_SCOPE": i["id_scope"],
            "IOTC_EMU_GROUP_ID": i["group_id"],
            "IOTC_EMU_GROUP_KEY": i["group_key"],
            "IOTC_EMU_X509_GROUP_ID": i["x509_group_id"],
            "IOTC_EMU_CA": i["ca_der"],
            "IOTC_EMU_CA_PEM": i["ca_pem"],
            "IOTC_EMU_CONTROL": i["control"],
            "IOTC_EMU_FILES": i["files"],
        }

    def stop(self):
        """Stop it; raise AssertionError (with its log) if it crashed or hit an internal error."""
        problems = []
        if self.proc.poll() is not None:
            problems.append("emulator died during the tests (exit {})".format(
                self.proc.returncode))
        else:
            try:
                errors = self.app.state()["internal_errors"]
                if errors:
                    problems.append("emulator recorded {} internal error(s)".format(errors))
            except OSError as e:
                problems.append("control API unreachable at the end: {!r}".format(e))
            self.proc.send_signal(signal.SIGINT)
            try:
                rc = self.proc.wait(STOP_TIMEOUT)
                if rc != 0:
                    problems.append("emulator exited with {} on SIGINT".format(rc))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("emulator did not stop within {} s of SIGINT".format(STOP_TIMEOUT))
        self._log.close()
        if problems:
            raise AssertionError("; ".join(problems) + "\n--- emulator log ---\n"
                                 + self.log()[-20000:])


@contextlib.contextmanager
def running_emulator(prefix="iotc-emu-", **kw):
    """An emulator in a fresh temporary folder, stopped (and checked) and removed at the end."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    emu = RunningEmulator(workdir, **kw)
    try:
        yield emu
    finally:
        emu.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def emulator():
    with running_emulator() as emu:
        yield emu


@pytest.fixture(autouse=True)
def emulator_faults_cleared(request):
    """After each test that used the session emulator, disarm any fault it left armed."""
    yield
    if "emulator" in request.fixturenames:
        emu = request.getfixturevalue("emulator")
        if emu.proc.poll() is None:
            try:
                emu.app.clear_faults()
            except OSError:
                pass


@pytest.fixture
def emulator_factory():
    """emulator_factory(retry_after=1, extra_args=(), host=.., ports={..}) -> RunningEmulator."""
    made = []

    def make(**kw):
        emu = RunningEmulator(tempfile.mkdtemp(prefix="iotc-emu-"), **kw)
        made.append(emu)
        return emu

    yield make
    errors = []
    for emu in made:
        try:
            emu.stop()
        except AssertionError as e:
            errors.append(str(e))
        shutil.rmtree(emu.dir, ignore_errors=True)
    if errors:
        raise AssertionError("\n".join(errors))
