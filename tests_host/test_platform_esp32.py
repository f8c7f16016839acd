# The "esp32" test platform (harness.py) checked against the host: the library really gets the
# ESP32 clock stand-in (tests_host/esp32time), and its cases really run on a board-sized stack.
import json
import time

import pytest

import harness

EPOCH_2000 = 946684800


def results(name, case, platform, env=None):
    out = harness.run(name, case, env=env, platform=platform)
    found = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(found) == 1, out
    return found[0]


@pytest.mark.parametrize("on", harness.PLATFORMS)
def test_library_gets_the_platform_clock(on):
    before = int(time.time())
    got = results("test_platform_selfcheck", "test_clock_seen_by_the_library", on)
    after = int(time.time()) + 1
    assert got["same"], got  # iotc.client holds the same `time` module
    assert before <= got["unix_time"] <= after, got  # the library's SAS clock is Unix time
    if on == "esp32":
        assert got["year0"] == 2000 and got["file"].endswith("esp32time/time.py"), got
        assert before - EPOCH_2000 <= got["time"] <= after - EPOCH_2000, got
        assert isinstance(got["time"], int), got
        assert (before - EPOCH_2000) * 10**9 <= got["time_ns"] <= (after - EPOCH_2000) * 10**9
        now = time.gmtime(got["time"] + EPOCH_2000)
        assert got["gmtime"] == got["localtime"] == list(now)[:6] + [now.tm_wday, now.tm_yday]
    else:
        assert got["year0"] == 1970, got


def test_calendar_matches_the_host():
    got = results("test_platform_selfcheck", "test_calendar", "esp32")
    assert len(got["instants"]) == 15
    for since2000, tm in got["instants"]:
        want = time.gmtime(since2000 + EPOCH_2000)
        assert tm == list(want)[:6] + [want.tm_wday, want.tm_yday], (since2000, tm)


def test_ticks_wrap_and_ticks_add_limits():
    got = results("test_platform_selfcheck", "test_ticks_wrap_at_2_30", "esp32",
                  env={"IOTC_TICKS_WRAP_MS": "200"})
    assert 0 < got["lead_ms"] <= 200, got
    harness.run("test_platform_selfcheck", "test_ticks_add_limits", platform="esp32")
    harness.run("test_platform_selfcheck", "test_sleeps_pass_through", platform="esp32")


def test_ticks_start_just_before_the_wrap(monkeypatch):
    # harness.run: a moment of its own for each case, the same every run.
    monkeypatch.delenv("IOTC_TICKS_WRAP_MS", raising=False)
    cases = ("test_a", "test_b", "test_c")
    leads = [harness.platform_env("esp32", c)["IOTC_TICKS_WRAP_MS"] for c in cases]
    assert leads == [harness.platform_env("esp32", c)["IOTC_TICKS_WRAP_MS"] for c in cases]
    assert len(set(leads)) > 1 and all(0 <= int(n) < 1500 for n in leads), leads
    # The stand-in alone: 3 s before the wrap.
    got = results("test_platform_selfcheck", "test_clock_seen_by_the_library", "esp32",
                  env={"IOTC_TICKS_WRAP_MS": ""})
    assert 2**30 - 3000 <= got["ticks_ms"] < 2**30, got


def test_recursion_limit_is_a_boards():
    main = results("test_platform_selfcheck", "test_recursion_limits", "unix")
    board = results("test_platform_selfcheck", "test_recursion_limits", "esp32")
    print("recursion depth, unix main thread:", main, "esp32 platform:", board)
    # The stack check trips in the thread, far below the main thread's 80 KB.
    assert 0 < board["calls"] < main["calls"] / 3, (main, board)
    assert 0 < board["json"] < main["json"] / 3, (main, board)
