# iotc client: the IoT Central session (connect, listen, send) on top of the pure protocol
# MIT license; Copyright (c) 2026 the iotc authors

import json
import time

from micropython import const

from iotc import IoTCConnectType, IoTCError, proto, sas
from iotc.errors import AuthError
from iotc.inbox import on_publish

_PROPERTIES = const(1)
_COMMANDS = const(2)
_ENQUEUED = const(3)
_CONNECTION = const(4)
_SENT = const(5)
_TWIN = const(6)

_TWIN_TIMEOUT_MS = const(10000)
_ACK_TIMEOUT_MS = const(10000)  # republish a QoS 1 message not acknowledged by then
_MAX_INFLIGHT = const(16)
_MAX_QUEUED = const(32)  # messages kept while offline
_MAX_HUB_FAILURES = const(10)  # then provision again (PROTOCOL.md §6)
_BACKOFF_MAX_MS = const(60000)
_DRAIN = const(8)  # packets handled per listen() call


class Command:
    def __init__(self, name, value, component_name, request_id):
        self.name = name
        self.value = value
        self.component_name = component_name
        self.request_id = request_id
        self.acked = False

    @property
    def payload(self):
        return self.value


def _check_id(device_id):
    ok = 0 < len(device_id) <= 128
    for c in device_id:
        if not (c.isalpha() or c.isdigit() or c in "-._:") or ord(c) > 127:
            ok = False
    if not ok or device_id[0] in "-._:" or device_id[-1] in "-._:":
        raise IoTCError("device_id: use 1-128 ASCII letters, digits and - . _ : inside")


