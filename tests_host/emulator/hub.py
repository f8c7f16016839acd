"""IoT Hub over MQTT 3.1.1 (PROTOCOL.md §3): connect, telemetry, twin, direct methods, C2D.

CONNECT checks, in this order, and the CONNACK code each failure gets:
  protocol name/level other than MQTT/4 ............................. 1 (bad protocol)
  empty client id, or client id != deviceId of the user name ......... 2 (identifier rejected)
  user name not `{hub}/{deviceId}/?api-version=..`, no password,
  password not a SharedAccessSignature token ......................... 4 (bad user/password)
  unknown hub name or device, token for another resource, expired
  token, wrong signature ............................................. 5 (not authorized)
  a `refuse_connect` fault ........................................... the code it names
Device keys come from DPS registrations (and from individual enrollments for devices that never
registered). One live connection per device: a new CONNECT drops the old one. The connection is
closed when the token's `se` passes.
"""

import asyncio
import itertools
import json
import time
import uuid
from urllib.parse import quote, unquote

from . import mqttcodec as m
from . import sas
from .mqttconn import Close, MqttConnection
from .state import C2D_MAX_PENDING, TELEMETRY_KEEP, merge_patch

TWIN_RES = "$iothub/twin/res/#"
TWIN_DESIRED = "$iothub/twin/PATCH/properties/desired/#"
METHODS = "$iothub/methods/POST/#"
STREAMS = "$iothub/streams/POST/#"
MAX_SUBSCRIPTIONS = 5


def c2d_filter(device_id):
    return "devices/{}/messages/devicebound/#".format(device_id)


def parse_username(username):
    """`{hub}/{deviceId}/?k=v&..` (the `?` may be missing, as in old SDKs) -> (hub, id, params)."""
    if not username:
        return None
    hub, _, rest = username.partition("/")
    dev, sep, query = rest.partition("/")
    if not hub or not dev or not sep:
        return None
    return hub, dev, parse_query(query[1:] if query.startswith("?") else query)


def parse_query(query):
    """`k=v&k2=v2` -> dict, URL-decoded ('+' stays '+', as IoT Hub's encoding is RFC 2396)."""
    out = {}
    for part in query.split("&"):
        if part:
            k, _, v = part.partition("=")
            out[unquote(k)] = unquote(v)
    return out


def parse_bag(bag):
    """Property bag `k=v&k2&k3=` (URL-encoded) -> (system props `$.x`, application props)."""
    system, app = {}, {}
    for part in bag.split("&") if bag else ():
        if not part:
            continue
        k, eq, v = part.partition("=")
        k = unquote(k)
        v = unquote(v) if eq else None
        (system if k.startswith("$.") else app)[k] = v
    return system, app


def topic_query(topic):
    """The `?k=v&..` part of a topic as a dict."""
    return parse_query(topic.partition("?")[2])


class NotFound(Exception):
    status = 404


class Conflict(Exception):
    status = 409


