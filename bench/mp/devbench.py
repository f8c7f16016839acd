# iotc bench: the device side, run by bench/run.py under the unix port, one figure per process:
#     micropython devbench.py MODE          (settings in the JSON file named by $BENCH_CFG)
# MODE: scenario | telemetry | bytes | cpu | listen | connect.
# Results go to stdout as lines "@@ {json}"; other lines are the clients' own output. When a line
# carries "wait", the host answers with one line on stdin once it has done its part (asked the
# emulator to send a desired property and call a command, or read the proxy's byte counters).
# Every loop here is bounded in count and in time.
import gc
import json
import os
import sys
import time

import micropython

CFG = json.loads(open(os.getenv("BENCH_CFG")).read())
APP = __import__(CFG["app"])  # app_old or app_ours
PAYLOAD = {"temperature": 21.5, "humidity": 40}


def out(**kw):
    print("@@", json.dumps(kw))


def wait(what):
    out(wait=what)
    line = sys.stdin.readline()
    if not line.startswith("go"):
        raise SystemExit("host said: " + line)


def held():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()


def ms_since(t0):
    return time.ticks_diff(time.ticks_ms(), t0)


def listen_until(app, done, limit_s=60):
    # Calls listen() until done() or limit_s seconds; returns the number of calls. Sleeps 1 ms
    # between calls that leave it undone (ours never blocks; the old client sleeps 0.5 s itself).
    t0 = time.ticks_ms()
    n = 0
    while not done():
        if ms_since(t0) > limit_s * 1000:
            raise RuntimeError("listen_until: gave up after {} calls (acked {}, answered {}, "
                               "confirmed {})".format(n, app.acked, app.answered,
                                                      app.confirmed()))
        app.listen()
        n += 1
        if not done():
            time.sleep_ms(1)
    return n


def connected_app(qos=0, use_cache=True):
    app = APP.App(CFG, use_cache=use_cache, qos=qos)
    if not app.connect():
        raise RuntimeError("not connected")
    return app


def settle(app):
    # Let the replies to connect (SUBACK, twin) arrive and be handled before measuring.
    if CFG["app"] == "app_ours":
        for _ in range(50):
            app.listen()
            time.sleep_ms(2)
    else:
        app.listen()  # one call: PINGREQ, wait for one packet (the twin reply), sleep 0.5 s


_SEEN = set()


def track_imports():
    # Remember every module that was ever in sys.modules (ours drops connect-time modules
    # after use), by wrapping __import__. Only in runs that report module lists (flash figure).
    import builtins

    imp = builtins.__import__

    def hook(*a):
        m = imp(*a)
        _SEEN.update(sys.modules)
        return m

    builtins.__import__ = hook


def loaded():
    names = set(sys.modules) | _SEEN
    return sorted(k for k in names if k.startswith(("iotc", "umqtt")) or k in (
        "itertools", "requests", "urequests", "ussl", "ssl"))


def mode_scenario():
    # Figure 2 (run at shrinking -X heapsize) and 6 (modules used): the scenario of issue 5.
    if CFG.get("track"):
        track_imports()
    APP.bridge()
    t0 = time.ticks_ms()
    app = connected_app(use_cache=CFG.get("warm", True))
    out(connected_ms=ms_since(t0))
    for i in range(CFG.get("n", 200)):
        app.telemetry(PAYLOAD)
        if i % 20 == 19 and CFG["app"] == "app_ours":
            app.listen()
    app.report({"fwVersion": "1.0.0", "benchRun": CFG.get("token", 0)})
    wait("service")  # the host sets a desired property and calls a command now
    calls = listen_until(app, lambda: app.acked >= 1 and app.answered >= 1,
                         limit_s=CFG.get("listen_s", 60))
    gc.collect()
    out(ok=True, acked=app.acked, answered=app.answered, listen_calls=calls, modules=loaded())
    wait("check")  # the host confirms what the hub received before this device disconnects
    app.close()


def mode_connect():
    # Figure 7: time to connected, cold (DPS) or warm (cached assignment).
    APP.bridge()
    t0 = time.ticks_ms()
    app = connected_app(use_cache=CFG.get("warm", True))
    out(connected_ms=ms_since(t0))
    app.close()


def _alloc_run(app, n, qos):
    # Bytes the GC heap gains over n messages with the collector off: every allocation made
    # and not explicitly freed stays counted (mem_alloc is block-granular, 16 B on 64-bit).
    # micropython.mem_total() counts requested bytes instead, reallocations included.
    gc.collect()
    gc.disable()
    a, t = gc.mem_alloc(), micropython.mem_total()
    for _ in range(n):
        app.telemetry(PAYLOAD)
        if qos:
            app.listen()
    if qos:
        listen_until(app, lambda: app.confirmed() >= n, limit_s=60)
    b, u = gc.mem_alloc(), micropython.mem_total()
    gc.enable()
    gc.collect()
    return (b - a) / n, (u - t) / n


def _time_run(app, n, qos, runs=3):
    # Best of `runs` timings of n messages (the machine's other work only ever adds time).
    best = None
    for r in range(runs):
        gc.collect()
        want = app.confirmed() + n if qos else 0
        t0 = time.ticks_us()
        for _ in range(n):
            app.telemetry(PAYLOAD)
            if qos:
                app.listen()
        if qos:
            listen_until(app, lambda: app.confirmed() >= want, limit_s=60)
        us = time.ticks_diff(time.ticks_us(), t0) / n
        best = us if best is None or us < best else best
    return best


def mode_telemetry():
    # Figures 3 and 4 (wall time): n messages at QoS 0, and at QoS 1 where the client has it.
    APP.bridge()
    n = CFG.get("n", 1000)
    for qos in (0, 1):
        if qos and not APP.App.qos1:
            out(qos=qos, supported=False)
            continue
        app = connected_app(qos=qos)
        settle(app)
        alloc, total = _alloc_run(app, n, qos)
        us = _time_run(app, n, qos)
        out(qos=qos, supported=True, n=n, alloc_per_msg=alloc, requested_per_msg=total,
            us_per_msg=us)
        app.close()
        time.sleep_ms(100)


def mode_bytes():
    # Figure 5: MQTT bytes written into TLS per message (counted by bench_count), while the host
    # reads the TCP bytes its proxy forwarded from client to hub at the same two marks.
    import bench_count

    bench_count.install()
    APP.bridge()
    n = CFG.get("n", 100)
    app = connected_app()
    settle(app)
    w0 = bench_count.written[0]
    wait("mark0")
    for _ in range(n):
        app.telemetry(PAYLOAD)
    w1 = bench_count.written[0]
    wait("mark1")
    out(n=n, mqtt_per_msg=(w1 - w0) / n)
    app.close()


def mode_cpu():
    # Figure 4 (instructions): connect, send n messages at QoS 0, disconnect. The host runs
    # this under callgrind for n and for 0 and divides the difference by n.
    APP.bridge()
    app = connected_app()
    for _ in range(CFG.get("n", 0)):
        app.telemetry(PAYLOAD)
    app.close()
    out(ok=True)


def mode_listen():
    # Figure 8: one listen() call with nothing to receive: time and heap per call.
    APP.bridge()
    n = CFG.get("n", 1000)
    app = connected_app()
    settle(app)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(n):
        app.listen()
    us = time.ticks_diff(time.ticks_us(), t0) / n
    b = gc.mem_alloc()
    gc.enable()
    out(n=n, us_per_call=us, alloc_per_call=(b - a) / n)
    app.close()


globals()["mode_" + sys.argv[1]]()
