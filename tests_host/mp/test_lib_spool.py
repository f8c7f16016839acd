# iotc-spool (iotc/spool.py): telemetry stored on a real littlefs while the link is down, on a
# flash chip stand-in (flashchip.py), replayed to the emulator after the reconnect.
import json
import os
import time

import emuctl
import flashchip
from libutil import client, device, eq, telemetry, wait

from iotc.spool import Spool

_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0  # the esp32 platform's clock


def _iso():
    # -> (now in Unix seconds, now as iothub-creation-time-utc has it)
    t = time.time()
    return int(t) + _EPOCH, "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(
        *time.gmtime(int(t))[:6])


def _chip(name, blocks=64):
    # A blank chip for this case (its image in /tmp, removed first: a fresh board).
    img = "/tmp/iotc-spool-{}.bin".format(name)
    try:
        os.remove(img)
    except OSError:
        pass
    return flashchip.mount(img, blocks)


def _unmount():
    import vfs

    try:
        vfs.umount("/flash")
    except OSError:
        pass


def _fresh(dev, qos=0):
    # A blank flash chip (the stand-in) mounted at /flash, and a client that retries fast.
    _unmount()
    _chip(dev)
    c = client(dev, qos=qos)
    c.RETRY_MS = 20
    return c


def _fault(**kw):
    status, body = emuctl.call("POST", "/faults", kw)
    eq(status, 200)
    return body


def _offline(c, dev):
    # The link drops and reconnects are refused until _online().
    _fault(kind="refuse_connect", device=dev, count=100000)
    _fault(kind="drop", device=dev)
    wait(lambda: not c.is_connected(True), c, what="the drop")


def _online(c):
    emuctl.call("POST", "/faults/clear")
    wait(lambda: c.is_connected(True), c, timeout_ms=20000, what="the reconnect")


def _drained(c, sp, timeout_ms=30000):
    wait(lambda: not sp.pending() and not sp._sent and not c._inflight, c,
         timeout_ms=timeout_ms, what="the store replayed")


def _events(dev, kind):
    status, body = emuctl.call("GET", "/events?since=0&device=" + dev)
    eq(status, 200)
    return [e for e in body["events"] if e["type"] == kind]


def _replay_in_order(dev, qos):
    _unmount()
    chip = _chip(dev)
    c = client(dev, qos=qos)
    c.RETRY_MS = 20
    c.connect()
    sp = Spool(c, "/flash/spool", rate=20)
    c.send_telemetry({"n": -1})  # the store is empty and the link up: sent now
    eq(sp.stored, 0)
    _offline(c, dev)
    made = {}
    for i in range(10):
        t0 = _iso()
        c.send_telemetry({"n": i})
        made[i] = (t0, _iso())
        if i == 4:
            time.sleep_ms(1100)
    eq((sp.stored, sp.pending()), (10, True))
    time.sleep_ms(1100)  # so arrival is a second or more after creation
    _online(c)
    for i in range(10, 13):  # while stored ones remain: stored too, so the order is kept
        t0 = _iso()
        c.send_telemetry({"n": i})
        made[i] = (t0, _iso())
    eq(sp.stored, 13)
    _drained(c, sp)
    c.send_telemetry({"n": 13})  # the store is empty again: sent now
    wait(lambda: len(telemetry(dev)) >= 15, c, what="the last message")
    got = telemetry(dev)
    eq([json.loads(m["body"])["n"] for m in got], list(range(-1, 14)))
    mids = set()
    for m in got:
        n = json.loads(m["body"])["n"]
        if n not in made:
            continue
        eq(m["qos"], qos)
        iso = m["properties"]["iothub-creation-time-utc"]
        if iso not in (made[n][0][1], made[n][1][1]):
            raise AssertionError("message {}: created {} not in {}".format(n, iso, made[n]))
        if n < 10 and m["ts"] < made[n][0][0] + 1:
            raise AssertionError("message {} stamped at arrival: {} {}".format(n, iso, m["ts"]))
        mids.add(m["system"]["$.mid"])
    eq(len(mids), 13)
    eq(sp.replayed, 13)
    eq(os.listdir("/flash/spool"), ["pos"])  # drained: no segment left
    print("flash: {} B programmed, {} blocks erased".format(chip.programmed, chip.erased))
    c.disconnect()
    sp.close()
    _unmount()


