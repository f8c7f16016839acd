# iotc client: the part of the session that stays in RAM: listen, send, heal. Setting up
# (iotc.config), connecting (a chain of phases from iotc.connect, provisioning included),
# handling a message (iotc.inbox) and the errors of a refusal (iotc.errors) load only when
# needed.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc import IoTCError, _forget, _phase

# QoS 1 messages unacknowledged at once: a fault can cost at most this many duplicates (IoT
# Central counts and bills them), and 2 keep up with its 10 messages/s a device at 200 ms RTT.
_MAX_INFLIGHT = const(2)
_MAX_QUEUED = const(32)  # messages kept while offline, and reported patches unanswered
_DRAIN = const(8)  # packets handled per listen() call
_WINDOW_MS = const(10000)  # nothing read this long with the window full: the link is dead
_ETIMEDOUT = const(110)  # a number, not a text: a text would stay in RAM with this module


class IoTCClient:
    # Reconnect backoff (iotc.offline): RETRY_MS doubling up to RETRY_MAX_MS, with jitter
    # (Azure's 1 s and 100 s, PROTOCOL.md §6). While healing, DPS is asked at most once each
    # 12 x RETRY_MAX_MS, 20 minutes (registrations are billed and throttled; iotc.dps).
    RETRY_MS = 1000
    RETRY_MAX_MS = 100000

    def __init__(self, *args, **kw):
        # IoTCClient(id_scope, device_id, credentials_type, credentials, logger=None,
        # storage=None, endpoint=None, ca_file=None, verify=True, qos=0, token_ttl=21600,
        # keepalive=120, relay=None). iotc.config checks these and sets every attribute of the
        # client; it loads for this and is freed after, so its code and texts do not stay in RAM.
        from iotc.config import run

        run(self, *args, **kw)
        _forget("config", "sas", "topics")

    def set_model_id(self, model_id):
        self.model_id = model_id

    def set_content_type(self, content_type):
        self.content_type = content_type

    def set_content_encoding(self, content_encoding):
        self.content_encoding = content_encoding

    def set_log_level(self, log_level):
        if self.logger is None:
            self.log_level = log_level
        else:
            self.logger.set_log_level(log_level)

    def on(self, event, callback):
        self._events[event] = callback

    def is_connected(self, link=False):
        # True from connect() to disconnect(), healing included (micropython-iotc's loop
        # `while client.is_connected():` goes on through a dropped link); link=True: the link
        # is up right now.
        return self._link is not None or not link and self._due is not None

    def get_twin(self):
        return self._twin

    def connect(self, force_dps=False):
        # Blocks until connected: DPS if needed (waiting as long as DPS asks), CONNECT,
        # subscriptions, twin. Raises IoTCError (AuthError, ProvisioningError) or OSError.
        # listen() reconnects with force_dps=None: failures are then retried, not raised.
        if self._link is not None:  # connecting again: the current session ends first
            self._link.close()
            self._link = None
        # The link's code loads again after CONNECT, and this connect fetches the twin again:
        # a reconnect's phases have the heap of both.
        _forget("link")
        self._twin = None
        step = ("connect", force_dps)
        try:
            while step:  # each phase's module is freed before the next one loads
                step = _phase(self, *step)
        except (OSError, IoTCError) as e:
            if force_dps is not None:
                raise
            self._lost(e)

    def disconnect(self):
        self._lost(None)

    def _lost(self, reason):
        # The link broke (reason: what broke it), or disconnect() (None). The link is closed
        # here, so its heap is back before iotc.offline loads to schedule what comes next;
        # should it fail to load, the next listen() reconnects at once.
        link = self._link
        self._link = None
        if link:
            link.close()
        self._due = time.ticks_ms()
        _phase(self, "offline", reason, link is not None)

    def listen(self):
        # Never blocks when idle: handles what is pending, keeps the link alive, heals it.
        link = self._link
        if link is None:
            if self._due is not None and time.ticks_diff(time.ticks_ms(), self._due) >= 0:
                self._due = None
                self.connect(None)
            return
        try:
            for _ in range(_DRAIN):
                if not self._handle(link.poll()):
                    break
            for tick in self._events.get(9, ()):  # the extras' (iotc.hooks)
                tick()
            now = time.ticks_ms()
            half = self.keepalive * 500
            if time.ticks_diff(now, link.last_rx) > 3 * half:
                raise OSError(_ETIMEDOUT)  # pinged all along, nothing came back: half-open
            if time.ticks_diff(now, link.pinged) > half:
                link.write(b"\xc0\x00", 2)  # PINGREQ; any packet back proves the link
                link.pinged = now
            if time.ticks_diff(now, self._due) >= 0:
                self._log("renewing the SAS token")
                link = None  # connect() ends this session; no reference here may keep it
                self.connect(None)
        except OSError as e:
            self._lost(e)

    def _handle(self, packet):
        if packet is None:
            return False
        op, body = packet
        kind = op & 0xF0
        if kind == 0x30:  # a PUBLISH: iotc.inbox loads for it and is freed after
            _phase(self, "inbox", op, body)
        elif kind == 0x40 and body:
            pid = body[0] << 8 | body[1]
            if self._inflight.pop(pid, None):
                self._emit(5, "telemetry", pid)  # IoTCEvents.MESSAGE_SENT
        elif kind == 0x90 and body:
            for code in body[2:]:
                if code == 0x80:
                    self._log("the hub refused a subscription")
        return True

    def send_telemetry(self, payload, properties=None, component=None):
        # payload: dict (sent as JSON) or str/bytes. Returns the packet id for QoS 1, else 0.
        topic = self._topic
        if topic is None:
            raise IoTCError("call connect() first")
        gate = self._events.get(7)  # an extra's (iotc.hooks): a send time, or None to hold it
        if gate is not None:
            payload = gate(payload, properties, component)
            if payload is None:
                return 0
        if properties or component:
            from iotc.topics import telemetry_topic

            dev = topic.split(b"/", 2)[1].decode()  # as the session named it
            topic = telemetry_topic(dev, self.content_type, self.content_encoding, properties,
                                    component).encode()
        return self._publish(topic, payload, self.qos)

    def _publish(self, topic, payload, qos):
        link = self._link
        spill = self._events.get(8)  # an extra's (iotc.hooks): True when it took the message
        if spill is not None and spill(topic, payload, qos, link is None):
            return 0
        try:
            if link is None:
                raise OSError("offline")
            if qos:
                # The window is full: wait for a PUBACK, while the link lives (nothing read for
                # 10 s, or for 1.5x keepalive as listen() has it: dead).
                limit = min(_WINDOW_MS, self.keepalive * 1500)
                while len(self._inflight) >= _MAX_INFLIGHT:
                    if not self._handle(link.poll()):
                        if time.ticks_diff(time.ticks_ms(), link.last_rx) > limit:
                            raise OSError(_ETIMEDOUT)
                        time.sleep_ms(1)
                pid = self._id = self._id % 65535 + 1  # packet ids (and $rid): 1..65535
                self._inflight[pid] = link.publish(topic, payload, 1, pid)
                return pid
            link.publish(topic, payload)
            self._emit(5, "telemetry", 0)
        except OSError as e:
            # Kept and sent after the reconnect, so nothing is lost to a dropped link. Full: the
            # oldest message makes room when both are QoS 0 (at most once), so a loop that
            # sends through a long outage goes on; a QoS 1 message is never dropped.
            if spill is None or not spill(topic, payload, qos, True):
                queue = self._queue
                if len(queue) >= _MAX_QUEUED:
                    if qos or queue[0][2]:
                        raise IoTCError("offline and the send queue is full")
                    queue.pop(0)
                if not isinstance(payload, (bytes, str)):
                    import json

                    payload = json.dumps(payload)
                queue.append((topic, payload, qos))
            if link is not None:
                self._lost(e)
        return 0

    def send_property(self, payload):
        # Reported properties; kept until the hub answers 204, resent after a reconnect, in
        # order. Made JSON now, so what cannot be sent (a value too deep for the board's stack:
        # RuntimeError) is refused here, never kept to fail again at each reconnect.
        if self._link is None and len(self._reported) >= _MAX_QUEUED:
            raise IoTCError("offline and the send queue is full")
        if not isinstance(payload, (bytes, str)):
            import json

            payload = json.dumps(payload)
        rid = self._id = self._id % 65535 + 1
        self._reported[rid] = payload
        if self._link is not None:
            try:
                self._send_reported(rid)
            except OSError as e:
                self._lost(e)
        return rid

    def _send_reported(self, rid):
        topic = "$iothub/twin/PATCH/properties/reported/?$rid={}".format(rid)
        self._link.publish(topic.encode(), self._reported[rid])

    def _log(self, message, *args):
        # Through the logger given to IoTCClient (one argument, the line: micropython-iotc's
        # loggers take no more), else print() (a ConsoleLogger's lines, with no object for it).
        if args:
            message = message.format(*args)
        if self.logger is not None:
            self.logger.info(message)
        elif self.log_level != 1:  # IoTCLogLevel.DISABLED
            print("[iotc]", message)

    def _emit(self, event, value, data):
        cb = self._events.get(event)
        if cb is not None:
            try:
                cb(value, data)
            except Exception as e:
                self._log("event callback failed: {!r}", e)

