# iotc ota: updates over the air (the iotc-ota package; docs/ota.md). The iotcUpdate command
# carries a manifest; the files are downloaded over HTTPS beside the live ones (iotc.otaget),
# switched at the next boot (iotc.otaboot) and kept once the new version reaches the hub, or
# rolled back; an ESP32 firmware image goes to the next OTA partition (iotc.otapart).
# Progress goes to the hub as the reported property iotcUpdateStatus.
#     up = Updater(client, hosts=("updates.example.com",), version="1.2.0")
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc import hooks
from iotc.otaboot import drop, join, load, mkdirs, report, rmtree, save

COMMAND = "iotcUpdate"
PROPERTY = "iotcUpdateStatus"
_BUF = const(1024)  # one piece of a download
_MAX_FILES = const(32)
_PIECES = const(8)  # pieces of a download per listen() call


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
        self._job = None  # the update under way: a generator (_steps), advanced by ticks
        self._state = None  # that update's state (iotc.otaboot), or the outcome to report
        self._since = time.ticks_ms()
        st = load(root)
        if st and st.get("phase") in ("get", "apply", "good"):  # boot.py did not run boot()
            from iotc.otaboot import boot

            boot(root, slots)
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

    # --- the command ---------------------------------------------------------------------

    def check_manifest(self, m):
        # -> the state of a new update from manifest m; ValueError with the reason.
        if isinstance(m, str):
            import json

            m = json.loads(m)
        if not isinstance(m, dict):
            raise ValueError("the manifest is a JSON object")
        v = m.get("version")
        if not isinstance(v, str) or not v:
            raise ValueError("the manifest has no version (a string)")
        files, fw = m.get("files"), m.get("firmware")
        if (files is None) == (fw is None):
            raise ValueError("the manifest has files or a firmware, one of the two")
        if fw is not None:
            fw = self._entry(fw, None)
            return {"phase": "get", "version": v, "old": self.version, "fw": fw}
        if not isinstance(files, list) or not files or len(files) > _MAX_FILES:
            raise ValueError("files: a list of 1 to {} entries".format(_MAX_FILES))
        out = []
        seen = set()
        for e in files:
            e = self._entry(e, True)
            if e["path"] in seen:
                raise ValueError("{} is twice in the manifest".format(e["path"]))
            seen.add(e["path"])
            out.append(e)
        return {"phase": "get", "version": v, "old": self.version, "files": out, "new": []}

    def _entry(self, e, is_file):
        if not isinstance(e, dict):
            raise ValueError("each entry is a JSON object")
        url, size, sha = e.get("url"), e.get("size"), e.get("sha256")
        host, port, _ = split(url)
        if host not in self.hosts and "{}:{}".format(host, port) not in self.hosts:
            raise ValueError("{} is not an allowed host".format(host))
        if not isinstance(size, int) or size < 0:
            raise ValueError("{}: size is a number of bytes".format(url))
        if not isinstance(sha, str) or len(sha) != 64 or not _hex(sha):
            raise ValueError("{}: sha256 is 64 hex digits".format(url))
        out = {"url": url, "size": size, "sha256": sha.lower()}
        if is_file:
            p = e.get("path")
            if (not isinstance(p, str) or not p or p[0] == "/" or p[-1] == "/" or "\\" in p
                    or ".." in p.split("/") or p.split("/")[0] == ".ota" or "//" in p):
                raise ValueError("path {!r}: a file's path under the root".format(p))
            out["path"] = p
        return out

    def _command(self, command, ack=None):
        # fn(command, ack) as a command, fn(command) as an offline command (no answer then).
        try:
            st = self.check_manifest(command.value)
        except ValueError as e:
            return ack and ack(command, {"error": str(e)}, 400)
        old = load(self.root)
        if self._job or old and old.get("phase") != "report":
            return ack and ack(command, {"error": "an update is under way"}, 409)
        root = self.root
        try:
            rmtree(join(root, ".ota", "new"))
            rmtree(join(root, ".ota", "old"))
            mkdirs(join(root, ".ota", "new", "x"))
            for e in st.get("files", ()):
                if not _exists(join(root, e["path"])):
                    st["new"].append(e["path"])
            save(root, st)
        except OSError as e:
            return ack and ack(command, {"error": "cannot stage the update: {}".format(e)}, 500)
        self._state = st
        self._job = self._steps()
        if ack:
            ack(command, {"accepted": st["version"]}, 202)
        self._report("downloading", st["version"], 0)

    # --- the download, the switch --------------------------------------------------------

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
        job = self._job
        try:
            while pieces:
                next(job)
                pieces -= 1
        except StopIteration:
            self._job = None
            self.reboot()
        except Exception as e:  # OSError, ValueError, MemoryError: the board goes on as it was
            self._job = None
            job.close()
            reason = "filesystem full" if isinstance(e, OSError) and e.args[:1] == (28,) \
                else str(e) or repr(e)
            try:
                self._state = report(self.root, self._state, "failed", reason)
            except OSError:
                pass
            self._outcome()

    def _steps(self):
        st = self._state
        root = self.root
        buf = bytearray(_BUF)
        total = st["fw"]["size"] if st.get("fw") else sum(e["size"] for e in st["files"])
        prog = [0, 25, total]  # bytes done, next percent to report, total

        def progress(n):
            prog[0] += n
            pct = prog[0] * 100 // (prog[2] or 1)
            if pct >= prog[1] and pct < 100:
                self._report("downloading", st["version"], pct)
                prog[1] = pct - pct % 25 + 25

        if st.get("fw"):
            from iotc.otapart import Slots, write

            self.slots = self.slots or Slots()
            yield from write(self.client, st, self.slots, buf, progress)
        else:
            from iotc.otaget import get

            for e in st["files"]:
                p = join(root, ".ota", "new", e["path"])
                mkdirs(p)
                with open(p, "wb") as f:
                    digest = yield from get(self.client, e["url"], e["size"],
                                            lambda mv: (f.write(mv), progress(len(mv))), buf)
                if digest != e["sha256"]:
                    raise ValueError("{}: its SHA-256 is not the manifest's".format(e["url"]))
        self._report("verifying", st["version"], 100)
        st["phase"] = "apply"
        save(root, st)
        self._report("applying", st["version"], 100)

    def reboot(self):
        # Into the new version: iotc.otaboot switches it in at the next boot. The link ends
        # first, so what was sent goes out.
        try:
            self.client.disconnect()
        except Exception:
            pass
        reset = self.reset
        if reset is None:
            import machine

            reset = machine.reset
        reset()

    # --- after the reboot: kept, or rolled back ------------------------------------------

    def check(self):
        # A new version on trial that has not reached the hub in trial_s: back to the old one
        # (the next boot rolls back). Called at each connect attempt; an application whose
        # loop does not reach connect() can call it too.
        st = load(self.root)
        if st and st.get("phase") == "trial" and \
                time.ticks_diff(time.ticks_ms(), self._since) > self.trial_ms:
            st["why"] = "version {} did not reach the hub within {} s".format(
                st.get("version"), self.trial_ms // 1000)
            save(self.root, st)
            self.reboot()

    def _link(self, connected, reason):
        if not connected:
            return
        root = self.root
        st = load(root)
        if st is None:
            return
        if st.get("phase") == "trial":  # the new version reached the hub: it stays
            if st.get("fw"):
                from iotc.otapart import Slots

                (self.slots or Slots()).mark_valid()
            st["phase"] = "good"
            save(root, st)
            st = report(root, st, "done")
        self._state = st
        self._outcome()

    def _outcome(self):
        # Report the outcome kept in .ota/state; forgotten once the hub has it.
        st = self._state
        if st and st.get("phase") == "report":
            s = st["status"]
            if self._report(s["state"], s.get("version"), None, s.get("reason")):
                drop(self.root)

    def _report(self, state, version, progress=None, reason=None):
        # -> True when handed to the link.
        # Every field each time (null: none): the twin merges a patch into what it holds.
        v = {"state": state, "version": version, "progress": progress, "reason": reason}
        c = self.client
        if c._link is None:
            return False
        try:
            c.send_property({PROPERTY: v})
            return True
        except Exception as e:  # IoTCError, OSError: the state file keeps the outcome
            c._log("update: status not sent: {!r}", e)
            return False


def split(url):
    # "https://host[:port]/path" -> (host, port, path); ValueError for anything else.
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError("not an https:// URL: {}".format(url))
    hp, _, path = url[8:].partition("/")
    host, _, port = hp.partition(":")
    if not host or "@" in hp or " " in url or (port and not port.isdigit()):
        raise ValueError("not a URL this client reads: {}".format(url))
    return host.lower(), int(port or 443), "/" + path


def _hex(s):
    for ch in s:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


def _exists(p):
    from iotc.otaboot import exists

    return exists(p)