def test_offline_stored_then_replayed_in_order_qos0():
    _replay_in_order("spl-q0", 0)


def test_offline_stored_then_replayed_in_order_qos1():
    _replay_in_order("spl-q1", 1)


def test_qos1_link_lost_before_puback_is_resent_not_lost():
    dev = "spl-puback"
    c = _fresh(dev, qos=1)
    c.connect()
    sp = Spool(c, "/flash/spool", rate=50)
    _offline(c, dev)
    for i in range(6):
        c.send_telemetry({"n": i})
    _online(c)
    committed = (sp._cs, sp._co)
    _fault(kind="stall", device=dev, seconds=30)  # the hub's PUBACKs are held back
    wait(lambda: sp.replayed >= 2, c, what="two replayed")
    for _ in range(40):  # 10 paces more: the window (2) holds the replay, whatever the time
        c.listen()
        time.sleep_ms(5)
    eq((sp.replayed, len(c._inflight), (sp._cs, sp._co)), (2, 2, committed))  # not committed
    _fault(kind="drop", device=dev)  # the link dies, the PUBACKs with it
    emuctl.call("POST", "/faults/clear")
    _drained(c, sp)
    got = [(json.loads(m["body"])["n"], m["system"]["$.mid"]) for m in telemetry(dev)]
    first = []
    mid = {}
    for n, m in got:
        if n in mid:
            eq(mid[n], m)  # a duplicate carries the same id: recognisable
        else:
            first.append(n)
            mid[n] = m
    eq(first, list(range(6)))
    if len(got) <= 6:
        raise AssertionError("nothing was resent: {}".format(got))
    print("resent after the lost PUBACKs: {} duplicate(s), same $.mid".format(len(got) - 6))
    c.disconnect()
    sp.close()
    _unmount()


def _full(dev, policy):
    c = _fresh(dev)
    c.connect()
    told = []
    sp = Spool(c, "/flash/spool", max_bytes=1024, max_files=2, when_full=policy, rate=50,
               on_full=lambda how, n: told.append((how, n)))
    _offline(c, dev)
    for i in range(20):
        c.send_telemetry({"n": i})
    _online(c)
    _drained(c, sp)
    got = [json.loads(m["body"])["n"] for m in telemetry(dev)]
    print(policy, "kept", got, "events", told)
    if not told or any(how != policy for how, n in told):
        raise AssertionError(told)
    c.disconnect()
    sp.close()
    _unmount()
    return got, told, sp


def test_full_drop_oldest_keeps_the_newest_and_says_so():
    got, told, sp = _full("spl-drop", "drop_oldest")
    dropped = sum(n for how, n in told)
    eq(got, list(range(20 - len(got), 20)))  # the newest, in order
    eq((dropped, sp.dropped, len(got) + dropped), (20 - len(got), dropped, 20))
    if len(got) > 12:
        raise AssertionError("more kept than two files hold: {}".format(got))


def test_full_refuse_newest_keeps_the_oldest_and_says_so():
    got, told, sp = _full("spl-refuse", "refuse_newest")
    eq(got, list(range(len(got))))  # the oldest, in order
    eq((told, sp.refused), ([("refuse_newest", 1)] * (20 - len(got)), 20 - len(got)))


