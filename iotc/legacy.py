# iotc legacy: the camelCase API of the old `iotc` SDK (0.3.x: Device, IOTConnectType, on(...),
# doNext()), as a thin layer over IoTCClient: the protocol is the core's, never done again here.
# Loaded only by code that names one of its names (`iotc.Device`, via iotc.more); shipped in
# the iotc-legacy package. docs/legacy.md says what maps to what.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import time

from iotc import IoTCError
from iotc.client import IoTCClient


class IOTConnectType:
    IOTC_CONNECT_SYMM_KEY = 1  # group key
    IOTC_CONNECT_X509_CERT = 2  # {"keyfile": path, "certfile": path}
    IOTC_CONNECT_DEVICE_KEY = 3


class IOTLogLevel:
    IOTC_LOGGING_DISABLED = 1
    IOTC_LOGGING_API_ONLY = 2
    IOTC_LOGGING_ALL = 16


class IOTQosLevel:
    IOTC_QOS_AT_MOST_ONCE = 0
    IOTC_QOS_AT_LEAST_ONCE = 1


# The old credential types -> IoTCConnectType's (SYMM_KEY 1, DEVICE_KEY 2, X509_CERT 3).
_CRED = {1: 1, 2: 3, 3: 2}
# The names on() takes (every one the 0.3.x versions and their samples used). The four
# property names share one slot: a writable property goes to whichever was registered last.
_PROPS = ("SettingsUpdated", "Properties", "PropertiesUpdated", "Updated")
_EVENTS = ("ConnectionStatus", "MessageSent", "Command", "EnqueuedCommand") + _PROPS
# sendCommandUpdate's message properties (an asynchronous command's result).
_UPDATE = ("iothub-command-name", "iothub-command-request-id", "iothub-command-statuscode",
           "iothub-interface-name")


class IOTCallbackInfo:
    # The one argument of every callback. setResponse() answers a command (code, message) or
    # sets a writable property's acknowledgement (ac, ad).
    def __init__(self, client, eventName, payload, interface, tag, status, msgid):
        self._client = client
        self._eventName = eventName
        self._payload = payload
        self._interface = interface
        self._tag = tag
        self._status = status
        self._msgid = msgid
        self._responseCode = None
        self._responseMessage = None

    def setResponse(self, responseCode, responseMessage):
        self._responseCode = responseCode
        self._responseMessage = responseMessage

    def getResponseCode(self):
        return self._responseCode

    def getResponseMessage(self):
        return self._responseMessage

    def getClient(self):
        return self._client

    def getEventName(self):
        return self._eventName

    def getPayload(self):
        return self._payload

    def getInterface(self):
        return self._interface

    def getTag(self):
        return self._tag

    def getStatusCode(self):
        return self._status

    def getMessageId(self):
        return self._msgid


class _Core(IoTCClient):
    # The core client, with one addition: the acknowledgement of a writable property carries the
    # code and message its callback set with setResponse() (the core acks 200 "completed").
    _reply = None

    def send_property(self, payload):
        r = self._reply
        if r is not None and isinstance(payload, dict):
            self._reply = None
            for entry in payload.values():  # {name: ack} or {component: {"__t": "c", name: ack}}
                if "__t" in entry:
                    entry = [v for k, v in entry.items() if k != "__t"][0]
                entry["ac"], entry["ad"] = r
        return IoTCClient.send_property(self, payload)


