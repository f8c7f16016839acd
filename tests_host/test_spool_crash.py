"""Seeded crash tests of iotc-spool: the unix-port process killed while it stores and while it
replays, then started again on the same flash image (tests_host/mp/flashchip.py, a stand-in for
the chip under a real littlefs), many times, then drained; the emulator's application side says
what arrived. Two ways to die, chosen per life by the seed: SIGKILL from here at a seeded moment,
or a power cut at the stand-in's seeded Nth write (that write lands in part).

Counted and printed: runs, lives, kill points (by kind), messages stored (their send returned),
messages lost (stored but never arrived: must be 0), the messages being written when killed
(may be lost: they never returned), corrupt stores (the store or the filesystem would not open,
or a message arrived that was never sent: 0), duplicates with the same $.mid (allowed, counted),
duplicates as new (a different or no $.mid: 0), order violations (0).

IOTC_SPOOL_CRASH_RUNS (default 20) and IOTC_SPOOL_CRASH_SEED (default 15) set the amount and the
seed; `make spool-crash` runs 200.
"""

import json
import os
import queue
import random
import subprocess
import tempfile
import threading
import time

import harness

SEED = int(os.environ.get("IOTC_SPOOL_CRASH_SEED") or 15)
RUNS = int(os.environ.get("IOTC_SPOOL_CRASH_RUNS") or 20)


class Life:
    """One run of mp/spool_crash.py; its lines as they come."""

    def __init__(self, env, platform):
        full = dict(os.environ, MICROPYPATH=harness.MICROPYPATH)
        full.update(harness.platform_env(platform, "spool-crash"))
        full.update(env)
        self.proc = subprocess.Popen([harness.MICROPYTHON, "spool_crash.py"], cwd=harness.MP_DIR,
                                     env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def until(self, words, timeout=60):
        # -> the first line starting with one of words (None: the process ended)
        end = time.monotonic() + timeout
        while True:
            line = self.q.get(timeout=max(0.01, end - time.monotonic()))
            if line is None:
                return None
            self.lines.append(line)
            if line.split(" ")[0] in words:
                return line

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        while True:  # what it printed before it died
            try:
                line = self.q.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)


def one_run(emulator, run, counts):
    rng = random.Random(SEED * 1000 + run)
    platform = "esp32" if run % 2 else "unix"
    qos = 0 if run % 4 == 3 else 1
    dev = "crash-{}-{}".format(SEED, run)
    img = os.path.join(tempfile.mkdtemp(prefix="iotc-spool-crash-"), "chip.bin")
    # QoS 1: lives that store and lives that replay, each killed; QoS 0 (at most once on the
    # link by definition): only the lives that store are killed.
    plan = ["store", "replay"] * 3 if qos else ["store", "store", "store"]
    plan.append("drain")
    written, stored = set(), set()
    nxt = 0
    base = dict(emulator.env(), IOTC_CRASH_IMG=img, IOTC_CRASH_DEV=dev, IOTC_CRASH_QOS=str(qos))
    for mode in plan:
        env = dict(base, IOTC_CRASH_MODE=mode, IOTC_CRASH_FROM=str(nxt), IOTC_CRASH_COUNT="20")
        how = None
        if mode != "drain":
            how = rng.choice(("sigkill", "powercut"))
            if how == "powercut":
                env["IOTC_FLASH_CUT"] = str(rng.randint(1, 260 if mode == "store" else 60))
                env["IOTC_FLASH_SEED"] = str(rng.randrange(1 << 30))
        life = Life(env, platform)
        if how == "sigkill":
            if life.until(("READY",)) is not None:
                time.sleep(rng.uniform(0, 0.2))
        elif how == "powercut":
            life.until(("POWERCUT",))
        else:
            life.until(("DONE",), timeout=120)
        if how:
            life.kill()
        else:
            life.proc.wait(30)
        counts["lives"] += 1
        out = "\n".join(life.lines)
        if any(line.startswith("CORRUPT") for line in life.lines):
            counts["corrupt stores"] += 1
            print("run {} {} life: the store did not open:\n{}".format(run, mode, out))
        done = [line for line in life.lines if line.startswith("DONE")]
        if how and not done:
            counts["kill points"] += 1
            counts["killed by " + how] += 1
            counts["killed while " + ("storing" if mode == "store" else "replaying")] += 1
        for line in life.lines:
            word, _, arg = line.partition(" ")
            if word == "W":
                written.add(int(arg))
                nxt = max(nxt, int(arg) + 1)
            elif word == "S":
                stored.add(int(arg))
            elif word == "OPENED" and arg.split()[1] != "0":
                counts["torn tails cut"] += int(arg.split()[1])
        if mode == "drain":
            if life.proc.returncode != 0 or not done:
                raise AssertionError("run {}: the drain failed:\n{}".format(run, out))
            f = done[0].split()
            counts["flash bytes programmed (drain life)"] += int(f[8])
    got = emulator.app.telemetry(dev)
    seen = {}
    last = -1
    for m in got:
        n = json.loads(m["body"])["n"]
        mid = m["system"].get("$.mid")
        if n not in written:
            counts["corrupt stores"] += 1
            print("run {}: message {} arrived, never sent".format(run, n))
        if n in seen:
            if mid is not None and seen[n] == mid:
                counts["duplicates with the same $.mid"] += 1
            else:
                counts["duplicates as new"] += 1
                print("run {}: {} again with $.mid {} (first {})".format(run, n, mid, seen[n]))
            continue
        seen[n] = mid
        if n < last:
            counts["order violations"] += 1
            print("run {}: {} after {}".format(run, n, last))
        last = n
    lost = stored - set(seen)
    if lost:
        print("run {}: stored, never arrived: {}".format(run, sorted(lost)))
    counts["runs"] += 1
    counts["messages stored"] += len(stored)
    counts["messages arrived"] += len(seen)
    counts["messages lost"] += len(lost)
    counts["being written when killed, not stored"] += len(written - stored - set(seen))
    counts["being written when killed, stored"] += len((written - stored) & set(seen))
    os.remove(img)


def test_spool_survives_seeded_kills(emulator, spool_report):
    counts = {k: 0 for k in (
        "runs", "lives", "kill points", "killed by sigkill", "killed by powercut",
        "killed while storing", "killed while replaying", "messages stored", "messages arrived",
        "messages lost", "being written when killed, not stored",
        "being written when killed, stored", "torn tails cut", "corrupt stores",
        "duplicates with the same $.mid", "duplicates as new", "order violations",
        "flash bytes programmed (drain life)")}
    t0 = time.monotonic()
    for run in range(RUNS):
        one_run(emulator, run, counts)
    head = "crash test, seed {}, {:.0f} s:".format(SEED, time.monotonic() - t0)
    print(head)
    spool_report(head)
    for k, v in counts.items():
        print("  {}: {}".format(k, v))
    spool_report("  " + ", ".join("{} {}".format(k, v) for k, v in counts.items()))
    assert counts["runs"] == RUNS
    for k in ("messages lost", "corrupt stores", "duplicates as new", "order violations"):
        assert counts[k] == 0, (k, counts)
    assert counts["kill points"] >= RUNS * 2, counts
