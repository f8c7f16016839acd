# iotc offline: the session has ended, by a dropped link or by disconnect(). Loaded when that
# happens (the client has closed the link already) and freed after.
# MIT license; Copyright (c) 2026 the iotc authors

import time


def run(client, reason, was_up):
    # reason: what broke the link, or None for disconnect(). was_up: a link was open.
    if reason is None:  # stay offline; the trust is made again at the next connect()
        client._due = None
        client._tls = False
        if was_up:
            client._emit(4, False, "disconnect() called")  # IoTCEvents.CONNECTION
        return
    # The next attempt: at once after the first failure, then RETRY_MS doubling up to
    # RETRY_MAX_MS, each with up to a quarter more at random (jitter).
    client._failures += 1
    n = client._failures
    delay = 0 if n == 1 else min(client.RETRY_MS << min(n - 2, 16), client.RETRY_MAX_MS)
    delay += time.ticks_us() % (delay // 4 + 1)
    client._due = time.ticks_add(time.ticks_ms(), delay)
    client._log("connection lost ({}); retrying in {} ms", reason, delay)
    client._emit(4, False, str(reason))