class Device:
    def __init__(self, scopeId, keyORCert, deviceId, credType):
        if credType not in _CRED:
            raise ValueError("credType: an IOTConnectType")
        self._scopeId = scopeId
        self._key = keyORCert  # X.509: the {"keyfile", "certfile"} dict, passed on as it is
        self._deviceId = deviceId
        self._credType = _CRED[credType]
        self._client = None  # the core client, made by the first connect()
        self._up = False  # connected, as isConnected() tells it (see there)
        self._events = {}
        self._props = None  # (event name, callback) of the property names
        self._sent = {}  # packet or request id -> payload, for MessageSent
        self._payload = None  # what a QoS 0 send is sending now
        self._logLevel = 1  # the old SDK's default: IOTC_LOGGING_DISABLED
        self._endpoint = None
        self._caFile = None
        self._verify = True
        self._qos = 0
        self._ttl = 21600
        self._model = None
        self._interfaces = None
        self._exitOnError = False
        self._cleanSession = True

    # -- settings (0 done, 1 refused, as the old SDK answered) --

    def _log(self, message):
        if self._logLevel > 1:
            print("[iotc]", message)

    def setLogLevel(self, logLevel):
        if logLevel not in (1, 2, 16):
            self._log("setLogLevel: an IOTLogLevel")
            return 1
        self._logLevel = logLevel
        if self._client is not None:
            self._client.set_log_level(3 if logLevel == 16 else logLevel)
        return 0

    def setExitOnError(self, isEnabled):
        # Recorded only: this library never ends the program. A dropped link is healed inside
        # doNext() and reported by "ConnectionStatus" (status 1, then 0 when back); an
        # application that wants to stop then calls disconnect() from that callback.
        self._exitOnError = bool(isEnabled)
        return 0

    def setCleanSession(self, isEnabled):
        # Recorded only: the core asks the hub to keep the session (queued offline commands)
        # and subscribes again at every connect.
        self._cleanSession = bool(isEnabled)
        return 0

    def _before(self, what):
        if self._client is not None:
            self._log(what + " should be called before connect()")
            return True
        return False

    def setModelData(self, data):
        # {"iotcModelId": id} (0.3.x), {"modelId": id} or the id itself: the device's model id.
        if self._before("setModelData"):
            return 1
        if isinstance(data, dict):
            data = data.get("iotcModelId") or data.get("modelId")
        if not isinstance(data, str):
            self._log("setModelData: no model id in it")
            return 1
        self._model = data
        return 0

    def setInterfaces(self, interfaces):
        # Kept for getInterfaces(); IoT Central's preview capability report is no more, so
        # nothing is sent: the model id (setModelData) names the device's interfaces.
        try:
            json.dumps(interfaces)
        except (TypeError, ValueError):
            self._log("setInterfaces: not a JSON object")
            return 1
        self._interfaces = interfaces
        return 0

    def getInterfaces(self):
        return self._interfaces

    def setTokenExpiration(self, totalSeconds):
        if not isinstance(totalSeconds, int) or not 5 <= totalSeconds <= 31536000:
            self._log("setTokenExpiration: 5 s to 365 days")
            return 1
        self._ttl = totalSeconds
        if self._client is not None:
            self._client.token_ttl = totalSeconds  # from the next token on
        return 0

    def setServiceHost(self, url):
        # The DPS endpoint, "host" or "host:port" (the README's name for setDPSEndpoint).
        if self._before("setServiceHost"):
            return 1
        self._endpoint = url
        return 0

    def setDPSEndpoint(self, endpoint):
        return self.setServiceHost(endpoint)

    def setCAFile(self, path):
        # Ours, not the old SDK's: a PEM or DER file to trust instead of the bundled Azure roots
        # (a local emulator or gateway). None: the bundled roots.
        if self._before("setCAFile"):
            return 1
        self._caFile = path
        return 0

    def setSSLVerification(self, isEnabled):
        if self._before("setSSLVerification"):
            return 1
        self._verify = bool(isEnabled)
        return 0

    def setQosLevel(self, qosLevel):
        if qosLevel not in (0, 1):
            self._log("setQosLevel: 0 (at most once) or 1 (at least once)")
            return 1
        self._qos = qosLevel
        if self._client is not None:
            self._client.qos = qosLevel
        return 0

    def on(self, eventName, callback):
        if eventName not in _EVENTS:
            raise ValueError("unknown event {!r}; the events are: {}".format(
                eventName, ", ".join(_EVENTS)))
        if eventName in _PROPS:
            self._props = (eventName, callback)
        else:
            self._events[eventName] = callback
        return 0

    # -- the connection --

    def _make(self):
        c = _Core(self._scopeId, self._deviceId, self._credType, self._key,
                  endpoint=self._endpoint, ca_file=self._caFile, verify=self._verify,
                  qos=self._qos, token_ttl=self._ttl)
        c.set_log_level(3 if self._logLevel == 16 else self._logLevel)
        if self._model:
            c.set_model_id(self._model)
        c.on(1, self._onProperty)  # IoTCEvents.PROPERTIES
        c.on(2, self._onCommand)  # IoTCEvents.COMMANDS
        c.on(3, self._onEnqueued)  # IoTCEvents.ENQUEUED_COMMANDS
        c.on(4, self._onConnection)  # IoTCEvents.CONNECTION
        c.on(5, self._onSent)  # IoTCEvents.MESSAGE_SENT
        return c

    def connect(self, hostName=None):
        # Blocks until connected (DPS, or hostName: that hub, skipping DPS). 0 connected, 1 not
        # (the reason is logged unless the log level is IOTC_LOGGING_DISABLED).
        try:
            if self._client is None:
                self._client = self._make()
            if hostName:
                self._client._assigned = (hostName, self._deviceId)
            self._client.connect()
            return 0
        except (IoTCError, OSError, ValueError) as e:
            self._up = False
            self._log("connect failed: {!r}".format(e))
            return 1

    def isConnected(self):
        # True from a successful connect() until disconnect(): a dropped link is healed inside
        # doNext() meanwhile (sends are queued), so `while device.isConnected()` keeps going.
        return self._up

    def doNext(self, idleTime=1):
        # Does the client's work (incoming messages, keepalive, healing a dropped link) for
        # idleTime seconds, as the old SDK's check_msg() plus sleep did.
        c = self._client
        if c is None or not self._up:
            return
        end = time.ticks_add(time.ticks_ms(), int(idleTime * 1000))
        while True:
            c.listen()
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0 or not self._up:
                return
            time.sleep_ms(min(left, 20))

    def disconnect(self):
        if not self._up:
            return None
        self._up = False
        self._client.disconnect()
        self._fire("ConnectionStatus", None, None, None, 0)
        return 0

    def getHostName(self):
        a = self._client and self._client._assigned
        return a[0] if a else None

    def getDeviceProperties(self):
        # Hands each desired property of the twin fetched at the last connect to the property
        # callback again (no acknowledgement: they were acknowledged when they came).
        c = self._client
        if not self._up or not c.get_twin() or self._props is None:
            return 0 if self._up else 1
        from iotc.desired import desired_items

        for comp, name, value in desired_items(c.get_twin().get("desired") or {}):
            self._property(name, value, comp)
        return 0

    def getDeviceSettings(self):
        return self.getDeviceProperties()

    # -- sending: 0 sent (or queued while the link heals), 1 not --

    def _send(self, fn, *args):
        try:
            return fn(*args)
        except (IoTCError, OSError, TypeError, ValueError, RuntimeError) as e:
            self._log("send failed: {!r}".format(e))
            return None

    def sendTelemetry(self, data, systemProperties=None):
        if self._client is None:
            self._log("call connect() first")
            return 1
        self._payload = data
        pid = self._send(self._client.send_telemetry, data, systemProperties)
        self._payload = None
        if pid is None:
            return 1
        if pid:  # QoS 1: MessageSent comes with its PUBACK
            self._keep(pid, data)
        return 0

    def sendState(self, data):
        return self.sendTelemetry(data)

    def sendEvent(self, data):
        return self.sendTelemetry(data)

    def sendProperty(self, data):
        if self._client is None:
            self._log("call connect() first")
            return 1
        rid = self._send(self._client.send_property, data)
        if rid is None:
            return 1
        self._keep(rid, data)  # MessageSent when the hub has taken it
        return 0

    def sendCommandUpdate(self, interface_name, command_name, request_id, status_code, data):
        # An asynchronous command's result, as a message: data (text, or made JSON text) as a
        # JSON string, the command named in the message's properties.
        if not isinstance(data, str):
            data = json.dumps(data)
        props = dict(zip(_UPDATE, (command_name, request_id, status_code, interface_name)))
        props["iothub-message-schema"] = "asyncResult"
        return self.sendTelemetry(json.dumps(data), props)

    def _keep(self, key, data):
        if len(self._sent) >= 64:  # never answered (the link changed meanwhile): forgotten
            self._sent.clear()
        self._sent[key] = data

    # -- the core's events -> the old callbacks --

    def _fire(self, event, payload, interface, tag, status, msgid=None):
        cb = self._events.get(event)
        if cb is None:
            return None
        info = IOTCallbackInfo(self, event, payload, interface, tag, status, msgid)
        cb(info)
        return info

    def _onConnection(self, connected, reason):
        if connected:
            self._up = True
            self._fire("ConnectionStatus", None, None, None, 0)
        elif self._up:  # lost; healed inside doNext() (disconnect() reports itself)
            self._fire("ConnectionStatus", reason, None, None, 1)

    def _onSent(self, kind, ident):
        if kind == "telemetry" and not ident:
            payload = self._payload
        else:
            payload = self._sent.pop(ident, None)
            if payload is None and kind == "property":
                return  # an acknowledgement, not something the application sent
        self._fire("MessageSent", payload, None, kind, 0, ident)

    def _onCommand(self, command, ack):
        # The command's payload as JSON text (0.3.x handed the raw text); its answer is
        # setResponse()'s (code, message), else 200 and {}. A message that is JSON text goes
        # as it is, other text as a JSON string.
        cb = self._events.get("Command")
        if cb is None:
            ack(command, {"error": "no handler for commands"}, 501)
            return
        info = IOTCallbackInfo(self, "Command", json.dumps(command.value),
                               command.component_name, command.name, 0, command.request_id)
        cb(info)
        code = info._responseCode or 200
        msg = info._responseMessage
        if msg is None:
            msg = "{}"
        if isinstance(msg, str):
            try:
                json.loads(msg)
                msg = msg.encode()
            except ValueError:
                pass
        ack(command, msg, code)

    def _onEnqueued(self, command):
        self._fire("EnqueuedCommand", json.dumps(command.value), command.component_name,
                   command.name, 0, command.request_id)

    def _onProperty(self, name, value, comp):
        info = self._property(name, value, comp)
        if info and (info._responseCode is not None or info._responseMessage is not None):
            self._client._reply = (info._responseCode or 200, info._responseMessage or "completed")
        return value  # acknowledged by the core, with setResponse()'s ac/ad if set (_Core)

    def _property(self, name, value, comp):
        # {"value": v}: JSON text for "SettingsUpdated" (0.3.4 to 0.3.9), a dict for the other
        # names (the later versions).
        if self._props is None:
            return None
        event, cb = self._props
        payload = {"value": value}
        if event == "SettingsUpdated":
            payload = json.dumps(payload)
        info = IOTCallbackInfo(self, event, payload, comp, name, 0, None)
        cb(info)
        return info
