# iotc emulator methods: direct methods (IoT Central commands) as IoT Hub proxies them
# MIT license; Copyright (c) 2026 the iotc authors
"""Direct methods, from the application's call to the device's answer (PROTOCOL.md §3.2).

The application's call goes to the device as `$iothub/methods/POST/{name}/?$rid=..`; the device
answers on `$iothub/methods/res/{status}/?$rid=..` with a JSON payload or none. The call ends as
IoT Hub ends it for a service caller (README: Limits): the device's status and payload; or a
failure with an HTTP status and Azure's error body: 400 for a request payload over the limit,
404103 for a device that is not online (or drops before answering), 504101 when it does not
answer in time, 502 when its answer is not JSON, 413 when its answer is over the limit.
"""

import asyncio
import itertools
import json
import time

from . import mqttcodec as m
from .errors import ServiceError, error_body
from .hubtopics import METHODS

BAD_PAYLOAD, NOT_ONLINE, TOO_LARGE, NOT_JSON, TIMEOUT = 400004, 404103, 413001, 502000, 504101


class Methods:
    def __init__(self, state):
        self.state = state
        self.calls = {}  # call id -> call record
        self._pending = {}  # (device id, rid) -> (call, future, conn)
        self._ids = itertools.count(1)

    def start(self, dev, name, payload, timeout):
        """Send a direct method request -> (call record, future of the record once it ends)."""
        conn = dev.conn
        if conn is None or METHODS not in dev.subscriptions:
            raise ServiceError(NOT_ONLINE, "device is not online (not connected or not "
                               "subscribed to methods)")
        body = b"" if payload is None else json.dumps(payload).encode()
        limit = self.state.limits.method_max_bytes
        if len(body) > limit:
            raise ServiceError(BAD_PAYLOAD, "'payload' size should be less than {} bytes".format(
                limit))
        n = next(self._ids)
        call = {"id": "m{}".format(n), "rid": format(n, "x"), "device": dev.id, "name": name,
                "request": payload, "timeout": timeout, "ts": time.time(), "done": False,
                "status": None, "payload": None, "failure": None}
        fut = asyncio.get_running_loop().create_future()
        self.calls[call["id"]] = call
        dev.methods.append(call)
        self._pending[(dev.id, call["rid"])] = (call, fut, conn)
        conn.send(m.publish("$iothub/methods/POST/{}/?$rid={}".format(name, call["rid"]), body))
        self.state.events.add("method_call", device=dev.id, id=call["id"], name=name,
                              payload=payload)

        async def finish():
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
            except asyncio.TimeoutError:
                self._pending.pop((dev.id, call["rid"]), None)
                self._end(call, None, None, TIMEOUT, "Timed out waiting for the response from "
                          "device.", timed_out=True)
            return call

        return call, asyncio.ensure_future(finish())

    def response(self, dev, rid, status, payload):
        """The device's answer on $iothub/methods/res/{status}/?$rid={rid}."""
        entry = self._pending.pop((dev.id, rid), None)
        if entry is None:
            self.state.events.add("method_response_unmatched", device=dev.id, rid=rid,
                                  status=status)
            return
        call, fut, _ = entry
        payload = bytes(payload)
        text = payload.decode("utf-8", "replace")
        if len(payload) > self.state.limits.method_max_bytes:
            self._end(call, status, None, TOO_LARGE, "the device's response is {} bytes, over "
                      "the {} allowed".format(len(payload), self.state.limits.method_max_bytes))
        elif payload:
            try:
                value = json.loads(payload)
            except ValueError:  # UnicodeDecodeError too
                self._end(call, status, text[:200], NOT_JSON, "InvalidResponseWhileProxying: "
                          "the device's response is not JSON")
            else:
                self._end(call, status, value)
        else:
            self._end(call, status, None)
        if not fut.done():
            fut.set_result(call)

    def fail(self, conn):
        """A device that disconnects cannot answer: its pending calls end at once."""
        for key, (call, fut, c) in list(self._pending.items()):
            if c is conn:
                del self._pending[key]
                self._end(call, None, None, NOT_ONLINE, "device disconnected before answering",
                          disconnected=True)
                if not fut.done():
                    fut.set_result(call)

    def _end(self, call, status, payload, code=None, message=None, **flags):
        failure = None
        if code:
            failure = {"status": code // 1000, "body": dict(error_body(code, message),
                                                            id=call["id"])}
        call.update(done=True, status=status, payload=payload, failure=failure,
                    answered=time.time(), **flags)
        self.state.events.add("method_result", device=call["device"], id=call["id"],
                              name=call["name"], status=status, payload=payload,
                              failure=failure and failure["body"], **flags)
