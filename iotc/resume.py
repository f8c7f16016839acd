# iotc resume: the end of a (re)connect, the phase after iotc.mqtt, freed after: the
# subscriptions, the twin, then what the hub never acknowledged and what waited while offline.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import time

from micropython import const

_TWIN_TIMEOUT_MS = const(10000)


def run(client):
    # -> ("desired",) for the catch-up when there is a twin, else None: the connect is done.
    link = client._link
    try:
        _await_twin(client, link, _start(client, link))
    except OSError:
        client._link = None
        link.close()
        raise
    client._failures = 0
    client._emit(4, True, "connected")  # IoTCEvents.CONNECTION
    for hook in client._events.get(12, ()):  # the extras' (iotc.hooks)
        hook(True, "connected")
    try:
        # What the hub never acknowledged goes again, oldest first: MicroPython's dicts keep no
        # order, and ids wrap at 65535, so an id's age is its distance back from the last one.
        last = client._id
        age = lambda pid: (last - pid) % 65535  # noqa: E731 (one closure for both)
        inflight = client._inflight
        for pid in sorted(inflight, key=age, reverse=True):
            packet = inflight[pid]
            packet[0] |= 8  # DUP: the link was proven dead, so only now
            client._link.write(packet, len(packet))
        for pid in sorted(client._reported, key=age, reverse=True):
            client._send_reported(pid)
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
    renew = min(ttl - min(300, ttl // 5 + 1), 86400)  # a day: far inside 2^29 ms
    client._due = time.ticks_add(time.ticks_ms(), renew * 1000)
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
    # The remaining length, 7 bits a byte, as iotc.link.publish writes it: a function shared
    # by both would stay in RAM with the link (about 128 B) for a packet sent once a connect.
    while rem > 0x7F:
        buf[i] = (rem & 0x7F) | 0x80
        rem >>= 7
        i += 1
    buf[i] = rem
    i += 1
    pid = client._id = client._id % 65535 + 1
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
    client._id = client._id % 65535 + 1
    rid = str(client._id).encode()
    link.publish(b"$iothub/twin/GET/?$rid=" + rid, b"")
    return b"&$rid=" + rid + b"&"  # what the answer's query holds, between "&"s


def _await_twin(client, link, want):
    # The twin GET's answer is read here: through iotc.inbox, that module and iotc.proto would
    # be in RAM with this one (measured: the peak of a connect). Anything else goes there.
    t0 = time.ticks_ms()
    while True:
        if time.ticks_diff(time.ticks_ms(), t0) > _TWIN_TIMEOUT_MS:
            raise OSError("no twin from the hub")
        packet = link.poll()
        if packet is None:
            time.sleep_ms(2)
        elif _twin_answer(client, link, want, *packet):
            return
        else:
            client._handle(packet)


def _twin_answer(client, link, want, op, body):
    # -> True when this packet is the answer to our twin GET ("$iothub/twin/res/200/?$rid=N").
    # Its topic is read as iotc.proto.classify reads a twin answer's, without loading that.
    # Whatever the answer holds, the connect goes on: without a twin when there is none to use.
    if op & 0xF0 != 0x30 or body is None or len(body) < 2:
        return False
    tl = body[0] << 8 | body[1]
    topic = bytes(body[2 : 2 + tl])
    q = topic.find(b"?")
    if q < 0 or not topic.startswith(b"$iothub/twin/res/"):
        return False
    if want not in b"&" + topic[q + 1 :] + b"&":
        return False
    i = 2 + tl
    try:
        if op & 6:  # QoS 1: acknowledged
            link.write(bytes((0x40, 2, body[i], body[i + 1])), 4)
            i += 2
        if op & 0x300:  # iotc.link cut it
            raise ValueError("larger than the device accepts" if op & 0x100
                             else "no room in the heap")
        status = int(topic[17 : topic.index(b"/", 17)])
        if status != 200:
            raise ValueError("status {}".format(status))
        client._twin = json.loads(memoryview(body)[i:])
    except OSError:
        raise
    except Exception as e:  # the session goes on without it; the desired catch-up is skipped
        client._twin = None
        client._log("twin GET: no twin in the answer ({})", e)
        return True
    client._emit(6, client._twin, None)  # IoTCEvents.TWIN
    return True
