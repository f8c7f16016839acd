"""One device's MQTT 3.1.1 connection to the emulated IoT Hub (PROTOCOL.md §3): CONNECT, then
the topics a device publishes to (telemetry, twin, method answers) and subscribes to.

CONNECT checks, in this order, and the CONNACK code each failure gets:
  protocol name/level other than MQTT/4 ............................. 1 (bad protocol)
  empty client id, or client id != deviceId of the user name ......... 2 (identifier rejected)
  an api-version IoT Hub does not know (none at all is accepted) ....... 1 (bad protocol)
  user name not `{hub}/{deviceId}/?api-version=..`, no password,
  password not a SharedAccessSignature token ......................... 4 (bad user/password)
  unknown hub name or device, token for another resource, expired
  token, wrong signature ............................................. 5 (not authorized)
  a `refuse_connect` fault ........................................... the code it names
X.509 (docs/x509.md): no password, and a TLS client certificate. The device must have come
through an X.509 enrollment (or be individually enrolled with thumbprints); the certificate must
match a thumbprint or be issued by the enrollment group's CA, with CN = device id. Else 5, as
IoT Hub refuses at CONNECT (its TLS handshake takes any client certificate). No password and
no certificate: 4, as before.
Device keys come from DPS registrations (and from individual enrollments for devices that never
registered). One live connection per device: a new CONNECT drops the old one. The connection is
closed when the token's `se` passes.
"""

import asyncio
import json
import time
from urllib.parse import quote

from . import mqttcodec as m
from . import certs, sas
from .errors import error_body
from .hubtopics import (METHODS, STREAMS, TWIN_DESIRED, TWIN_RES, c2d_filter,
                        duplicate_system_property, parse_bag, parse_username, topic_query)
from .limits import message_size
from .mqttconn import Close, MqttConnection
from .state import merge_patch

MAX_SUBSCRIPTIONS = 5
# The versions devices are seen using (PROTOCOL.md §3.1) or IoT Hub's MQTT doc once named
# (README: Limits); the user name may also have none.
API_VERSIONS = ("2021-04-12", "2020-09-30", "2019-10-01", "2019-03-30", "2018-06-30",
                "2017-11-08-preview", "2016-11-14")



