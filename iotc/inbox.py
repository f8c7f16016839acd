# iotc inbox: what the hub sends -> callbacks. Loaded for each message and freed after, as is
# everything it loads: iotc.proto to classify the topic (freed before the handler loads), then
# for a desired patch iotc.desired, for a command iotc.command. The hub's answers to reported
# patches are handled here.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import json
import time

from iotc import _forget


def run(client, op, body):
    # One PUBLISH. A malformed message or a failing callback is logged and skipped: listen()
    # goes on. One too large for the device (iotc.link cut it) is acknowledged and skipped;
    # one the heap cannot hold raises MemoryError, unacknowledged.
    link = client._link
    pid = 0
    try:
        if op & 0x200:
            raise MemoryError("no room for a message")
        if body is None:
            raise ValueError("PUBLISH topic runs past the packet")
        tl = body[0] << 8 | body[1]
        i = 2 + tl
        if op & 6:
            pid = body[i] << 8 | body[i + 1]
            i += 2
        if i > len(body):
            raise ValueError("PUBLISH topic runs past the packet")
        topic = bytes(body[2 : 2 + tl]).decode()
        if op & 0x100:
            client._log("skipped a message larger than the device accepts, on {}", topic)
            return
        payload = memoryview(body)[i:]
        from iotc.proto import classify

        kind, a, b = classify(topic, client._c2d_prefix)
        del classify
        _forget("proto")
        gc.collect()  # the handler's module then loads where iotc.proto was
        if kind == 1:  # a twin answer
            _twin_answer(client, a, b, payload)
        elif kind == 2:  # a desired patch
            from iotc.desired import on_patch

            on_patch(client, json.loads(payload), a)
        elif kind == 3:  # a command
            from iotc.command import on_command

            on_command(client, a, b, payload)
        elif kind == 4:  # C2D
            from iotc.command import on_c2d

            on_c2d(client, a, payload)
        else:
            client._log("ignored a message on an unknown topic {}", topic)
    except (OSError, MemoryError):
        # Not the message's fault: the link failed, or the heap is full. listen() reports it;
        # with no PUBACK, the hub sends a QoS 1 message again.
        pid = 0
        raise
    except Exception as e:
        client._log("skipped a message ({!r})", e)
    finally:
        _forget("proto", "desired", "command")  # loaded for one message: the GC has them back
        if pid and client._link is link:  # not if a callback ended the session
            link.write(bytes((0x40, 2, pid >> 8, pid & 0xFF)), 4)  # PUBACK


def _twin_answer(client, status, rid, payload):
    # The hub's answer to a reported patch (the twin GET's is read by iotc.resume).
    try:
        rid = int(rid)
    except (TypeError, ValueError):
        return
    patch = client._reported.pop(rid, None)
    if patch is None:
        return
    if status < 300:
        client._emit(5, "property", rid)  # IoTCEvents.MESSAGE_SENT
    elif status == 429 or status >= 500:
        # Throttled, or hub trouble: a new session sends it again in 30 s (0.3 x RETRY_MAX_MS),
        # in order with the others still unanswered (sooner than the token's renewal, which it
        # then is).
        client._reported[rid] = patch
        wait = client.RETRY_MAX_MS * 3 // 10
        soon = time.ticks_add(time.ticks_ms(), wait)
        if time.ticks_diff(client._due, soon) > 0:
            client._due = soon
        client._log("reported property answered {}; resending in {} ms", status, wait)
    else:
        client._log("reported property refused: {}", status)