class HubConnection(MqttConnection):
    service = "hub"

    def __init__(self, hub, reader, writer):
        super().__init__(reader, writer, hub.state, hub.log)
        self.hub = hub
        self.device = None
        self.will = None
        self._expiry = None

    def stall_until(self):
        return self.device.stall_until if self.device else 0.0

    def _refuse(self, code, why, device_id=None):
        self.state.events.add("connect_refused", device=device_id or self.client_id, code=code,
                              reason=why, service="hub")
        self.log("hub {}: CONNECT refused with {}: {}".format(device_id or self.peer, code, why))
        return code, False

    def on_connect(self, c):
        st = self.state
        if not c.client_id:
            return self._refuse(m.ID_REJECTED, "empty client id")
        parsed = parse_username(c.username)
        if parsed is None:
            return self._refuse(m.BAD_USER_PASS,
                                "user name is not {hub}/{deviceId}/?api-version=..", c.client_id)
        hub_name, device_id, params = parsed
        if device_id != c.client_id:
            return self._refuse(m.ID_REJECTED, "client id is not the device id", c.client_id)
        try:
            tok = sas.Token((c.password or b"").decode("utf-8"))
        except (UnicodeDecodeError, sas.SasError) as e:
            return self._refuse(m.BAD_USER_PASS, "password: {}".format(e), device_id)
        if hub_name.lower() not in st.hub_aliases:
            return self._refuse(m.NOT_AUTHORIZED, "unknown hub " + hub_name, device_id)
        refuse = st.faults.refuse.get(device_id)
        if refuse:
            refuse[0] -= 1
            if refuse[0] <= 0:
                del st.faults.refuse[device_id]
            return self._refuse(refuse[1], "refuse_connect fault", device_id)
        dev = st.device_for_hub(device_id)
        if dev is None:
            return self._refuse(m.NOT_AUTHORIZED, "device not registered", device_id)
        try:
            tok.check_resource(lambda r: self._resource_ok(r, device_id))
            tok.check_expiry()
            if not tok.signed_by(dev.key):
                raise sas.SasError("signature", "signature does not match the device key")
        except sas.SasError as e:
            return self._refuse(m.NOT_AUTHORIZED, "token: {}".format(e), device_id)

        old = dev.conn
        if old is not None:
            old.close("replaced by a new connection (ConnectionForcefullyClosedOnNewConnection)")
        present = (not c.clean_session) and dev.clean_session is False and dev.ever_connected
        if c.clean_session:
            dev.subscriptions = {}
            dropped = len(dev.c2d)
            dev.c2d = []
            if dropped:
                st.events.add("c2d_dropped", device=device_id, count=dropped,
                              reason="CleanSession=1")
        for msg in dev.c2d:
            msg["inflight"] = None
        dev.conn, self.device = self, dev
        dev.connects += 1
        dev.ever_connected = True
        dev.clean_session = c.clean_session
        dev.model_id = params.get("model-id") or None
        if c.will_topic is not None:
            self.will = (c.will_topic, c.will_message, c.will_qos, c.will_retain)
        delay = max(0.0, tok.expiry - time.time())
        self._expiry = asyncio.get_running_loop().call_later(
            delay, self.close, "SAS token expired (se passed)")
        st.events.add("connected", device=device_id, model_id=dev.model_id,
                      api_version=params.get("api-version"), clean_session=c.clean_session,
                      keepalive=c.keepalive, session_present=present, connects=dev.connects)
        self.log("hub {}: connected (keepalive {} s, clean={}, model-id={})".format(
            device_id, c.keepalive, int(c.clean_session), dev.model_id))
        return m.ACCEPTED, present

    def _resource_ok(self, resource, device_id):
        host, sep, dev = resource.partition("/devices/")
        return bool(sep) and host.lower() in self.state.hub_aliases and dev == device_id

    def after_connack(self):
        asyncio.get_running_loop().call_soon(self.hub.pump_c2d, self.device)

    def on_subscribe(self, pid, subs):
        dev = self.device
        allowed = (c2d_filter(dev.id), TWIN_RES, TWIN_DESIRED, METHODS, STREAMS)
        codes = []
        for f, q in subs:
            if f not in allowed:
                codes.append(m.SUBACK_FAILURE)
                why = "topic filter IoT Hub does not offer"
            elif f not in dev.subscriptions and len(dev.subscriptions) >= MAX_SUBSCRIPTIONS:
                codes.append(m.SUBACK_FAILURE)
                why = "more than {} subscriptions".format(MAX_SUBSCRIPTIONS)
            else:
                dev.subscriptions[f] = min(q, 1)
                codes.append(min(q, 1))
                why = None
            self.state.events.add("subscribed", device=dev.id, topic=f, qos=q, granted=codes[-1],
                                  reason=why)
        if c2d_filter(dev.id) in dev.subscriptions:
            asyncio.get_running_loop().call_soon(self.hub.pump_c2d, dev)
        return codes

    def on_unsubscribe(self, pid, topics):
        for t in topics:
            self.device.subscriptions.pop(t, None)

    def on_puback(self, pid):
        dev = self.device
        for msg in dev.c2d:
            if msg["inflight"] == (self, pid):
                dev.c2d.remove(msg)
                self.state.events.add("c2d_ack", device=dev.id, id=msg["id"],
                                      deliveries=msg["deliveries"])
                return

    def on_publish(self, topic, payload, qos, pid, retain, dup):
        dev = self.device
        events = "devices/{}/messages/events".format(dev.id)
        if topic == events or topic.startswith(events + "/"):
            self.hub.store_telemetry(dev, topic, topic[len(events) + 1:], payload, qos, retain)
        elif topic.startswith("$iothub/twin/GET/"):
            rid = topic_query(topic).get("$rid", "")
            self.reply("$iothub/twin/res/200/?$rid=" + quote(rid, safe=""), json.dumps(dev.twin()))
        elif topic.startswith("$iothub/twin/PATCH/properties/reported/"):
            self._reported(dev, topic_query(topic).get("$rid", ""), payload)
        elif topic.startswith("$iothub/methods/res/"):
            status, _, _ = topic[len("$iothub/methods/res/"):].partition("/")
            try:
                status = int(status)
            except ValueError:
                raise Close("method response status {!r} is not an integer".format(status))
            self.hub.method_response(dev, topic_query(topic).get("$rid", ""), status, payload)
        else:
            raise Close("PUBLISH to a topic IoT Hub does not accept: {!r}".format(topic[:200]))

    def reply(self, topic, payload):
        """A twin response goes out only if the device subscribed to it, as on IoT Hub."""
        if TWIN_RES in self.device.subscriptions:
            self.send(m.publish(topic, payload))
        else:
            self.state.events.add("not_delivered", device=self.device.id, topic=topic,
                                  reason="not subscribed to " + TWIN_RES)

    def _reported(self, dev, rid, payload):
        rid_q = quote(rid, safe="")
        try:
            patch = json.loads(payload)
            if not isinstance(patch, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            self.reply("$iothub/twin/res/400/?$rid=" + rid_q, b"")
            self.state.events.add("reported_rejected", device=dev.id, status=400,
                                  body=payload[:200].decode("utf-8", "replace"))
            return
        patch.pop("$version", None)
        merge_patch(dev.reported, patch)
        dev.reported_version += 1
        self.reply("$iothub/twin/res/204/?$rid={}&$version={}".format(
            rid_q, dev.reported_version), b"")
        self.state.events.add("reported", device=dev.id, patch=patch,
                              version=dev.reported_version)

    def on_closed(self, reason):
        if self._expiry:
            self._expiry.cancel()
        dev = self.device
        if dev is None:
            return
        for msg in dev.c2d:
            if msg["inflight"] and msg["inflight"][0] is self:
                msg["inflight"] = None
        if self.will and not self.disconnected_cleanly:
            topic, message, qos, retain = self.will
            events = "devices/{}/messages/events".format(dev.id)
            if topic == events or topic.startswith(events + "/"):
                self.hub.store_telemetry(dev, topic, topic[len(events) + 1:], message, qos, retain,
                                         extra={"iothub-MessageType": "Will"})
        if dev.conn is self:
            dev.conn = None
        self.hub.fail_methods(self)
        self.state.events.add("disconnected", device=dev.id, reason=reason)


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
            raise NotFound("no such device")
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
            raise NotFound("device is not online (not connected or not subscribed to methods)")
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
            raise Conflict("device has never connected; IoT Hub queues C2D only after that")
        if len(dev.c2d) >= C2D_MAX_PENDING:
            raise Conflict("device queue holds {} messages already".format(C2D_MAX_PENDING))
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
            raise NotFound("device is not connected")
        dev.conn.send(bytes(data))