def test_replay_is_paced_under_the_hubs_throttle():
    # The hub's d2c limits brought low: an unpaced flood is throttled (429002, the link
    # closed); the same number replayed from the store at `rate` is not.
    flood, dev = "spl-flood", "spl-paced"
    lim = emuctl.call("GET", "/limits")[1]
    emuctl.call("POST", "/limits", {"d2c_per_s": 5, "d2c_burst": 5, "d2c_backlog": 3})
    _unmount()
    try:
        c = client(flood)
        c.RETRY_MS = 20
        c.connect()
        for i in range(20):
            c.send_telemetry({"n": i})
        wait(lambda: _events(flood, "disconnected"), c, what="the throttle")
        why = [e["reason"] for e in _events(flood, "disconnected")]
        if "429" not in why[0]:
            raise AssertionError(why)
        c.disconnect()
        time.sleep_ms(2000)  # the hub's bucket fills again
        _chip(dev)
        c = client(dev, qos=1)
        c.RETRY_MS = 20
        c.connect()
        sp = Spool(c, "/flash/spool", rate=4)
        _offline(c, dev)
        for i in range(20):
            c.send_telemetry({"n": i})
        _online(c)
        _drained(c, sp)
        eq([json.loads(m["body"])["n"] for m in telemetry(dev)], list(range(20)))
        eq([e["reason"] for e in _events(dev, "disconnected")
            if "429" in e["reason"] or "hrottl" in e["reason"]], [])
        print("flood: closed with {!r}; replay of 20 at 4/s: no throttle".format(why[0]))
        c.disconnect()
        sp.close()
    finally:
        emuctl.call("POST", "/limits", {k: lim[k] for k in ("d2c_per_s", "d2c_burst",
                                                             "d2c_backlog")})
        _unmount()


def test_torn_tail_is_cut_and_the_rest_replayed():
    # A reset in the middle of an append, as a filesystem without littlefs's atomic commits
    # (FAT) can leave it: a record's head and part of its body at the end of the last file.
    # The next Spool finds it by its checksum, counts it, writes on in a new file, and what
    # was whole is replayed in order.
    dev = "spl-torn"
    c = _fresh(dev, qos=1)
    c.connect()
    sp = Spool(c, "/flash/spool", rate=50)
    _offline(c, dev)
    for i in range(3):
        c.send_telemetry({"n": i})
    sp.close()
    last = max(int(n) for n in os.listdir("/flash/spool") if n.isdigit())
    with open("/flash/spool/{}".format(last), "ab") as f:
        f.write(b"\x12\x34\x56\x78\x02\x30\x00\x40\x00\x00devices/")  # cut short
    sp = Spool(c, "/flash/spool", rate=50)
    eq(sp.torn, 1)
    for i in range(3, 5):
        c.send_telemetry({"n": i})
    if str(last + 1) not in os.listdir("/flash/spool"):
        raise AssertionError("not written on in a new file: {}".format(os.listdir("/flash/spool")))
    _online(c)
    _drained(c, sp)
    eq([json.loads(m["body"])["n"] for m in telemetry(dev)], list(range(5)))
    c.disconnect()
    sp.close()
    _unmount()


def test_flash_wear_per_1000_messages():
    # 1,000 messages stored while offline and replayed (QoS 0; 20 files of 16 KB),
    # counted at the file level (what the spool writes: records and "pos") and at the chip's
    # (what littlefs programs and erases for it, 4 KB blocks).
    dev = "spl-wear"
    _unmount()
    chip = _chip(dev, blocks=160)
    c = client(dev)
    c.RETRY_MS = 20
    c.connect()
    sp = Spool(c, "/flash/spool", max_bytes=320 * 1024, max_files=20, rate=150)
    _offline(c, dev)
    p0, e0 = chip.programmed, chip.erased
    for i in range(1000):
        c.send_telemetry({"temperature": 21.5, "humidity": 40, "n": i})
    eq((sp.stored, sp.dropped, sp.refused), (1000, 0, 0))
    stored = (sp.written, chip.programmed - p0, chip.erased - e0)
    _online(c)
    seen = []  # fetched as they come: all 1,000 at once would not fit the test's heap

    def more():
        status, got = emuctl.call("GET", "/devices/{}/telemetry?since={}".format(dev, len(seen)))
        seen.extend(json.loads(m["body"])["n"] for m in got)
        return not sp.pending() and not sp._sent and len(seen) >= 1000

    t0 = time.ticks_ms()
    while not more():
        for _ in range(50):
            c.listen()
            time.sleep_ms(2)
        if time.ticks_diff(time.ticks_ms(), t0) > 60000:
            raise AssertionError("not replayed: {} of 1000".format(len(seen)))
    eq(seen, list(range(1000)))
    both = (sp.written, chip.programmed - p0, chip.erased - e0)
    print("flash per 1,000 messages (store + replay): {} B written to files ({} + {}), {} B "
          "programmed ({} + {}), {} blocks erased ({} + {})".format(
              both[0], stored[0], both[0] - stored[0], both[1], stored[1], both[1] - stored[1],
              both[2], stored[2], both[2] - stored[2]))
    c.disconnect()
    sp.close()
    _unmount()


