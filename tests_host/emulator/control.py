"""The application side: a plain-HTTP JSON API on loopback (what IoT Central's app would see).

  GET  /state                         ready info, counters, armed faults
  GET  /devices, /devices/{id}        device view: connected, model id, registration, twin...
  GET  /devices/{id}/telemetry        [{topic, body, properties, system, qos, ts}]  (?since=index)
  GET  /devices/{id}/methods          method call log
  GET  /devices/{id}/methods/{callId}, /methods/{callId}   one call
  POST /devices/{id}/desired          JSON patch -> {"version": n} (pushed when the device listens)
  POST /devices/{id}/methods/{name}?timeout=S&wait=1|0   body = JSON request payload
        wait=1 -> 200 {"status", "payload"}, or IoT Hub's failure (methods.py: 404 offline,
        504 timeout, 502 an answer that is not JSON, 400/413 too large); wait=0 -> 202 {"id"}
  POST /devices/{id}/c2d              {"body": str, "properties": {..}} -> {"id"}
  POST /devices/{id}/drop             close the device's connection now
  GET  /events?since=N&wait=S         long poll -> {"events": [..], "last": N}  (&device=ID: its only)
  GET  /enrollments; POST /enrollments {"kind": "group", "id", "key"} |
       {"kind": "individual", "registration_id", "key"}; DELETE /enrollments/{kind}/{id}
       X.509 (docs/x509.md): {"kind": "group", "id", "attestation": "x509", "ca": PEM (default:
       the device CA)} | {"kind": "individual", "registration_id", "attestation": "x509",
       "thumbprints": [SHA-1 or SHA-256 hex] or "cert": PEM}
  POST /certs {"device_id", "issuer": "group" (the device CA, default) | "self" (self-signed)
       | "untrusted" (a CA no enrollment knows), "rsa": false, "days": 365}
       -> {"cert": PEM, "key": PEM (unencrypted PKCS#8), "sha1", "sha256", "ca": PEM or null}
  POST /faults {"kind": .., ..}; POST /faults/clear; GET /faults
  GET  /limits; POST /limits {"name": value, ..} -> all limits (limits.py, README: Limits)
  PUT  /files/{name}, GET /files, POST /files/faults: update files over HTTPS (files.py)
Every answer is JSON with `Connection: close`, so a 20-line raw-socket client can use it. What
IoT Hub's service API would refuse (an offline device, a full C2D queue...) comes with its HTTP
status and Azure's error body: {"errorCode", "trackingId", "message", "timestampUtc"}.
"""

import asyncio
import base64
import binascii

from . import httpio, knobs
from .errors import ServiceError
from .knobs import ApiError, number
from .limits import LimitError
from .state import Enrollment, new_key

MAX_BODY = 1024 * 1024


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
            since = int(number(req.query.get("since"), "since", 0, 0, 1e12))
            wait = number(req.query.get("wait"), "wait", 0.0, 0, 600)
            evs = await st.events.wait(since, wait)
            dev = req.query.get("device")
            if dev:  # one device's only: a small answer for a device-sized client
                evs = [e for e in evs if e.get("device") == dev]
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
        if p == ["certs"] and meth == "POST":
            return 201, self.issue_cert(req.json())
        if p[:1] == ["enrollments"] and len(p) == 3 and meth == "DELETE":
            e = st.enrollments.pop((p[1], p[2]), None)
            if e is None:
                raise ApiError(404, "no such enrollment")
            return 200, e.public()
        if p == ["faults"]:
            if meth == "GET":
                return 200, st.faults.public()
            if meth == "POST":
                return 200, knobs.arm(self.state, self.hub, req.json())
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
        if p[:1] == ["files"]:  # update files for OTA (files.py)
            return self.emu.files.route(req, p[1:])
        if p == ["faults", "clear"] and meth == "POST":
            st.faults.clear()
            self.emu.files.clear()
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
            since = int(number(req.query.get("since"), "since", 0, 0, 1e12))
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
            timeout = number(req.query.get("timeout"), "timeout", 30.0, 0.0, 300.0)
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

    def issue_cert(self, obj):
        from . import certs

        if not isinstance(obj, dict) or not isinstance(obj.get("device_id"), str):
            raise ApiError(400, "give a device_id")
        issuer = obj.get("issuer", "group")
        if issuer == "group":
            ca = self.emu.device_ca
        elif issuer == "self":
            ca = None
        elif issuer == "untrusted":
            ca = certs.new_ca("iotc emulator untrusted CA")
        else:
            raise ApiError(400, "issuer is group, self or untrusted")
        days = int(number(obj.get("days"), "days", 365, 1, 3650))
        cert, key = certs.issue_device(obj["device_id"], ca, bool(obj.get("rsa")), days)
        sha1, sha256 = certs.thumbprints(cert.public_bytes(certs.serialization.Encoding.DER))
        self.state.events.add("cert_issued", device=obj["device_id"], issuer=issuer, sha1=sha1)
        return {"cert": certs.pem(cert), "key": certs.pem(key=key), "sha1": sha1,
                "sha256": sha256, "ca": certs.pem(ca[0]) if ca else None}

    def add_x509_enrollment(self, obj, kind):
        from . import certs

        if kind == "group":
            ident = obj.get("id")
            ca = self.emu.device_ca[0]
            if obj.get("ca"):
                try:
                    ca = certs.x509.load_pem_x509_certificate(obj["ca"].encode())
                except (ValueError, AttributeError):
                    raise ApiError(400, "ca must be a PEM certificate") from None
            return ident, Enrollment("group", ident, None, ca=ca)
        if kind != "individual":
            raise ApiError(400, "kind must be group or individual")
        ident = obj.get("registration_id") or obj.get("id")
        prints = obj.get("thumbprints") or []
        if obj.get("cert"):
            try:
                c = certs.x509.load_pem_x509_certificate(obj["cert"].encode())
            except (ValueError, AttributeError):
                raise ApiError(400, "cert must be a PEM certificate") from None
            prints = list(certs.thumbprints(c.public_bytes(certs.serialization.Encoding.DER)))
        if not prints or not all(isinstance(t, str) for t in prints):
            raise ApiError(400, "an X.509 individual enrollment needs thumbprints or a cert")
        return ident, Enrollment("individual", ident, None, registration_id=ident,
                                 thumbprints=prints)

    def add_enrollment(self, obj):
        if not isinstance(obj, dict):
            raise ApiError(400, "enrollment must be a JSON object")
        kind = obj.get("kind", "group")
        if obj.get("attestation") == "x509":
            ident, e = self.add_x509_enrollment(obj, kind)
            if not isinstance(ident, str) or not ident:
                raise ApiError(400, "enrollment needs an id / registration_id")
            e.enabled = bool(obj.get("enabled", True))
            self.state.add_enrollment(e)
            self.state.events.add("enrollment", kind=kind, id=ident, attestation="x509")
            return e.public()
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
