"""The application side: a plain-HTTP JSON API on loopback (what IoT Central's app would see).

  GET  /state                         ready info, counters, armed faults
  GET  /devices, /devices/{id}        device view: connected, model id, registration, twin...
  GET  /devices/{id}/telemetry        [{topic, body, properties, system, qos, ts}]  (?since=index)
  GET  /devices/{id}/methods          method call log
  GET  /devices/{id}/methods/{callId}, /methods/{callId}   one call
  POST /devices/{id}/desired          JSON patch -> {"version": n} (pushed when the device listens)
  POST /devices/{id}/methods/{name}?timeout=S&wait=1|0   body = JSON request payload
        wait=1 -> 200 {"status", "payload"}, 504 timeout, 404 offline; wait=0 -> 202 {"id"}
  POST /devices/{id}/c2d              {"body": str, "properties": {..}} -> {"id"}
  POST /devices/{id}/drop             close the device's connection now
  GET  /events?since=N&wait=S         long poll -> {"events": [..], "last": N}
  GET  /enrollments; POST /enrollments {"kind": "group", "id", "key"} |
       {"kind": "individual", "registration_id", "key"}; DELETE /enrollments/{kind}/{id}
  POST /faults {"kind": .., ..}; POST /faults/clear; GET /faults
  GET  /limits; POST /limits {"name": value, ..} -> all limits (limits.py, README: Limits)
Every answer is JSON with `Connection: close`, so a 20-line raw-socket client can use it. What
IoT Hub's service API would refuse (an offline device, a full C2D queue...) comes with its HTTP
status and Azure's error body: {"errorCode", "trackingId", "message", "timestampUtc"}.
"""

import asyncio
import base64
import binascii
import json
import struct
import time

from . import httpio
from . import mqttcodec as m
from .dps_http import MALFORMED_KINDS
from .errors import ServiceError
from .limits import LimitError
from .state import Enrollment, new_key

MAX_BODY = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _num(value, name, default, lo=0.0, hi=86400.0):
    if value is None or value == "":
        return default
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, "{} must be a number".format(name)) from None
    if not lo <= v <= hi:
        raise ApiError(400, "{} out of range".format(name))
    return v


def _public_call(call):
    return {k: v for k, v in call.items() if k != "rid"}


