"""Updates over the air (iotc-ota: iotc/ota.py, otaget.py, otaboot.py, otapart.py; docs/ota.md)
on the unix port against the emulator, which serves the update files over HTTPS (files.py).

A board here is a folder: flash.img, a real littlefs on the flash stand-in (a file-backed block
device, tests_host/mp/otastandin.py), holding the application (main.py, cfg.json); a start of
the board is one unix-port process (tests_host/mp/otaboard.py: boot.py's lines, then main.py
from the flash); a reboot is that process ending with status 3 (the machine.reset stand-in)
and the test starting the next one over the same folder. The ESP32 firmware case adds the
partition stand-in (files for ota_0, ota_1 and the bootloader's otadata). All else is real.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MP = os.path.join(HERE, "mp")
MICROPYPATH = ":".join([ROOT, os.path.join(ROOT, ".deps", "lib"), os.path.join(HERE, "mplib"),
                        MP, ".frozen"])
REBOOT = 3
TIMEOUT = 90
with open(os.path.join(MP, "otaapp.py")) as _f:
    APP = _f.read()


def app_source(version):
    return APP.replace('VERSION = "0"', 'VERSION = "{}"'.format(version), 1)


class Board:
    def __init__(self, tmp_path, emulator, blocks=64, firmware=False, trial_s=30):
        self.dir = str(tmp_path)
        self.emu = emulator
        self.device = "ota-{}".format(uuid.uuid4().hex[:8])
        i = emulator.info
        self.cfg = {"scope": i["id_scope"], "device": self.device, "key": i["group_key"],
                    "dps": i["dps"], "ca": i["ca_der"], "hosts": ["127.0.0.1"],
                    "trial_s": trial_s}
        self.board = {"blocks": blocks, "kill_at": 0, "firmware": firmware}
        self.starts = 0

    def _write_board(self):
        with open(os.path.join(self.dir, "board.json"), "w") as f:
            json.dump(self.board, f)

    def init(self, version="1", extra=None):
        src = os.path.join(self.dir, "src")
        os.makedirs(src, exist_ok=True)
        files = {"main.py": app_source(version), "cfg.json": json.dumps(self.cfg)}
        files.update(extra or {})
        for name, text in files.items():
            with open(os.path.join(src, name), "w") as f:
                f.write(text)
        self._write_board()
        out = subprocess.run([harness.MICROPYTHON, os.path.join(MP, "otaboard.py"), self.dir,
                              "init"], env=dict(os.environ, MICROPYPATH=MICROPYPATH),
                             capture_output=True, text=True, timeout=TIMEOUT)
        assert out.returncode == 0, out.stdout + out.stderr
        return files

    def start(self, run_s=4, kill_at=0, lib=None, heapsize=None):
        """One start of the board -> a Proc (its output is read as it comes). lib: a folder of
        .mpy modules that comes first (memscenario.build's); heapsize: -X heapsize."""
        self.board["kill_at"] = kill_at
        self._write_board()
        self.starts += 1
        path = MICROPYPATH if lib is None else lib + ":" + MICROPYPATH
        env = dict(os.environ, MICROPYPATH=path, OTA_RUN_S=str(run_s))
        cmd = [harness.MICROPYTHON] + (["-X", "heapsize={}".format(heapsize)] if heapsize
                                       else []) + [os.path.join(MP, "otaboard.py"), self.dir]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        return Proc(p)

    def run(self, run_s=4, **kw):
        p = self.start(run_s, **kw)
        return p.finish()

    def statuses(self, since=0):
        """The iotcUpdateStatus values the device reported, in order."""
        out = []
        evs, _ = self.emu.app.events(since, 0)
        for e in evs:
            if e["type"] == "reported" and e.get("device") == self.device:
                v = (e.get("patch") or {}).get("iotcUpdateStatus")
                if v is not None:
                    out.append(v)
        return out

    def reported(self):
        return self.emu.app.twin(self.device)["reported"].get("iotcUpdateStatus")

    def versions(self, since=0):
        return [json.loads(t["body"])["version"] for t in self.emu.app.telemetry(self.device)]

    def wait_connected(self, since, proc):
        def match(e):
            return (e["type"] == "subscribed" and e.get("device") == self.device
                    and e.get("topic", "").startswith("$iothub/methods/"))

        e = self.emu.app.wait_event(match, since=since, timeout=30)
        assert e is not None, "the board did not connect:\n" + proc.kill()

    def update(self, manifest, timeout=20):
        return self.emu.app.invoke(self.device, "iotcUpdate", manifest, timeout=timeout)


class Proc:
    def __init__(self, p):
        self.p = p
        self.lines = []
        self.killpoint = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)
            if line.startswith("KILLPOINT"):
                self.killpoint.set()

    def out(self):
        return "".join(self.lines)

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        self.t.join(5)
        return self.out()

    def finish(self, timeout=TIMEOUT):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the board did not end in {} s:\n{}".format(timeout,
                                                                            self.kill()))
        self.t.join(5)
        return self.p.returncode, self.out()


