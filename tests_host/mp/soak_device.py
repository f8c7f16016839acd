# iotc tests: the device side of the soak runs (tests_host/test_soak.py reads what arrived)
# MIT license; Copyright (c) 2026 the iotc authors
#
# Settings come from the environment: IOTC_SOAK_DEVICE, IOTC_SOAK_N (messages), and for the
# renewal IOTC_SOAK_RENEWALS. Each case ends by printing one line "SOAK k=v ..." for the host.
import gc
import os
import time

from iotc import IoTCError, MemoryStorage
from libutil import client, device, wait


class Quiet:
    # A logger that keeps nothing: the heap run must not grow by its own log lines.
    def info(self, message, *args):
        pass

    def set_log_level(self, level):
        pass


def _setting(name):
    return int(os.getenv("IOTC_SOAK_" + name))


def _pump(c, times):
    for _ in range(times):
        c.listen()
        time.sleep_ms(2)


def _connect(c):
    # The first connect may be cut by the proxy as well: the application tries again.
    for attempt in range(30):
        try:
            c.connect()
            return attempt
        except (OSError, IoTCError) as e:
            print("connect failed:", repr(e))
            time.sleep_ms(300)
    raise AssertionError("no connect in 30 attempts")


def _send(c, seq):
    # Offline with the queue full, send_telemetry() raises: listen() until it takes the message.
    while True:
        try:
            return c.send_telemetry({"seq": seq})
        except IoTCError:
            _pump(c, 10)


def _drain(c, timeout_ms):
    wait(lambda: c.is_connected(True) and not c._inflight and not c._queue, c, timeout_ms,
         "nothing in flight or queued")


def _report(c, **figures):
    log = c.logger.lines if hasattr(c.logger, "lines") else ()
    for line in log:
        print("log:", line)
    print("SOAK", " ".join("{}={}".format(k, v) for k, v in figures.items()))


def test_qos1():
    # N QoS 1 messages, numbered, listen() between sends, through the fault proxy.
    n = _setting("N")
    c = client(os.getenv("IOTC_SOAK_DEVICE"), qos=1, storage=MemoryStorage())
    retries = _connect(c)
    for seq in range(n):
        _send(c, seq)
        _pump(c, 3)
    _drain(c, 180000)
    c.disconnect()
    _report(c, sent=n, connect_retries=retries)


def test_renewal():
    # QoS 1 messages throughout, until the hub has seen RENEWALS reconnects (token_ttl 60 s:
    # the client renews about every 47 s), then everything acknowledged.
    dev = os.getenv("IOTC_SOAK_DEVICE")
    want = _setting("RENEWALS")
    c = client(dev, qos=1, token_ttl=60)
    c.connect()
    first = device(dev)["connects"]
    seq = 0
    t0 = time.ticks_ms()
    while device(dev)["connects"] - first < want:
        if time.ticks_diff(time.ticks_ms(), t0) > (want + 2) * 60000:
            raise AssertionError("{} renewals in {} s".format(
                device(dev)["connects"] - first, (want + 2) * 60))
        for _ in range(10):  # a message every half second, asking the hub every five
            _send(c, seq)
            seq += 1
            t = time.ticks_ms()
            while time.ticks_diff(time.ticks_ms(), t) < 500:
                _pump(c, 1)
    _drain(c, 60000)
    c.disconnect()
    _report(c, sent=seq)


def test_heap():
    # N QoS 0 messages, no faults; the heap after a collection, every 500 messages.
    n = _setting("N")
    c = client(os.getenv("IOTC_SOAK_DEVICE"), logger=Quiet())
    c.connect()
    samples = [0] * (n // 500)  # made before the run: the list itself does not grow
    for seq in range(n):
        c.send_telemetry({"seq": seq})
        c.listen()
        if seq % 500 == 499:
            gc.collect()
            samples[seq // 500] = gc.mem_alloc()
    c.disconnect()
    _report(c, sent=n, heap=",".join(str(s) for s in samples))
