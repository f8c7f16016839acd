# iotc ota: updates over the air (the iotc-ota package; docs/ota.md). The iotcUpdate command
# carries a manifest (iotc.otacmd checks it); the files are downloaded over HTTPS beside the
# live ones (iotc.otarun, iotc.otaget), switched at the next boot (iotc.otaboot) and kept once
# the new version reaches the hub, or rolled back (the record: .ota/state, iotc.otafs); an
# ESP32 firmware image goes to the next OTA partition (iotc.otapart). Progress goes to the hub
# as the reported property iotcUpdateStatus.
#     up = Updater(client, hosts=("updates.example.com",), version="1.2.0")
# This module stays in RAM with the Updater: the hooks only; the rest loads when it has work.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc import _forget, hooks

COMMAND = "iotcUpdate"
PROPERTY = "iotcUpdateStatus"
_PIECES = const(8)  # 1 KB pieces of a download per listen() call


class Updater:
    def __init__(self, client, hosts=(), version=None, root="/", trial_s=120, reset=None,
                 slots=None, alone=None):
        # hosts: the only hosts update URLs may name (none by default: nothing is downloaded
        # until the application says from where). trial_s: how long a new version has to reach
        # the hub after its first boot. reset: the reboot (machine.reset). slots: the firmware
        # partitions (iotc.otapart.Slots, made when an image comes). alone: download with the
        # MQTT link closed (default on the ESP8266, which cannot hold two TLS sessions).
        self.client = client
        self.hosts = tuple(h.lower() for h in hosts)
        self.version = version
        self.root = root
        self.trial_ms = int(trial_s * 1000)
        self.reset = reset
        self.slots = slots
        if alone is None:
            import sys

            alone = sys.platform == "esp8266"
        self.alone = alone
        self._job = None  # the update under way: True, then a generator (iotc.otarun)
        self._state = None  # that update's state (iotc.otafs), or the outcome to report
        self._since = time.ticks_ms()
        from iotc.otafs import load

        st = load(root)
        if st and st.get("phase") in ("get", "apply", "good"):  # boot.py did not run boot()
            from iotc.otaboot import boot

            boot(root, slots)
            st = load(root)
            del boot
        self._trial = bool(st) and st.get("phase") == "trial"
        self._pending = bool(st)  # something for the next connection: keep, or report
        del load
        _forget("otafs", "otaboot")
        hooks.named(client, hooks.COMMAND, COMMAND, self._command)
        hooks.add(client, hooks.TICK, self._tick)
        hooks.add(client, hooks.LINK, self._link)
        hooks.add(client, hooks.GATE, self._gate)

    def close(self):
        c = self.client
        c._events.get(hooks.COMMAND, {}).pop(COMMAND, None)
        hooks.remove(c, hooks.TICK, self._tick)
        hooks.remove(c, hooks.LINK, self._link)
        hooks.remove(c, hooks.GATE, self._gate)

    def _command(self, command, ack=None):
        # fn(command, ack) as a command, fn(command) as an offline command (no answer then).
        from iotc.otacmd import run

        try:
            run(self, command, ack)
        finally:
            del run
            _forget("otacmd", "otafs")

    def _tick(self):
        # A few pieces of the download each listen() call: the application's loop, commands
        # and keepalives go on meanwhile.
        if self._job:
            if self.alone:  # the link closes (an OSError ends it); _gate downloads
                raise OSError("update: downloading with the link closed")
            self._run(_PIECES)

    def _gate(self, force_dps):
        self.check()
        if self._job:
            self._run(-1)  # all of it: reboots when it succeeds, else the failure is kept
        return False  # and reported once connected

    def _run(self, pieces):
        from iotc.otarun import run

        run(self, pieces)
        if self._job is None:  # over (failed: reported, or kept for the next connection)
            _forget("otarun", "otaget", "otapart", "otafs")

    def check(self):
        # A new version on trial that has not reached the hub in trial_s: back to the old one
        # (the next boot rolls back). Called at each connect attempt; an application whose
        # loop does not reach connect() can call it too.
        if self._trial and time.ticks_diff(time.ticks_ms(), self._since) > self.trial_ms:
            from iotc.otarun import expire

            expire(self)

    def _link(self, connected, reason):
        if connected and self._pending:
            from iotc.otarun import connected as kept

            try:
                kept(self)
            except OSError as e:  # the record stays as it was: the next boot acts on it
                self.client._log("update: {!r}", e)
            del kept
            _forget("otarun", "otafs", "otapart")

    def reboot(self):
        # Into the new version (or back to the old one): iotc.otaboot acts at the next boot.
        # The link ends first, so what was sent goes out.
        try:
            self.client.disconnect()
        except Exception:
            pass
        reset = self.reset
        if reset is None:
            import machine

            reset = getattr(machine, "reset", None)
            if reset is None:  # the unix port: the record is kept, the next start acts on it
                raise OSError("update: no machine.reset here; give Updater(reset=)")
        reset()

    def report(self, state, version, progress=None, reason=None):
        # iotcUpdateStatus -> True when handed to the link. Every field each time (null: none):
        # the twin merges a patch into what it holds.
        c = self.client
        if c._link is None:
            return False
        try:
            c.send_property({PROPERTY: {"state": state, "version": version,
                                        "progress": progress, "reason": reason}})
            return True
        except Exception as e:  # IoTCError, OSError: the state file keeps the outcome
            c._log("update: status not sent: {!r}", e)
            return False