def put(emulator, path, text=None, **kw):
    name = "{}-{}".format(uuid.uuid4().hex[:8], path.replace("/", "_"))
    e = emulator.app.put_file(name, text=text) if text is not None else \
        emulator.app.put_file(name, **kw)
    return {"path": path, "url": e["url"], "size": e["size"], "sha256": e["sha256"]}


def flash_files(board):
    """{path: sha256} of the files on the board's flash (read by a unix-port process)."""
    code = ("import vfs,os,sys,json,hashlib,binascii,otastandin\n"
            "fl=otastandin.FlashStandin(sys.argv[1]+'/flash.img',{})\n"
            "vfs.mount(vfs.VfsLfs2(fl),'/f')\n"
            "out={{}}\n"
            "def walk(p):\n"
            " for e in os.ilistdir(p):\n"
            "  q=p+'/'+e[0]\n"
            "  if e[1]==0x4000: walk(q)\n"
            "  else:\n"
            "   h=hashlib.sha256()\n"
            "   with open(q,'rb') as f: h.update(f.read())\n"
            "   out[q[2:]]=binascii.hexlify(h.digest()).decode()\n"
            "walk('/f')\n"
            "print(json.dumps(out))\n").format(board.board["blocks"])
    out = subprocess.run([harness.MICROPYTHON, "-c", code, board.dir],
                         env=dict(os.environ, MICROPYPATH=MICROPYPATH), capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def update_and_reboot(board, manifest, run_s=15, **kw):
    """Start the board, offer the update, expect 202 and the reboot (exit 3) -> its output."""
    since = board.emu.app.last_seq()
    p = board.start(run_s, **kw)
    board.wait_connected(since, p)
    res = board.update(manifest)
    assert res["status"] == 202, (res, p.kill())
    rc, out = p.finish()
    assert rc == REBOOT, out
    return out


# --- the whole update: old version -> new version, kept; and the rollback -----------------


def test_update_end_to_end(tmp_path, emulator):
    board = Board(tmp_path, emulator)
    board.init("1")
    v2 = app_source("2")
    manifest = {"version": "2", "files": [put(emulator, "main.py", v2),
                                          put(emulator, "lib/extra.py", "X = 2\n")]}
    since = emulator.app.last_seq()
    out = update_and_reboot(board, manifest)
    assert "APP 1" in out
    states = [s["state"] for s in board.statuses(since)]
    assert states[:1] == ["downloading"] and states[-2:] == ["verifying", "applying"], states
    rc, out = board.run(3)
    assert rc == 0 and "BOOT trial" in out and "APP 2" in out, out
    assert board.reported() == {"state": "done", "version": "2"}
    assert board.versions() == ["1", "2"]
    files = flash_files(board)
    assert files["/main.py"] == sha(v2) and files["/lib/extra.py"] == sha("X = 2\n")
    assert not any(k.startswith("/.ota/old") or k.startswith("/.ota/new") for k in files), files
    # and the next start is plain version 2, nothing more to report
    n = len(board.statuses(since))
    rc, out = board.run(2)
    assert rc == 0 and "BOOT None" in out and "APP 2" in out, out
    assert len(board.statuses(since)) == n


def test_update_rolled_back_when_the_new_version_cannot_reach_the_hub(tmp_path, emulator):
    board = Board(tmp_path, emulator, trial_s=2)
    old = board.init("1")
    bad_cfg = dict(board.cfg, dps="127.0.0.1:1")  # version 2 dials a port nobody serves
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")),
                                          put(emulator, "cfg.json", json.dumps(bad_cfg)),
                                          put(emulator, "new.py", "N = 1\n")]}
    update_and_reboot(board, manifest)
    rc, out = board.run(3)  # version 2: no hub within trial_s -> the reset stand-in
    assert rc == REBOOT and "APP 2" in out and "CONNECT FAILED" in out, out
    rc, out = board.run(3)  # the next boot: back to version 1, which reports it
    assert rc == 0 and "BOOT report" in out and "APP 1" in out, out
    rep = board.reported()
    assert rep["state"] == "rolled back" and rep["version"] == "2", rep
    assert "did not reach the hub within 2 s" in rep["reason"], rep
    files = flash_files(board)
    assert files["/main.py"] == sha(old["main.py"]) and files["/cfg.json"] == sha(old["cfg.json"])
    assert "/new.py" not in files, files
    assert board.versions() == ["1", "1"]