def test_stored_before_the_first_connect():
    # A board that boots with no network: sends are stored before connect() ever ran, with
    # their properties, and replayed once it connects.
    dev = "spl-boot"
    _unmount()
    _chip(dev)
    c = client(dev, qos=1)
    sp = Spool(c, "/flash/spool", rate=50)
    c.send_telemetry({"n": 0})
    c.send_telemetry({"n": 1}, properties={"unit": "C"})
    c.send_telemetry({"n": 2}, component="thermostat1")
    eq(sp.stored, 3)
    c.connect()
    _drained(c, sp)
    got = telemetry(dev)
    eq([json.loads(m["body"])["n"] for m in got], [0, 1, 2])
    eq((got[1]["properties"]["unit"], got[2]["system"]["$.sub"]), ("C", "thermostat1"))
    eq(len(set(m["system"]["$.mid"] for m in got)), 3)
    c.disconnect()
    sp.close()
    _unmount()


def test_beside_iotc_rate():
    # With the send throttle (iotc-rate, coalescing) too: what the throttle lets go while the
    # link is down is stored; what it holds goes after the reconnect, behind the stored ones.
    from iotc.rate import Rate

    dev = "spl-rate"
    c = _fresh(dev, qos=1)
    c.connect()
    # 1 s and a send each 150 ms: some go (the first is due), some are held, on a machine
    # of any speed short of a send taking most of a second.
    rate = Rate(c, 1, "coalesce")
    sp = Spool(c, "/flash/spool", rate=50)
    _offline(c, dev)
    for i in range(10):
        c.send_telemetry({"n": i})
        time.sleep_ms(150)
    if not 0 < sp.stored < 10:
        raise AssertionError("stored {} of 10".format(sp.stored))
    _online(c)
    _drained(c, sp)
    wait(lambda: not rate._held and not c._inflight, c, what="the held message")
    _drained(c, sp)
    got = telemetry(dev)
    ns = [json.loads(m["body"])["n"] for m in got]
    eq((ns, ns[-1]), (sorted(ns), 9))
    print("with iotc-rate: {} stored, arrived {}".format(sp.stored, ns))
    rate.close()
    c.disconnect()
    sp.close()
    _unmount()


def test_a_record_with_bad_lengths_is_skipped_and_listen_goes_on():
    # A record whose header survived but whose lengths are garbage (a cluster FAT allocated
    # and never wrote, a flipped bit): the lengths claim 16 MB. The replay must not try to
    # read that much (a board's MemoryError would escape listen() at every call, and again
    # after each reset): the record is counted as torn, the file left, and the rest replayed.
    dev = "spl-badlen"
    c = _fresh(dev, qos=1)
    c.connect()
    sp = Spool(c, "/flash/spool", rate=50)
    _offline(c, dev)
    for i in range(3):
        c.send_telemetry({"n": i})
    sp.close()
    last = max(int(n) for n in os.listdir("/flash/spool") if n.isdigit())
    with open("/flash/spool/{}".format(last), "ab") as f:
        f.write(b"\x12\x34\x56\x78\x02\x30\x00\xff\xff\xff" + b"x" * 40)
    sp = Spool(c, "/flash/spool", rate=50)
    eq(sp.torn, 1)
    for i in range(3, 5):
        c.send_telemetry({"n": i})
    _online(c)
    _drained(c, sp)
    eq([json.loads(m["body"])["n"] for m in telemetry(dev)], list(range(5)))
    eq(sp.torn, 2)  # seen again by the replay, and passed
    c.disconnect()
    sp.close()
    _unmount()