class IoTCClient:
    def __init__(self, id_scope, device_id, credentials_type, credentials, logger=None,
                 storage=None, endpoint=None, ca_file=None, verify=True, qos=0,
                 token_ttl=21600, keepalive=120):
        if not id_scope or not isinstance(id_scope, str):
            raise IoTCError("id_scope is empty")
        _check_id(device_id)
        if credentials_type == IoTCConnectType.SYMM_KEY:
            self._key = sas.derive_device_key(credentials, device_id)
        elif credentials_type == IoTCConnectType.DEVICE_KEY:
            sas.decode_key(credentials)
            self._key = credentials
        else:
            raise IoTCError("credentials_type: use IoTCConnectType.SYMM_KEY or DEVICE_KEY")
        if qos not in (0, 1):
            raise IoTCError("qos: 0 or 1")
        from iotc.tls import Trust

        self._trust = Trust(ca_file, verify)
        if logger is None:
            from iotc.log import ConsoleLogger

            logger = ConsoleLogger()
        self._log = logger
        self._scope = id_scope
        self._reg_id = device_id
        self._storage = storage
        self._endpoint = endpoint or "global.azure-devices-provisioning.net"
        self._qos = qos
        self._ttl = token_ttl
        self._keepalive = keepalive
        self._model_id = None
        self._ct = "application/json"
        self._ce = "utf-8"
        self._events = {}
        self._assigned = None  # (hub, device id) from DPS or the storage
        self._link = None
        self._twin = None
        self._pid = 0
        self._rid = 0
        self._inflight = {}  # pid -> [PUBLISH packet, ticks sent]
        self._reported = {}  # rid -> patch, until the hub answers 204
        self._queue = []  # (topic, payload, qos) accepted while offline
        self._failures = 0
        self._retry_at = None

    # -- settings ----------------------------------------------------------------------------
    def set_model_id(self, model_id):
        self._model_id = model_id

    def set_content_type(self, content_type):
        self._ct = content_type

    def set_content_encoding(self, content_encoding):
        self._ce = content_encoding

    def set_log_level(self, log_level):
        self._log.set_log_level(log_level)

    def set_qos(self, qos):
        self._qos = qos

    def on(self, event, callback):
        self._events[event] = callback

    def is_connected(self):
        return self._link is not None

    def get_twin(self):
        return self._twin

    # -- connection --------------------------------------------------------------------------
    def connect(self, force_dps=False):
        cached = False
        if self._assigned is None and self._storage and not force_dps:
            c = self._storage.retrieve()
            if c is not None:
                self._assigned = (c.host, c.device_id)
        if force_dps or self._assigned is None:
            self._provision()
        else:
            cached = True
        try:
            self._open()
        except AuthError:
            if not cached:
                raise
            self._log.info("hub refused the cached assignment; provisioning again")
            self._provision()
            self._open()

    def disconnect(self):
        self._retry_at = None
        if self._link:
            self._link.close()
            self._link = None
            self._emit(_CONNECTION, False, "disconnect() called")

    def _provision(self):
        from iotc import dps

        self._log.info("provisioning {} through {}", self._reg_id, self._endpoint)
        try:
            hub, dev = dps.register(self._endpoint, self._scope, self._reg_id, self._key,
                                    self._model_id, self._trust, self._log)
        finally:
            del dps
            import sys

            sys.modules.pop("iotc.dps", None)  # free it: provisioning runs once in a while
        self._assigned = (hub, dev)
        self._failures = 0
        if self._storage:
            from iotc.store import Credentials

            self._storage.persist(Credentials(hub, dev))

    def _open(self):
        from iotc import mqtt

        hub, dev = self._assigned
        host, _, port = hub.partition(":")
        self._log.info("connecting to {} as {}", hub, dev)
        link = mqtt.connect(
            host, int(port or 8883), dev, proto.hub_username(hub, dev, self._model_id),
            sas.token("{}/devices/{}".format(hub, dev), self._key, sas.unix_time() + self._ttl),
            self._keepalive, self._trust)
        self._renew_at = time.ticks_add(time.ticks_ms(), max(self._ttl - 300, self._ttl // 2) * 1000)
        self._link = link
        self._c2d_prefix = "devices/{}/messages/devicebound/".format(dev)
        topic = proto.telemetry_topic(dev, self._ct, self._ce)
        self._topic_str = topic
        self._topic = topic.encode()
        try:
            link.subscribe((proto.SUB_METHODS.encode(), proto.SUB_TWIN_RES.encode(),
                            proto.SUB_DESIRED.encode(), proto.c2d_filter(dev).encode()),
                           self._next_pid())
            self._twin_rid = str(self._next_rid())
            link.publish(proto.twin_get_topic(self._twin_rid).encode(), b"")
            t0 = time.ticks_ms()
            while self._twin_rid is not None:
                if time.ticks_diff(time.ticks_ms(), t0) > _TWIN_TIMEOUT_MS:
                    raise OSError("no twin from the hub")
                if not self._handle(link.poll()):
                    time.sleep_ms(2)
        except OSError:
            self._link = None
            link.close()
            raise
        self._failures = 0
        self._retry_at = None
        self._emit(_CONNECTION, True, "connected")
        if self._twin is not None:
            self._sync_desired(self._twin)
        self._resend()

    def _resend(self):
        # After a (re)connect: what the hub never acknowledged, then what waited offline.
        link = self._link
        for entry in self._inflight.values():
            link.republish(entry[0])
            entry[1] = time.ticks_ms()
        for rid in list(self._reported):
            self._send_reported(rid)
        queue, self._queue = self._queue, []
        for topic, payload, qos in queue:
            if self._link is None:
                self._queue.append((topic, payload, qos))
            else:
                self._publish(topic, payload, qos)

    def _lost(self, reason):
        if self._link:
            self._link.close()
            self._link = None
        self._failures += 1
        # 0 s for the first retry after a working link, then 1, 2, 4 ... 60 s, plus jitter.
        delay = 0 if self._failures == 1 else min(1000 << min(self._failures - 2, 6),
                                                  _BACKOFF_MAX_MS)
        delay += time.ticks_us() % (delay // 4 + 1)
        self._retry_at = time.ticks_add(time.ticks_ms(), delay)
        self._log.info("connection lost ({}); retrying in {} ms", reason, delay)
        self._emit(_CONNECTION, False, str(reason))

    def _reconnect(self):
        self._retry_at = None
        try:
            if self._failures >= _MAX_HUB_FAILURES:
                self._log.info("{} failed attempts: provisioning again", self._failures)
                self._provision()
            self._open()
        except AuthError as e:
            self._failures = max(self._failures, _MAX_HUB_FAILURES - 1)  # next: DPS
            self._lost(e)
        except (OSError, IoTCError) as e:
            self._lost(e)

    # -- the loop ----------------------------------------------------------------------------
    def listen(self):
        # Never blocks: handles what is pending, keeps the link alive, heals it when lost.
        link = self._link
        if link is None:
            if self._retry_at is not None and time.ticks_diff(time.ticks_ms(), self._retry_at) >= 0:
                self._reconnect()
            return
        try:
            for _ in range(_DRAIN):
                if not self._handle(link.poll()):
                    break
            now = time.ticks_ms()
            if self._inflight:
                for entry in self._inflight.values():
                    if time.ticks_diff(now, entry[1]) > _ACK_TIMEOUT_MS:
                        link.republish(entry[0])
                        entry[1] = now
            if self._keepalive and time.ticks_diff(now, link.last_tx) > self._keepalive * 500:
                link.ping()
            if time.ticks_diff(now, self._renew_at) >= 0:
                self._log.info("renewing the SAS token")
                link.close()
                self._link = None
                self._reconnect()
        except OSError as e:
            self._lost(e)

    def _handle(self, packet):
        if packet is None:
            return False
        op, body = packet
        kind = op & 0xF0
        if kind == 0x30:
            on_publish(self, op, body)
        elif kind == 0x40:
            pid = body[0] << 8 | body[1]
            if self._inflight.pop(pid, None):
                self._emit(_SENT, "telemetry", pid)
        elif kind == 0x90:
            if 0x80 in body[2:]:
                self._log.info("the hub refused a subscription")
        return True

    # -- sending -----------------------------------------------------------------------------
    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _next_rid(self):
        self._rid += 1
        return self._rid

    def send_telemetry(self, payload, properties=None, component=None):
        topic = self._topic
        if properties or component:
            extra = dict(properties) if properties else {}
            if component:
                extra["$.sub"] = component
            topic = "{}{}{}".format(self._topic_str, "&" if "=" in self._topic_str else "",
                                    proto.property_bag(extra)).encode()
        return self._publish(topic, payload, self._qos)

    def _publish(self, topic, payload, qos):
        link = self._link
        if link is None:
            if len(self._queue) >= _MAX_QUEUED:
                raise IoTCError("offline and the send queue is full")
            if not isinstance(payload, (bytes, str)):
                payload = json.dumps(payload)
            self._queue.append((topic, payload, qos))
            return 0
        try:
            if qos:
                while len(self._inflight) >= _MAX_INFLIGHT:
                    if not self._handle(link.poll()):
                        time.sleep_ms(1)
                pid = self._next_pid()
                self._inflight[pid] = [link.publish(topic, payload, 1, pid), time.ticks_ms()]
                return pid
            link.publish(topic, payload)
            self._emit(_SENT, "telemetry", 0)
        except OSError as e:
            if not isinstance(payload, (bytes, str)):
                payload = json.dumps(payload)
            self._queue.append((topic, payload, qos))
            self._lost(e)
        return 0

    def send_property(self, payload):
        rid = self._next_rid()
        self._reported[rid] = payload
        if self._link is not None:
            try:
                self._send_reported(rid)
            except OSError as e:
                self._lost(e)
        return rid

    def _send_reported(self, rid):
        self._link.publish(proto.reported_topic(rid).encode(), self._reported[rid])

    def _emit(self, event, a, b):
        cb = self._events.get(event)
        if cb is not None:
            try:
                cb(a, b)
            except Exception as e:
                self._log.info("event callback failed: {!r}", e)

    # -- properties --------------------------------------------------------------------------
    def _sync_desired(self, twin):
        # Startup sync: hand over each desired property newer than what was acknowledged.
        desired = twin.get("desired") or {}
        reported = twin.get("reported") or {}
        version = desired.get("$version", 0)
        for comp, name, value in proto.desired_items(desired):
            if proto.reported_version(reported, comp, name) < version:
                self._property(comp, name, value, version)

    def _property(self, comp, name, value, version):
        cb = self._events.get(_PROPERTIES)
        status, desc = 200, "completed"
        if cb is not None:
            try:
                ret = cb(name, value, comp)
            except Exception as e:
                self._log.info("property callback failed: {!r}", e)
                ret, status, desc = value, 500, "device error: {}".format(e)
            if ret is None or ret is False:
                return
            if ret is not True:
                value = ret
        self.send_property(proto.ack(comp, name, value, version, status, desc))