# --- every fault leaves a working board --------------------------------------------------


def wait_status(board, since, states=("failed", "done", "rolled back"), timeout=30):
    def match(e):
        return (e["type"] == "reported" and e.get("device") == board.device
                and (e.get("patch") or {}).get("iotcUpdateStatus", {}).get("state") in states)

    e = board.emu.app.wait_event(match, since=since, timeout=timeout)
    assert e is not None, "no {} status".format(states)
    return e["patch"]["iotcUpdateStatus"]


def assert_untouched(board, old):
    """The board's files are the old ones, nothing staged, and it starts and connects as before."""
    files = flash_files(board)
    for name, text in old.items():
        assert files["/" + name] == sha(text), name
    assert not any(k.startswith("/.ota/") and k not in ("/.ota/state",) for k in files), files
    rc, out = board.run(1)
    assert rc == 0 and "BOOT None" in out and "CONNECTED 1" in out, out


def fail_update(board, manifest, fault=None, run_s=8):
    """Offer an update that must fail while the board runs on; -> the failed status."""
    since = board.emu.app.last_seq()
    p = board.start(run_s)
    board.wait_connected(since, p)
    if fault:
        board.emu.app.file_fault(**fault)
    res = board.update(manifest)
    assert res["status"] == 202, (res, p.kill())
    st = wait_status(board, since)
    rc, out = p.finish()
    assert rc == 0 and "END 1" in out, out  # no reboot: version 1 ran on
    assert st["state"] == "failed" and st["version"] == "2", st
    assert board.reported() == {"state": "failed", "version": "2", "reason": st["reason"]}
    return st


def test_cut_download_leaves_the_old_version(tmp_path, emulator):
    board = Board(tmp_path, emulator)
    old = board.init("1")
    big = put(emulator, "big.bin", size=20000, seed=1)
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")), big]}
    st = fail_update(board, manifest, {"kind": "cut", "after": 5000,
                                       "name": big["url"].rsplit("/", 1)[1]})
    assert "download cut at" in st["reason"], st
    assert_untouched(board, old)
    # and the same update goes through once the server behaves
    update_and_reboot(board, manifest)
    rc, out = board.run(2)
    assert rc == 0 and "CONNECTED 2" in out and board.reported()["state"] == "done", out


def test_wrong_hash_and_wrong_size_are_refused(tmp_path, emulator):
    board = Board(tmp_path, emulator)
    old = board.init("1")
    good = put(emulator, "main.py", app_source("2"))
    # the server sends other bytes than the manifest's
    st = fail_update(board, {"version": "2", "files": [good]},
                     {"kind": "corrupt", "offset": 100})
    assert "SHA-256 is not the manifest's" in st["reason"], st
    assert_untouched(board, old)
    # the manifest's hash is wrong
    bad = dict(good, sha256="0" * 64)
    st = fail_update(board, {"version": "2", "files": [bad]})
    assert "SHA-256 is not the manifest's" in st["reason"], st
    # the manifest's size is wrong
    st = fail_update(board, {"version": "2", "files": [dict(good, size=good["size"] + 1)]})
    assert "the manifest says" in st["reason"], st
    # the server answers 404
    st = fail_update(board, {"version": "2", "files": [good]}, {"kind": "status", "status": 404})
    assert "answered 404" in st["reason"], st
    assert_untouched(board, old)


def test_full_filesystem(tmp_path, emulator):
    board = Board(tmp_path, emulator, blocks=24)  # a 96 KB littlefs
    old = board.init("1")
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")),
                                          put(emulator, "data.bin", size=100 * 1024, seed=2)]}
    st = fail_update(board, manifest)
    assert st["reason"] == "filesystem full", st
    assert_untouched(board, old)


