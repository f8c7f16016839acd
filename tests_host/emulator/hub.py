"""The emulated IoT Hub's cloud side (PROTOCOL.md §3): devices' telemetry kept, desired
properties set, direct methods invoked and answered, C2D queued and delivered, faults. Each
device connection is a hubconn.HubConnection.
"""

import asyncio
import itertools
import json
import time
import uuid
from urllib.parse import quote

from . import mqttcodec as m
from .hubconn import HubConnection
from .hubtopics import METHODS, TWIN_DESIRED, c2d_filter, parse_bag
from .dps import error_body
from .state import TELEMETRY_KEEP, merge_patch


class ServiceError(Exception):
    """What IoT Hub's service API answers a request it refuses: the HTTP status is code // 1000,
    the body Azure's error body (troubleshoot-error-codes.md lists the codes)."""

    def __init__(self, code, message, **extra):
        super().__init__(message)
        self.code, self.status, self.extra = code, code // 1000, extra

    def body(self):
        return dict(error_body(self.code, str(self)), **self.extra)


DEVICE_NOT_FOUND, DEVICE_NOT_ONLINE, QUEUE_FULL = 404001, 404103, 403004


class Hub:
    def __init__(self, state, log):
        self.state, self.log = state, log
        self.calls = {}  # call id -> call record
        self._pending = {}  # (device id, rid) -> (call, future, conn)
        self._ids = itertools.count(1)

    async def serve(self, reader, writer):
        await HubConnection(self, reader, writer).run()

    def device(self, device_id):
        dev = self.state.devices.get(device_id)
        if dev is None:
            raise ServiceError(DEVICE_NOT_FOUND, "no such device")
        return dev

    def store_telemetry(self, dev, topic, bag, payload, qos, retain, extra=None):
        system, app = parse_bag(bag)
        if retain:
            app["mqtt-retain"] = "true"
        if extra:
            app.update(extra)
        rec = {"topic": topic, "body": bytes(payload).decode("utf-8", "replace"),
               "properties": app, "system": system, "qos": qos, "ts": time.time()}
        dev.telemetry.append(rec)
        if len(dev.telemetry) > TELEMETRY_KEEP:
            del dev.telemetry[: len(dev.telemetry) - TELEMETRY_KEEP]
        self.state.events.add("telemetry", device=dev.id, **rec)

    # --- the application side --------------------------------------------------------------------

    def set_desired(self, device_id, patch):
        dev = self.device(device_id)
        patch = {k: v for k, v in patch.items() if not k.startswith("$")}
        merge_patch(dev.desired, patch)
        dev.desired_version += 1
        v = dev.desired_version
        pushed = bool(dev.conn and TWIN_DESIRED in dev.subscriptions)
        if pushed:
            body = dict(patch, **{"$version": v})
            dev.conn.send(m.publish(
                "$iothub/twin/PATCH/properties/desired/?$version={}".format(v), json.dumps(body)))
        self.state.events.add("desired", device=device_id, patch=patch, version=v, pushed=pushed)
        return v

    def start_method(self, device_id, name, payload, timeout):
        """Send a direct method request; returns (call record, future of the record)."""
        dev = self.device(device_id)
        conn = dev.conn
        if conn is None or METHODS not in dev.subscriptions:
            raise ServiceError(DEVICE_NOT_ONLINE, "device is not online (not connected or not "
                               "subscribed to methods)")
        n = next(self._ids)
        call = {"id": "m{}".format(n), "rid": format(n, "x"), "device": device_id, "name": name,
                "request": payload, "timeout": timeout, "ts": time.time(), "done": False,
                "status": None, "payload": None}
        fut = asyncio.get_running_loop().create_future()
        self.calls[call["id"]] = call
        dev.methods.append(call)
        self._pending[(device_id, call["rid"])] = (call, fut, conn)
        body = b"" if payload is None else json.dumps(payload).encode()
        conn.send(m.publish("$iothub/methods/POST/{}/?$rid={}".format(name, call["rid"]), body))
        self.state.events.add("method_call", device=device_id, id=call["id"], name=name,
                              payload=payload)

        async def finish():
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
            except asyncio.TimeoutError:
                self._pending.pop((device_id, call["rid"]), None)
                call.update(done=True, status=504, timed_out=True)
                self.state.events.add("method_result", device=device_id, id=call["id"],
                                      name=name, status=504, payload=None, timed_out=True)
            return call

        return call, asyncio.ensure_future(finish())

    def method_response(self, dev, rid, status, payload):
        entry = self._pending.pop((dev.id, rid), None)
        text = bytes(payload).decode("utf-8", "replace")
        try:
            value = json.loads(text) if text.strip() else None
            raw = False
        except ValueError:
            value, raw = text, True
        if entry is None:
            self.state.events.add("method_response_unmatched", device=dev.id, rid=rid,
                                  status=status)
            return
        call, fut, _ = entry
        call.update(done=True, status=status, payload=value, payload_not_json=raw,
                    answered=time.time())
        if not fut.done():
            fut.set_result(call)
        self.state.events.add("method_result", device=dev.id, id=call["id"], name=call["name"],
                              status=status, payload=value)

    def fail_methods(self, conn):
        """A device that disconnects cannot answer: its pending calls end as 404 at once."""
        for key, (call, fut, c) in list(self._pending.items()):
            if c is conn:
                del self._pending[key]
                call.update(done=True, status=404, disconnected=True)
                if not fut.done():
                    fut.set_result(call)
                self.state.events.add("method_result", device=call["device"], id=call["id"],
                                      name=call["name"], status=404, payload=None,
                                      disconnected=True)

    def send_c2d(self, device_id, body, properties=None):
        dev = self.device(device_id)
        if not dev.ever_connected:
            raise ServiceError(409000, "device has never connected; IoT Hub queues C2D only after "
                               "that")
        if len(dev.c2d) >= self.state.limits.c2d_max_pending:
            raise ServiceError(QUEUE_FULL, "DeviceMaximumQueueDepthExceeded: {} messages are "
                               "pending for the device".format(len(dev.c2d)))
        msg = {"id": str(uuid.uuid4()), "body": body if isinstance(body, bytes) else
               str(body).encode(), "properties": dict(properties or {}), "inflight": None,
               "deliveries": 0, "ts": time.time()}
        dev.c2d.append(msg)
        self.state.events.add("c2d_queued", device=device_id, id=msg["id"],
                              properties=msg["properties"])
        self.pump_c2d(dev)
        return msg["id"]

    def pump_c2d(self, dev):
        """Deliver queued C2D messages that are not in flight on the live connection."""
        conn = dev.conn if dev else None
        qos = dev.subscriptions.get(c2d_filter(dev.id)) if conn else None
        if conn is None or qos is None or conn.closed:
            return
        for msg in list(dev.c2d):
            if msg["inflight"] is not None:
                continue
            bag = "%24.mid={}&%24.to={}".format(
                quote(msg["id"], safe=""),
                quote("/devices/{}/messages/deviceBound".format(dev.id), safe=""))
            for k, v in msg["properties"].items():
                bag += "&" + quote(str(k), safe="")
                if v is not None:
                    bag += "=" + quote(str(v), safe="")
            topic = "devices/{}/messages/devicebound/{}".format(dev.id, bag)
            dup = msg["deliveries"] > 0
            msg["deliveries"] += 1
            if qos == 0:
                conn.send(m.publish(topic, msg["body"]))
                dev.c2d.remove(msg)
                self.state.events.add("c2d_ack", device=dev.id, id=msg["id"], qos=0,
                                      deliveries=msg["deliveries"])
            else:
                pid = conn.next_pid()
                msg["inflight"] = (conn, pid)
                conn.send(m.publish(topic, msg["body"], qos=1, pid=pid, dup=dup))
            self.state.events.add("c2d_sent", device=dev.id, id=msg["id"], qos=qos, dup=dup)

    def drop(self, device_id, reason="dropped by the emulator (fault)"):
        dev = self.device(device_id)
        if dev.conn is None:
            return False
        dev.conn.close(reason)
        return True

    def send_raw(self, device_id, data):
        dev = self.device(device_id)
        if dev.conn is None:
            raise ServiceError(DEVICE_NOT_ONLINE, "device is not connected")
        dev.conn.send(bytes(data))
