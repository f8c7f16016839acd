# iotc resume: the end of a (re)connect, the phase after iotc.mqtt, freed after: the
# subscriptions, the twin, then what the hub never acknowledged and what waited while offline.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

_TWIN_TIMEOUT_MS = const(10000)


def run(client):
    # -> ("desired",) for the catch-up when there is a twin, else None: the connect is done.
    link = client._link
    try:
        _start(client, link)
        _await_twin(client, link)
    except OSError:
        client._link = None
        link.close()
        raise
    client._failures = 0
    client._emit(4, True, "connected")  # IoTCEvents.CONNECTION
    try:
        for packet in client._inflight.values():
            packet[0] |= 8  # DUP
            client._link.write(packet, len(packet))
        client._ack_at = time.ticks_ms()
        for rid in list(client._reported):
            client._send_reported(rid)
        queue, client._queue = client._queue, []
        for item in queue:
            client._publish(*item)
    except OSError as e:  # connected, then lost: the client heals it, connect() does not fail
        client._lost(e)
        return None
    if client._twin:
        return ("desired",)


def _start(client, link):
    # One SUBSCRIBE for all the topics (QoS 1 each; the SUBACK comes through poll()), the twin
    # request, and when to renew the SAS token.
    ttl = client.token_ttl
    client._due = time.ticks_add(time.ticks_ms(), (ttl - min(300, ttl // 5 + 1)) * 1000)
    topics = (b"$iothub/methods/POST/#", b"$iothub/twin/res/#",
              b"$iothub/twin/PATCH/properties/desired/#", (client._c2d_prefix + "#").encode())
    rem = 2
    for f in topics:
        rem += 3 + len(f)
    buf = link._buf  # 256 B: room for it unless the device id is long
    if len(buf) < rem + 5:
        buf = bytearray(rem + 5)
    buf[0] = 0x82
    i = 1
    while rem > 0x7F:
        buf[i] = (rem & 0x7F) | 0x80
        rem >>= 7
        i += 1
    buf[i] = rem
    i += 1
    pid = client._next_id()
    buf[i] = pid >> 8
    buf[i + 1] = pid & 0xFF
    i += 2
    for f in topics:
        n = len(f)
        buf[i] = n >> 8
        buf[i + 1] = n & 0xFF
        buf[i + 2 : i + 2 + n] = f
        buf[i + 2 + n] = 1
        i += 3 + n
    link.write(buf, i)
    client._twin_rid = rid = str(client._next_id())
    link.publish("$iothub/twin/GET/?$rid={}".format(rid).encode(), b"")


def _await_twin(client, link):
    t0 = time.ticks_ms()
    while client._twin_rid is not None:
        if time.ticks_diff(time.ticks_ms(), t0) > _TWIN_TIMEOUT_MS:
            raise OSError("no twin from the hub")
        if not client._handle(link.poll()):
            time.sleep_ms(2)