def test_refused_manifests_touch_nothing(tmp_path, emulator):
    board = Board(tmp_path, emulator)
    old = board.init("1")
    good = put(emulator, "main.py", app_source("2"))
    fetched = {f["name"]: f["fetches"] for f in emulator.app.files()}
    http = dict(good, url=good["url"].replace("https://", "http://"))
    other = dict(good, url=good["url"].replace("127.0.0.1", "localhost"))
    cases = [
        ("not https", {"version": "2", "files": [http]}, "not an https:// URL"),
        ("host not allowed", {"version": "2", "files": [other]}, "not an allowed host"),
        ("no version", {"files": [good]}, "no version"),
        ("files and firmware", {"version": "2", "files": [good], "firmware": good},
         "one of the two"),
        ("no files", {"version": "2", "files": []}, "files: a list"),
        ("bad hash", {"version": "2", "files": [dict(good, sha256="xyz")]}, "64 hex digits"),
        ("bad size", {"version": "2", "files": [dict(good, size="12")]}, "number of bytes"),
        ("path up", {"version": "2", "files": [dict(good, path="../boot.py")]}, "path"),
        ("path absolute", {"version": "2", "files": [dict(good, path="/main.py")]}, "path"),
        ("path .ota", {"version": "2", "files": [dict(good, path=".ota/state")]}, "path"),
        ("twice", {"version": "2", "files": [good, good]}, "twice"),
        ("not an object", [1, 2], "JSON object"),
    ]
    since = emulator.app.last_seq()
    p = board.start(len(cases) + 4)
    board.wait_connected(since, p)
    for what, manifest, reason in cases:
        res = board.update(manifest)
        assert res["status"] == 400 and reason in res["payload"]["error"], (what, res)
    rc, out = p.finish()
    assert rc == 0, out
    assert board.statuses(since) == []  # nothing began
    assert {f["name"]: f["fetches"] for f in emulator.app.files()} == fetched  # nothing fetched
    assert_untouched(board, old)
    assert "/.ota/state" not in flash_files(board)


def test_slow_download_and_one_update_at_a_time(tmp_path, emulator):
    board = Board(tmp_path, emulator)
    board.init("1")
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")),
                                          put(emulator, "data.bin", size=20000, seed=3)]}
    emulator.app.file_fault(kind="slow", delay=0.1, every=1000, count=2)
    since = emulator.app.last_seq()
    p = board.start(20)
    board.wait_connected(since, p)
    res = board.update(manifest)
    assert res["status"] == 202, (res, p.kill())
    res2 = emulator.app.request("POST", "/devices/{}/methods/iotcUpdate?timeout=20".format(
        board.device), manifest, ok=None)[1]
    rc, out = p.finish()
    assert rc == REBOOT, out
    # the second offer came while the first was downloading: the board answered it after
    assert res2.get("status") == 409 and "under way" in res2["payload"]["error"], res2
    rc, out = board.run(2)
    assert rc == 0 and "CONNECTED 2" in out and board.reported()["state"] == "done", out


# --- the ESP8266's way: the download with the MQTT link closed ---------------------------


def test_alone_download_with_the_link_closed(tmp_path, emulator):
    """Updater(alone=True), the default on the ESP8266 (one TLS session at a time): the link
    closes for the download; a failure is reported once the link is back."""
    board = Board(tmp_path, emulator)
    board.cfg["alone"] = True
    old = board.init("1")
    big = put(emulator, "data.bin", size=30000, seed=6)
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")), big]}
    since = emulator.app.last_seq()
    st = fail_update(board, manifest, {"kind": "cut", "after": 7000,
                                       "name": big["url"].rsplit("/", 1)[1]})
    assert "download cut at 7000" in st["reason"], st
    # the link closed for the download (the connection event) and came back
    evs, _ = emulator.app.events(since, 0)
    kinds = [e["type"] for e in evs if e.get("device") == board.device]
    assert kinds.count("connected") >= 2, kinds
    assert_untouched(board, old)
    update_and_reboot(board, manifest)
    rc, out = board.run(1)
    assert rc == 0 and "CONNECTED 2" in out and board.reported()["state"] == "done", out


# --- a reset between any two steps: seeded kill points -------------------------------------

KILL_RUNS = int(os.environ.get("OTA_KILL_RUNS") or 20)


def _field(out, first, name):
    for line in out.splitlines():
        if line.startswith(first):
            parts = line.split()
            return int(parts[parts.index(name) + 1]) if name else int(parts[1])
    raise AssertionError("no {} line:\n{}".format(first, out))


