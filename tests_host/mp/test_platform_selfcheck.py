# iotc test platform: what the "esp32" platform (harness.py) really gives a case
# MIT license; Copyright (c) 2026 the iotc authors
#
# Run by tests_host/test_platform_esp32.py, which compares what these print with the host's
# clock and calendar and with the same case on the plain unix port.
import json
import time


def eq(a, b):
    if a != b:
        raise AssertionError("{!r} != {!r}".format(a, b))


def raises(exc, f, *args):
    try:
        f(*args)
    except exc as e:
        return e
    raise AssertionError("{} not raised by {}{!r}".format(exc.__name__, f.__name__, args))


def show(**kw):
    print("RESULT " + json.dumps(kw))


def test_clock_seen_by_the_library():
    # The library's own modules hold the module this platform put on the path.
    import iotc.client
    import iotc.sas

    show(ticks_ms=time.ticks_ms(), year0=iotc.sas.time.gmtime(0)[0], same=iotc.client.time is time,
         file=getattr(time, "__file__", None), unix_time=iotc.sas.unix_time(), time=time.time(),
         time_ns=time.time_ns(), gmtime=time.gmtime(), localtime=time.localtime())


def test_calendar():
    # Instants around leap days, centuries and the 32-bit edges, in seconds since 2000 (the
    # unix port's own mktime() is local time, so this runs on the esp32 platform only).
    eq(time.gmtime(0)[0], 2000)
    out = []
    for since2000 in (0, 59 * 86400 - 1, 59 * 86400, 60 * 86400, 366 * 86400 - 1, 366 * 86400,
                      768614399, 2**30 - 1, 2**30, 2**31 - 1, 2**31, 3155759999, 3155760000,
                      3160857600, 849312000 + 12345):
        tm = time.gmtime(since2000)
        eq(time.mktime(tm), since2000)
        out.append([since2000, list(tm)])
    # Fields out of range carry over, as on the boards.
    eq(time.mktime((2026, 13, 1, 0, 0, 0, 0, 0)), time.mktime((2027, 1, 1, 0, 0, 0, 0, 0)))
    eq(time.mktime((2026, 3, 0, 24, 0, 0, 0, 0)), time.mktime((2026, 3, 1, 0, 0, 0, 0, 0)))
    eq(time.mktime((2026, 1, 1, 0, 0, -1, 0, 0)), time.mktime((2025, 12, 31, 23, 59, 59, 0, 0)))
    raises(TypeError, time.mktime, (2026, 1, 1))
    show(instants=out)


def test_ticks_wrap_at_2_30():
    period = 1 << 30
    half = period // 2
    t0, u0 = time.ticks_ms(), time.ticks_us()
    lead = period - t0
    if lead > 1000:
        raise AssertionError("ticks_ms() started at {}, not just before the wrap".format(t0))
    time.sleep_ms(lead + 20)
    t1, u1 = time.ticks_ms(), time.ticks_us()
    if not (t1 < t0 and u1 < u0):
        raise AssertionError("no wrap: {} -> {}, {} -> {}".format(t0, t1, u0, u1))
    # At least the time slept (less a ms: each ticks_ms() value is truncated).
    dt, du = time.ticks_diff(t1, t0), time.ticks_diff(u1, u0)
    if dt < lead + 20 or du < (lead + 19) * 1000:
        raise AssertionError("ticks_diff across the wrap: {} ms, {} us".format(dt, du))
    for f in (time.ticks_ms, time.ticks_us, time.ticks_cpu):
        v = f()
        if not 0 <= v < period:
            raise AssertionError("{}() = {}".format(f.__name__, v))
    eq(time.ticks_diff(0, period - 1), 1)
    eq(time.ticks_diff(period - 1, 0), -1)
    eq(time.ticks_diff(half, 0), -half)  # signed: [-2**29, 2**29)
    eq(time.ticks_diff(half - 1, 0), half - 1)
    show(first_ms=t0, lead_ms=lead)


def test_ticks_add_limits():
    period = 1 << 30
    half = period // 2
    t = time.ticks_ms()
    for d in (0, 1, -1, 1000, half - 1, -(half - 1), 6 * 86400 * 1000, period - t):
        if -half < d < half:
            eq(time.ticks_diff(time.ticks_add(t, d), t), d)
            if not 0 <= time.ticks_add(t, d) < period:
                raise AssertionError(d)
    for d in (half, -half, period, 7 * 86400 * 1000, 2**40):
        e = raises(OverflowError, time.ticks_add, t, d)
        eq(str(e), "ticks interval overflow")
    raises(TypeError, time.ticks_add, t, 1.5)
    raises(TypeError, time.gmtime, 1.5)


def test_sleeps_pass_through():
    t0 = time.ticks_ms()
    time.sleep(0.02)
    time.sleep_ms(20)
    time.sleep_us(20000)
    if time.ticks_diff(time.ticks_ms(), t0) < 60:
        raise AssertionError("slept {} ms".format(time.ticks_diff(time.ticks_ms(), t0)))


def _depth(f):
    # How deep f can go before the stack check stops it with RuntimeError.
    reached = [0]
    try:
        f(reached, 0)
    except RuntimeError as e:
        if "recursion" not in str(e):
            raise
        return reached[0]
    raise AssertionError("no RuntimeError")


def _calls(reached, n):
    reached[0] = n
    _calls(reached, n + 1)


def _json(reached, n):
    # json.dumps of lists nested n deep, deeper and deeper: C recursion, not Python calls.
    while True:
        doc = 0
        for _ in range(n):
            doc = [doc]
        json.dumps(doc)
        reached[0] = n
        n += 8


def test_recursion_limits():
    show(calls=_depth(_calls), json=_depth(_json))