class HubConnection(MqttConnection):
    service = "hub"

    @property
    def max_packet(self):  # room for a message over the size limit, to refuse it as IoT Hub does
        return max(MqttConnection.max_packet, self.state.limits.d2c_max_bytes + 64 * 1024)

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
        version = params.get("api-version")
        if version is not None and version not in API_VERSIONS:
            return self._refuse(m.BAD_PROTOCOL, "unsupported api-version " + version, device_id)
        der = None if c.password else certs.peer_cert(self.writer)
        tok = None
        if der is None:
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
        if der is not None:
            why = self._check_x509(dev, der)
            if why:
                return self._refuse(m.NOT_AUTHORIZED, "certificate: " + why, device_id)
        else:
            try:
                tok.check_resource(lambda r: self._resource_ok(r, device_id))
                tok.check_expiry()
                if dev.key is None:
                    raise sas.SasError("signature", "the device authenticates with X.509")
                if not tok.signed_by(dev.key):
                    raise sas.SasError("signature", "signature does not match the device key")
            except sas.SasError as e:
                return self._refuse(m.NOT_AUTHORIZED, "token: {}".format(e), device_id)

        relay = getattr(self.writer, "relay", None)  # counting this connection's bytes
        if relay and device_id in st.faults.cut_device:
            cut = st.faults.take_cut(device_id)
            relay.arm(cut.get("received"), cut.get("sent"))
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
        if tok is not None:
            delay = max(0.0, tok.expiry - time.time())
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self.close, "SAS token expired (se passed)")
        st.events.add("connected", device=device_id, model_id=dev.model_id,
                      api_version=params.get("api-version"), clean_session=c.clean_session,
                      keepalive=c.keepalive, session_present=present, connects=dev.connects,
                      auth="x509" if der is not None else "sas")
        self.log("hub {}: connected (keepalive {} s, clean={}, model-id={})".format(
            device_id, c.keepalive, int(c.clean_session), dev.model_id))
        return m.ACCEPTED, present

    def _check_x509(self, dev, der):
        """-> None when the certificate authenticates the device, else why not."""
        if dev.x509 is None:
            return "the device authenticates with a SAS token, not a certificate"
        cas, prints = dev.x509
        try:
            cert, _ = certs.check_device(der, cas, prints)
        except ValueError as e:
            return str(e)
        cn = certs.common_name(cert)
        if cn != dev.id:
            return "subject CN {} is not the device id {}".format(cn, dev.id)
        return None

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
            return self._telemetry(dev, topic, topic[len(events) + 1:], payload, qos, retain)
        elif topic.startswith("$iothub/twin/GET/"):
            rid = quote(topic_query(topic).get("$rid", ""), safe="")
            status = self.state.faults.take_twin_status(dev.id)
            if status is None:
                self.reply("$iothub/twin/res/200/?$rid=" + rid, json.dumps(dev.twin()))
            else:  # a twin_status fault
                self.reply("$iothub/twin/res/{}/?$rid={}".format(status, rid),
                           json.dumps({"message": "twin_status fault", "status": status}))
        elif topic.startswith("$iothub/twin/PATCH/properties/reported/"):
            self._reported(dev, topic_query(topic).get("$rid", ""), payload)
        elif topic.startswith("$iothub/methods/res/"):
            status, _, _ = topic[len("$iothub/methods/res/"):].partition("/")
            try:
                status = int(status)
            except ValueError:
                raise Close("method response status {!r} is not an integer".format(status))
            self.hub.methods.response(dev, topic_query(topic).get("$rid", ""), status, payload)
        else:
            raise Close("PUBLISH to a topic IoT Hub does not accept: {!r}".format(topic[:200]))

    def _telemetry(self, dev, topic, bag, payload, qos, retain):
        """Store a device-to-cloud message -> seconds to hold its PUBACK back (traffic shaping),
        or None. What IoT Hub does not take closes the connection, as it does: MQTT 3.1.1 has
        no way to refuse one PUBLISH."""
        lim = self.state.limits
        dup = duplicate_system_property(bag)
        if dup:
            raise Close("telemetry names the system property {} twice".format(dup))
        size = message_size(payload, *parse_bag(bag))
        if size > lim.d2c_max_bytes:
            raise Close("MessageTooLarge: a {} byte message, over the {} allowed".format(
                size, lim.d2c_max_bytes))
        wait = self.hub.d2c.admit(lim.d2c_per_s, lim.d2c_burst, lim.d2c_backlog)
        if wait is None:
            raise Close("ThrottleBacklogLimitExceeded (429002): more than {} messages waiting "
                        "at {} a second".format(lim.d2c_backlog, lim.d2c_per_s))
        if not wait:
            self.hub.store_telemetry(dev, topic, bag, payload, qos, retain)
            return None

        def later():
            self.hub.d2c.done()
            self.hub.store_telemetry(dev, topic, bag, payload, qos, retain)

        asyncio.get_running_loop().call_later(wait, later)
        return wait

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
        except (ValueError, UnicodeDecodeError, RecursionError):  # too deep to parse: refused
            self.reply("$iothub/twin/res/400/?$rid=" + rid_q, b"")
            self.state.events.add("reported_rejected", device=dev.id, status=400,
                                  body=payload[:200].decode("utf-8", "replace"))
            return
        patch.pop("$version", None)
        refused = self.hub.twin_refusal(dev.reported, patch, "reported")
        if refused:
            code, message = refused
            self.reply("$iothub/twin/res/{}/?$rid={}".format(code // 1000, rid_q),
                       json.dumps(error_body(code, message)))
            self.state.events.add("reported_rejected", device=dev.id, status=code // 1000,
                                  code=code, message=message)
            return
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
        self.hub.methods.fail(self)
        self.state.events.add("disconnected", device=dev.id, reason=reason)