def test_a_stop_mid_replay_keeps_the_store_and_replays_after_it():
    # iotc-stop, iotc-rate and the spool on one client: a stop (2 s) comes while stored
    # messages are being replayed. The link ends; what was stored stays stored, what is sent
    # during the stop is stored behind it (through the send throttle first: SEND, then
    # SPILL), and all of it goes, in order, once the stop ends by itself.
    from iotc.rate import Rate
    from iotc.stop import Stop

    dev = "spl-stop"
    c = _fresh(dev, qos=1)
    stop = Stop(c, "/flash/stop.json")
    rate = Rate(c, 0)
    sp = Spool(c, "/flash/spool", rate=4)
    c.connect()
    _offline(c, dev)
    for i in range(16):
        c.send_telemetry({"n": i})
    _online(c)
    wait(lambda: sp.replayed >= 3, c, what="the replay under way")
    emuctl.call("POST", "/devices/{}/methods/iotcStop?wait=0&timeout=10".format(dev),
                {"seconds": 2})
    wait(lambda: stop.stopped, c, what="the stop")
    wait(lambda: not c.is_connected(True), c, what="the link cut by the stop")
    at_stop = (sp.replayed, sp.pending())
    if not at_stop[1]:
        raise AssertionError("the stop came after the replay: {}".format(at_stop))
    for i in range(16, 19):
        c.send_telemetry({"n": i})
    eq((sp.stored, sp.pending(), c.is_connected(True)), (19, True, False))
    wait(lambda: c.is_connected(True), c, timeout_ms=30000, what="the reconnect at the end")
    eq(stop.stopped, False)
    _drained(c, sp)
    got = [(json.loads(m["body"])["n"], m["system"]["$.mid"]) for m in telemetry(dev)]
    first, mid = [], {}
    for n, m in got:
        if n in mid:
            eq(mid[n], m)  # sent again after the cut (no PUBACK yet): the same id
        else:
            first.append(n)
            mid[n] = m
    eq(first, list(range(19)))
    print("stopped after {} replayed; {} arrived, {} again with the same $.mid".format(
        at_stop[0], len(first), len(got) - len(first)))
    eq(device(dev)["connects"], 3)  # first, after the outage, after the stop
    rate.close()
    c.disconnect()
    sp.close()
    _unmount()