class Control:
    def __init__(self, emulator):
        self.emu = emulator
        self.state = emulator.state
        self.hub = emulator.hub

    async def serve(self, reader, writer):
        try:
            try:
                req = await asyncio.wait_for(httpio.read_request(reader, MAX_BODY), 30)
            except EOFError:
                return
            except asyncio.TimeoutError:
                return
            except httpio.HttpError as e:
                writer.write(httpio.response(e.status, {"error": str(e)}))
                return
            try:
                status, body = await self.route(req)
            except ServiceError as e:
                status, body = e.status, e.body()
            except (ApiError, httpio.HttpError) as e:
                status, body = e.status, {"error": str(e)}
            writer.write(httpio.response(status, body))
        except (ConnectionError, OSError):
            pass
        except Exception as e:
            self.state.internal_error("control", e)
            self.emu.log("control: INTERNAL ERROR {!r}".format(e))
            try:
                writer.write(httpio.response(500, {"error": repr(e)}))
            except Exception:
                pass
        finally:
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                pass
            await httpio.close(writer)

    async def route(self, req):
        p = [x for x in req.path.split("/") if x]
        meth = req.method
        st = self.state
        if p == ["state"] and meth == "GET":
            return 200, self.emu.status()
        if p == ["events"] and meth == "GET":
            since = int(_num(req.query.get("since"), "since", 0, 0, 1e12))
            wait = _num(req.query.get("wait"), "wait", 0.0, 0, 600)
            evs = await st.events.wait(since, wait)
            return 200, {"events": evs, "last": st.events.seq}
        if p == ["devices"] and meth == "GET":
            return 200, [d.public() for d in st.devices.values()]
        if p[:1] == ["devices"] and len(p) >= 2:
            return await self.device_route(req, p[1], p[2:])
        if p[:1] == ["methods"] and len(p) == 2 and meth == "GET":
            return self.call(p[1])
        if p == ["enrollments"]:
            if meth == "GET":
                return 200, [e.public() for e in st.enrollments.values()]
            if meth == "POST":
                return 201, self.add_enrollment(req.json())
        if p[:1] == ["enrollments"] and len(p) == 3 and meth == "DELETE":
            e = st.enrollments.pop((p[1], p[2]), None)
            if e is None:
                raise ApiError(404, "no such enrollment")
            return 200, e.public()
        if p == ["faults"]:
            if meth == "GET":
                return 200, st.faults.public()
            if meth == "POST":
                return 200, self.fault(req.json())
        if p == ["limits"]:
            if meth == "POST":
                obj = req.json()
                if not isinstance(obj, dict):
                    raise ApiError(400, "limits must be a JSON object of name: value")
                try:
                    changed = st.limits.set(obj)
                except LimitError as e:
                    raise ApiError(400, str(e)) from None
                st.events.add("limits", changed=changed)
            if meth in ("GET", "POST"):
                return 200, st.limits.public()
        if p == ["faults", "clear"] and meth == "POST":
            st.faults.clear()
            for d in st.devices.values():
                d.stall_until = 0.0
            st.events.add("fault", kind="clear")
            return 200, {"cleared": True}
        raise ApiError(404, "no such API: {} {}".format(meth, req.path))

    def call(self, call_id):
        call = self.hub.methods.calls.get(call_id)
        if call is None:
            raise ApiError(404, "no such method call")
        return 200, _public_call(call)

    async def device_route(self, req, device_id, rest):
        meth = req.method
        dev = self.hub.device(device_id)
        if not rest and meth == "GET":
            return 200, dev.public()
        if rest == ["telemetry"] and meth == "GET":
            since = int(_num(req.query.get("since"), "since", 0, 0, 1e12))
            return 200, dev.telemetry[since:]
        if rest == ["twin"] and meth == "GET":
            return 200, dev.twin()
        if rest == ["methods"] and meth == "GET":
            return 200, [_public_call(c) for c in dev.methods]
        if len(rest) == 2 and rest[0] == "methods" and meth == "GET":
            return self.call(rest[1])
        if rest == ["desired"] and meth == "POST":
            patch = req.json()
            if not isinstance(patch, dict):
                raise ApiError(400, "desired patch must be a JSON object")
            return 200, {"version": self.hub.set_desired(device_id, patch)}
        if len(rest) == 2 and rest[0] == "methods" and meth == "POST":
            timeout = _num(req.query.get("timeout"), "timeout", 30.0, 0.0, 300.0)
            wait = req.query.get("wait", "1") not in ("0", "false", "no")
            call, done = self.hub.start_method(device_id, rest[1], req.json(), timeout)
            if not wait:
                return 202, {"id": call["id"]}
            call = await done
            if call["failure"]:  # what IoT Hub answers the service caller
                return call["failure"]["status"], call["failure"]["body"]
            return 200, {"status": call["status"], "payload": call["payload"], "id": call["id"]}
        if rest == ["c2d"] and meth == "POST":
            obj = req.json() or {}
            if not isinstance(obj, dict):
                raise ApiError(400, "c2d body must be a JSON object")
            body = obj.get("body", "")
            if not isinstance(body, str):
                body = json.dumps(body)
            props = obj.get("properties") or {}
            if not isinstance(props, dict):
                raise ApiError(400, "properties must be an object")
            return 200, {"id": self.hub.send_c2d(device_id, body, props)}
        if rest == ["drop"] and meth == "POST":
            return 200, {"dropped": self.hub.drop(device_id)}
        raise ApiError(404, "no such device API: {} {}".format(meth, req.path))

    def add_enrollment(self, obj):
        if not isinstance(obj, dict):
            raise ApiError(400, "enrollment must be a JSON object")
        kind = obj.get("kind", "group")
        key = obj.get("key") or new_key()
        try:
            base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ApiError(400, "key must be base64") from None
        if kind == "group":
            ident = obj.get("id")
            e = Enrollment("group", ident, key)
        elif kind == "individual":
            ident = obj.get("registration_id") or obj.get("id")
            e = Enrollment("individual", ident, key, registration_id=ident)
        else:
            raise ApiError(400, "kind must be group or individual")
        if not isinstance(ident, str) or not ident:
            raise ApiError(400, "enrollment needs an id / registration_id")
        e.enabled = bool(obj.get("enabled", True))
        self.state.add_enrollment(e)
        self.state.events.add("enrollment", kind=kind, id=ident)
        return dict(e.public(), key=key)

    def fault(self, f):
        if not isinstance(f, dict) or not isinstance(f.get("kind"), str):
            raise ApiError(400, 'fault must be a JSON object with "kind"')
        st, hub, kind = self.state, self.hub, f["kind"]
        count = int(_num(f.get("count"), "count", 1, 1, 1e6))
        dev_id = f.get("device")
        if kind == "drop":
            return {"dropped": hub.drop(dev_id, f.get("reason") or "dropped by a fault")}
        if kind == "refuse_connect":
            code = int(_num(f.get("code"), "code", m.UNAVAILABLE, 1, 255))
            if not isinstance(dev_id, str):
                raise ApiError(400, "refuse_connect needs a device")
            st.faults.refuse[dev_id] = [count, code]
        elif kind == "twin_status":
            status = int(_num(f.get("status"), "status", 500, 100, 599))
            if not isinstance(dev_id, str):
                raise ApiError(400, "twin_status needs a device")
            st.faults.twin_status[dev_id] = [count, status]
        elif kind == "dps_status":
            status = int(_num(f.get("status"), "status", 429, 100, 599))
            ra = f.get("retry_after")
            st.faults.dps_status = {"status": status, "count": count,
                                    "retry_after": None if ra is None else
                                    int(_num(ra, "retry_after", 0, 0, 3600))}
        elif kind == "dps_assigning":
            st.faults.dps_assigning = int(_num(f.get("polls"), "polls", 1, 0, 1000))
            st.faults.dps_assigning_count = int(_num(f.get("count"), "count", 0, 0, 1e6))
        elif kind == "dps_malformed":
            mode = f.get("mode")
            if mode not in MALFORMED_KINDS:
                raise ApiError(400, "mode must be one of " + ", ".join(MALFORMED_KINDS))
            st.faults.dps_malformed = mode
        elif kind == "stall":
            hub.device(dev_id).stall_until = time.time() + _num(f.get("seconds"), "seconds", 5.0)
        elif kind == "publish":
            payload = f.get("payload", "")
            if not isinstance(payload, str):
                payload = json.dumps(payload)
            payload = payload.encode()
            qos = int(_num(f.get("qos"), "qos", 0, 0, 1))
            pid = hub.device(dev_id).conn.next_pid() if qos and hub.device(dev_id).conn else None
            hub.send_raw(dev_id, m.publish(str(f.get("topic", "")), payload, qos=qos, pid=pid))
        elif kind == "oversized":
            size = int(_num(f.get("size"), "size", 300 * 1024, 1, 64 * 1024 * 1024))
            topic = f.get("topic") or "$iothub/twin/PATCH/properties/desired/?$version=999"
            hub.send_raw(dev_id, m.publish(topic, b"x" * size))
        elif kind == "malformed_publish":
            # A PUBLISH whose topic length points past the end of the packet.
            body = struct.pack("!H", 200) + b"devices/broken"
            hub.send_raw(dev_id, m.packet(m.PUBLISH, 0, body))
        elif kind == "garbage":
            if "hex" in f:
                data = bytes.fromhex(f["hex"])
            else:
                data = str(f.get("data", "\xff\xfe garbage \x00")).encode("latin-1", "replace")
            hub.send_raw(dev_id, data)
        else:
            raise ApiError(400, "unknown fault kind " + kind)
        st.events.add("fault", device=dev_id, kind=kind, spec=f)
        return {"armed": kind}