def _kill_runs(tmp_path, emulator, firmware, runs):
    """Seeded runs of one update (files, or a firmware image), each with the board killed at a
    seeded program of its flash (or of the partition stand-in) in the start that downloads or
    the one that switches; then the board starts again until it runs. -> counts."""
    seed = int(os.environ.get("OTA_SEED") or random.randrange(1 << 30))
    what = "firmware" if firmware else "files"
    print("\nOTA kill points ({}): seed {} (OTA_SEED={} repeats it), {} runs".format(
        what, seed, seed, runs))
    rnd = random.Random(seed)
    v2 = app_source("2")
    if firmware:
        img = emulator.app.put_file("fw-kill-" + uuid.uuid4().hex[:8], size=30000, seed=11)
        manifest = {"version": "2", "firmware": {k: img[k] for k in ("url", "size", "sha256")}}
    else:
        manifest = {"version": "2", "files": [put(emulator, "main.py", v2),
                                              put(emulator, "lib/extra.py", "X = 2\n"),
                                              put(emulator, "data.bin", size=9000, seed=5)]}
        data_sha = manifest["files"][2]["sha256"]
    # A reference update, undisturbed: how many programs each of its two starts makes.
    ref = Board(tmp_path / "ref", emulator, firmware=firmware)
    ref.init("1")
    n1 = _field(update_and_reboot(ref, manifest), "REBOOT", None)
    rc, out = ref.run(1)
    assert rc == 0 and ref.reported()["state"] == "done", out
    n2 = _field(out, "END", "PROGRAMS")
    print("programs: {} in the start that downloads, {} in the one that switches".format(n1, n2))
    points, working, outcomes = set(), 0, {}
    for run in range(runs):
        start = rnd.choice((1, 2))
        k = rnd.randint(1, n1 if start == 1 else n2)
        points.add((start, k))
        b = Board(tmp_path / "run{}".format(run), emulator, firmware=firmware, trial_s=30)
        old = b.init("1")
        since = emulator.app.last_seq()
        if start == 1:
            p = b.start(15, kill_at=k)
            deadline = time.monotonic() + 30
            while not p.killpoint.is_set() and time.monotonic() < deadline:
                if emulator.app.wait_event(  # connected (else killed before: at its boot)
                        lambda e: e["type"] == "subscribed" and e.get("device") == b.device
                        and e.get("topic", "").startswith("$iothub/methods/"),
                        since=since, timeout=0.5):
                    emulator.app.request("POST", "/devices/{}/methods/iotcUpdate?timeout=10"
                                         "&wait=0".format(b.device), manifest, ok=None)
                    break
        else:
            update_and_reboot(b, manifest)
            p = b.start(3, kill_at=k)
        killed = p.killpoint.wait(30)
        out = p.kill()
        assert killed, "start {} did not reach program {}:\n{}".format(start, k, out)
        for _ in range(4):  # the next boots: the board must come up, connected
            rc, out = b.run(1)
            if rc != REBOOT:
                break
        files = flash_files(b)
        ok = rc == 0 and "CONNECTED" in out
        leftovers = [f for f in files if f.startswith("/.ota/")]
        if firmware:
            d = _otadata(b)
            new = d["running"] == "ota_1"
            ok = ok and "FIRMWARE " + d["running"] in out and (
                not new or d["state"] == "valid" and _slot(b, "ota_1", img["size"]) ==
                img["sha256"])
        else:
            new = files.get("/main.py") == sha(v2)
            if new:
                ok = ok and files.get("/lib/extra.py") == sha("X = 2\n") \
                    and files.get("/data.bin") == data_sha and "CONNECTED 2" in out
            else:
                ok = ok and files.get("/main.py") == sha(old["main.py"]) and "/data.bin" not \
                    in files and "/lib/extra.py" not in files and "CONNECTED 1" in out
        rep = b.reported()
        outcome = rep and rep["state"]
        ok = ok and not leftovers and (outcome == "done" if new else
                                       outcome in (None, "failed", "rolled back"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert ok, "run {} (start {}, program {}): new version {}, outcome {}, files {}:\n{}" \
            .format(run, start, k, new, rep, files, out)
        working += 1
    print("OTA kill points ({}): {} runs, {} kill points, boards left working: {} of {}; "
          "outcomes {}".format(what, runs, len(points), working, runs, outcomes))
    assert working == runs


def test_seeded_kill_points(tmp_path, emulator):
    _kill_runs(tmp_path, emulator, False, KILL_RUNS)


def test_seeded_kill_points_firmware(tmp_path, emulator):
    _kill_runs(tmp_path, emulator, True, max(KILL_RUNS // 2, 1))


# --- ESP32 firmware images, through the partition stand-in ---------------------------------


def _slot(board, label, size):
    with open(os.path.join(board.dir, label), "rb") as f:
        return hashlib.sha256(f.read(size)).hexdigest()


def _otadata(board):
    with open(os.path.join(board.dir, "otadata.json")) as f:
        return json.load(f)


def test_firmware_written_verified_set_to_boot_and_kept(tmp_path, emulator):
    board = Board(tmp_path, emulator, firmware=True)
    board.init("1")
    img = emulator.app.put_file("fw-" + board.device, size=100 * 1024, seed=7)
    manifest = {"version": "fw2", "firmware": {k: img[k] for k in ("url", "size", "sha256")}}
    out = update_and_reboot(board, manifest)
    assert "FIRMWARE ota_0" in out, out
    assert _slot(board, "ota_1", img["size"]) == img["sha256"]
    assert _otadata(board)["boot"] == "ota_1" and _otadata(board)["state"] == "new"
    rc, out = board.run(1)
    assert rc == 0 and "FIRMWARE ota_1" in out and "BOOT trial" in out, out
    assert board.reported() == {"state": "done", "version": "fw2"}
    assert _otadata(board) == {"boot": "ota_1", "running": "ota_1", "state": "valid",
                               "prev": "ota_0"}
    rc, out = board.run(1)  # and it stays
    assert rc == 0 and "FIRMWARE ota_1" in out and "BOOT None" in out, out


@pytest.mark.parametrize("rollback", [True, False], ids=["bootloader", "no-bootloader-rollback"])
def test_firmware_rolled_back(tmp_path, emulator, rollback):
    board = Board(tmp_path, emulator, firmware=True, trial_s=2)
    board.board["rollback"] = rollback
    board.init("1")
    img = emulator.app.put_file("fw-" + board.device, size=30000, seed=8)
    manifest = {"version": "fw2", "firmware": {k: img[k] for k in ("url", "size", "sha256")}}
    update_and_reboot(board, manifest)
    # the new firmware cannot reach the hub: the hub refuses this device for a while
    emulator.app.fault(kind="refuse_connect", device=board.device, count=1000)
    rc, out = board.run(1)
    assert rc == REBOOT and "FIRMWARE ota_1" in out and "CONNECT FAILED" in out, out
    emulator.app.clear_faults()
    rc, out = board.run(1)
    if not rollback:  # our boot() set the old image to boot, and reset into it
        assert rc == REBOOT and "FIRMWARE ota_1" in out, out
        rc, out = board.run(1)
    assert rc == 0 and "FIRMWARE ota_0" in out and "CONNECTED 1" in out, out
    rep = board.reported()
    assert rep["state"] == "rolled back" and "within 2 s" in rep["reason"], rep
    assert _otadata(board)["running"] == "ota_0"


def test_firmware_bad_image_never_set_to_boot(tmp_path, emulator):
    board = Board(tmp_path, emulator, firmware=True)
    old = board.init("1")
    img = emulator.app.put_file("fw-" + board.device, size=30000, seed=9)
    fw = {k: img[k] for k in ("url", "size", "sha256")}
    st = fail_update(board, {"version": "2", "firmware": fw}, {"kind": "corrupt", "offset": 7})
    assert "SHA-256" in st["reason"], st
    big = emulator.app.put_file("big-" + board.device, size=64 * 4096 + 1, seed=9)
    st = fail_update(board, {"version": "2", "firmware": {k: big[k] for k in
                                                          ("url", "size", "sha256")}})
    assert "bigger than partition" in st["reason"], st
    assert _otadata(board)["boot"] == "ota_0" and _otadata(board)["state"] == "valid"
    assert_untouched(board, old)


# --- the heap during a 100 KB update ------------------------------------------------------


def test_heap_during_a_100_kb_update(tmp_path, emulator):
    """The library as a board loads it (.mpy, memscenario.build), the live heap sampled at each
    program of the flash and each turn of the application's loop."""
    from memscenario import build

    lib = os.path.join(build(str(tmp_path / "mpy")), "lib")
    board = Board(tmp_path / "board", emulator)
    board.init("1")
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")),
                                          put(emulator, "data.bin", size=100 * 1024, seed=4)]}
    out = update_and_reboot(board, manifest, lib=lib)
    idle, peak = _field(out, "REBOOT", "IDLE"), _field(out, "REBOOT", "PEAK")
    samples = _field(out, "REBOOT", "SAMPLES")
    cmd, dl = _field(out, "PEAKS", "CMD"), _field(out, "PEAKS", "DL")
    print("\nOTA heap, 100 KB update (unix port, iotc as .mpy, live heap after a collection, "
          "{} samples): idle {} B, peak {} B, peak above idle {} B; above idle while the "
          "command is handled {} B, during the download and switch {} B".format(
              samples, idle, peak, peak - idle, cmd - idle, dl - idle))
    assert samples > 25 and peak > idle
    rc, out = board.run(1, lib=lib)
    assert rc == 0 and board.reported()["state"] == "done", out


def _smallest_heap(tmp_path, emulator, lib, manifest, lo, hi, step=1024):
    """Bisect -X heapsize: the smallest heap with which a board (v1, fresh) connects and, with
    a manifest, updates (the reboot, status 3) -> bytes."""
    n = 0
    while hi - lo > step:
        mid = (lo + hi) // 2
        n += 1
        board = Board(tmp_path / "b{}-{}".format(n, mid), emulator)
        board.init("1")
        since = emulator.app.last_seq()
        p = board.start(1 if manifest is None else 15, lib=lib, heapsize=mid)
        ok = False
        e = emulator.app.wait_event(
            lambda e: e["type"] == "subscribed" and e.get("device") == board.device and
            e.get("topic", "").startswith("$iothub/methods/"), since=since, timeout=20)
        if e is not None:
            if manifest is None:
                ok = p.finish()[0] == 0
            else:
                res = emulator.app.request("POST", "/devices/{}/methods/iotcUpdate?timeout=20"
                                           .format(board.device), manifest, ok=None)[1]
                ok = res.get("status") == 202 and p.finish()[0] == REBOOT
        p.kill()
        lo, hi = (lo, mid) if ok else (mid, hi)
    return hi


# A heap smaller than the update itself: the file cannot be whole in RAM. 80 KB is the smallest
# heap a connected board needs here (about 64 KB, `make ota-heap`) with room for the update's
# own (about 4.5 KB) and the run's spread.
_UPDATE_HEAP = 80 * 1024


def test_a_100_kb_update_in_a_heap_smaller_than_it(tmp_path, emulator):
    from memscenario import build

    lib = os.path.join(build(str(tmp_path / "mpy")), "lib")
    size = 100 * 1024
    assert _UPDATE_HEAP < size
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")),
                                          put(emulator, "data.bin", size=size, seed=4)]}
    board = Board(tmp_path / "board", emulator)
    board.init("1")
    out = update_and_reboot(board, manifest, lib=lib, heapsize=_UPDATE_HEAP)
    assert "REBOOT" in out, out
    rc, out = board.run(1, lib=lib, heapsize=_UPDATE_HEAP)
    assert rc == 0 and board.reported()["state"] == "done", out  # its SHA-256 checked


@pytest.mark.skipif(not os.environ.get("OTA_BISECT"),
                    reason="the heap bisection of a 100 KB update takes minutes: make ota-heap")
def test_heap_bisection_100_kb_update(tmp_path, emulator):
    """-X heapsize bisection (as tests_host/memscenario.py): the smallest heap of the board
    idle and connected, and of the board taking a 100 KB update; the difference is the
    update's."""
    from memscenario import build

    lib = os.path.join(build(str(tmp_path / "mpy")), "lib")
    manifest = {"version": "2", "files": [put(emulator, "main.py", app_source("2")),
                                          put(emulator, "data.bin", size=100 * 1024, seed=4)]}
    idle = _smallest_heap(tmp_path, emulator, lib, None, 16 * 1024, 160 * 1024)
    upd = _smallest_heap(tmp_path, emulator, lib, manifest, idle - 1024, 160 * 1024)
    print("\nOTA heap by bisection (unix port, iotc as .mpy, 1 KB steps): connected {} B, "
          "taking a 100 KB update {} B: the update needs {} B more".format(idle, upd,
                                                                         upd - idle))
    assert upd >= idle