def test_bad_settings_are_refused_and_nothing_joins_the_client():
    # Each bad setting: a ValueError, and no hook of the spool left in the client. A rate so
    # low that the pace would be a ticks interval past 2^29 ms (an ESP's ticks_add() raises
    # OverflowError, at every listen()) is one of them.
    _unmount()
    _chip("spl-bad")
    c = client("spl-bad")
    for kw in ({"rate": 0}, {"rate": -1}, {"rate": 1e-6}, {"max_files": 0},
               {"max_bytes": 1000, "max_files": 8}, {"when_full": "drop_newest"}):
        try:
            Spool(c, "/flash/spool", **kw)
        except ValueError as e:
            print(kw, "->", e)
        else:
            raise AssertionError("taken: {}".format(kw))
        eq([k for k in (8, 9, 13) if c._events.get(k)], [])
    sp = Spool(c, "/flash/spool", rate=1 / 3600)  # one an hour: taken
    eq(sp._gap // 1000, 3599 if sp._gap < 3600000 else 3600)  # float: 3600000 or just below
    sp.close()
    _unmount()


def test_with_iotc_aio_the_listening_task_drives_the_replay():
    # iotc-aio's listening task wakes for the hub's packets, a ping or a reconnect, and every
    # 50 ms while an extra has TICK hooks: the replay (one message per listen()) goes with no
    # task of the application's, all of it, in order.
    if _EPOCH:
        # The esp32 clock stand-in (tests_host/esp32time) is Python: MicroPython's asyncio
        # orders its sleeping tasks in C (_asyncio) with the port's own ticks, and hangs once
        # the stand-in's ticks wrap (a plain asyncio.sleep_ms loop does). Not run there.
        print("not run on the esp32 stand-in: asyncio's C task queue does not use its ticks")
        return
    import asyncio

    from iotc.aio import IOTCConnectType, IoTCClient

    dev = "spl-aio"
    _unmount()
    _chip(dev)
    c = IoTCClient(dev, os.getenv("IOTC_EMU_SCOPE"), IOTCConnectType.IOTC_CONNECT_SYMM_KEY,
                   os.getenv("IOTC_EMU_GROUP_KEY"), endpoint=os.getenv("IOTC_EMU_DPS"),
                   ca_file=os.getenv("IOTC_EMU_CA"))
    core = c.core
    core.RETRY_MS = 20
    sp = Spool(core, "/flash/spool", rate=20)

    async def until(cond, what, ms=20000):
        t0 = time.ticks_ms()
        while not cond():
            if time.ticks_diff(time.ticks_ms(), t0) > ms:
                raise AssertionError("timed out waiting for " + what)
            await asyncio.sleep_ms(20)

    async def main():
        await c.connect()
        _fault(kind="refuse_connect", device=dev, count=100000)
        _fault(kind="drop", device=dev)
        await until(lambda: not core.is_connected(True), "the drop")
        for i in range(10):
            await c.send_telemetry({"n": i})
        eq(sp.stored, 10)
        emuctl.call("POST", "/faults/clear")
        await until(lambda: core.is_connected(True), "the reconnect")
        await until(lambda: not sp.pending() and not sp._sent, "the replay")
        await c.disconnect()

    asyncio.run(main())
    eq([json.loads(m["body"])["n"] for m in telemetry(dev)], list(range(10)))
    eq(sp.replayed, 10)
    sp.close()
    _unmount()


def test_a_stop_ends_the_link_before_the_replay_sends_again():
    # The spool made before the Stop (its TICK hook first in the list): once the stop has
    # been answered, nothing more is sent in that listen() call, whatever the hooks' order.
    # The spool's pace is made due at the command, so a replay step would go if it ran.
    from iotc import IoTCEvents
    from iotc.stop import Stop

    dev = "spl-stop-first"
    c = _fresh(dev)
    sp = Spool(c, "/flash/spool", rate=5)
    stop = Stop(c, "/flash/stop.json")
    seen = []
    hooks = c._events[11]
    answer = hooks["iotcStop"]

    def command(cmd, ack=None):
        answer(cmd, ack)
        seen.append(("stop", sp.replayed))
        sp._next = time.ticks_ms()  # the replay's next step is due now

    hooks["iotcStop"] = command
    c.on(IoTCEvents.CONNECTION, lambda up, why: seen.append((why, sp.replayed)))
    c.connect()
    _offline(c, dev)
    for i in range(10):
        c.send_telemetry({"n": i})
    _online(c)
    wait(lambda: sp.replayed >= 2, c, what="the replay under way")
    emuctl.call("POST", "/devices/{}/methods/iotcStop?wait=0&timeout=10".format(dev), None)
    wait(lambda: stop.stopped and not c.is_connected(True), c, what="the stop")
    cut = [n for why, n in seen if why in ("stop", "stopped by the cloud")]
    eq((len(cut), cut[0] == cut[-1]), (2, True))  # no message between the answer and the cut
    eq(sp.pending(), True)
    stop.clear()
    _drained(c, sp)
    eq([json.loads(m["body"])["n"] for m in telemetry(dev)], list(range(10)))
    c.disconnect()
    sp.close()
    _unmount()
