# iotc aio: the asyncio API of the iotc Python client (`from iotc.aio import IoTCClient`), its
# argument order and names, on MicroPython's asyncio. A layer over iotc.client, which does the
# protocol: this module only schedules the application's coroutines and runs a task that waits
# for the hub's socket. Never loaded unless imported. docs/asyncio.md tells the differences.
# MIT license; Copyright (c) 2026 the iotc authors

import asyncio
import time

from iotc import IoTCError
from iotc.client import IoTCClient as _Sync


# The Python client's constants, with its values (IOTCEvents' first two were one-item tuples
# there, by a trailing comma: on() takes both forms).
class IOTCConnectType:
    IOTC_CONNECT_SYMM_KEY = 1
    IOTC_CONNECT_X509_CERT = 2
    IOTC_CONNECT_DEVICE_KEY = 3


class IOTCLogLevel:
    IOTC_LOGGING_DISABLED = 1
    IOTC_LOGGING_API_ONLY = 2
    IOTC_LOGGING_ALL = 16


class IOTCEvents:
    IOTC_COMMAND = 2
    IOTC_PROPERTIES = 4
    IOTC_ENQUEUED_COMMAND = 8


# Ours for theirs: connect types (ours: SYMM_KEY 1, DEVICE_KEY 2, X509_CERT 3), log levels
# (ours: ALL is 3), events (ours: PROPERTIES 1, COMMANDS 2, ENQUEUED_COMMANDS 3).
_TYPES = {1: 1, 3: 2, 2: 3}
_LEVELS = {16: 3}
_EVENTS = {4: 1, (4,): 1, 2: 2, (2,): 2, 8: 3}
_RECEIVED = {"result": True, "data": "Command received"}  # how that client answered commands


class Property:
    # What 1.1's property callback gets (one argument).
    def __init__(self, name, value, component_name=None):
        self.name = name
        self.value = value
        self.component_name = component_name


class CredentialsCache:
    # What a storage of the Python client keeps: the hub and device id (never a key here).
    def __init__(self, hub_name, device_id, device_key=None, certificate=None):
        self.hub_name = self.host = hub_name
        self.device_id = device_id
        self.device_key = device_key
        self.certificate = certificate


class Storage:
    # The Python client's base class for a storage: retrieve() -> CredentialsCache or None,
    # persist(credentials).
    def retrieve(self):
        return None

    def persist(self, credentials):
        pass


class _Store:
    # A storage of the Python client's shape behind the core's (Credentials .host/.device_id).
    def __init__(self, storage):
        self.s = storage

    def retrieve(self):
        c = self.s.retrieve()
        if c is not None and not hasattr(c, "host"):
            c = CredentialsCache(c.hub_name, c.device_id)
        return c

    def persist(self, c):
        self.s.persist(c and CredentialsCache(c.host, c.device_id))


class _Log:
    # A logger of the Python client's shape (info(message), maybe async) behind the core's
    # (info(message, *args)).
    def __init__(self, logger):
        self.log = logger

    def info(self, message, *args):
        _spawn(self.log.info(message.format(*args) if args else message))

    def set_log_level(self, level):
        self.log.set_log_level(level)


def _spawn(r):
    # A coroutine (an async callback's result) runs as a task; anything else is a result.
    if hasattr(r, "send"):
        asyncio.create_task(r)
        return True


async def _turn():
    # What the eager methods return: awaiting it lets the other tasks run once.
    await asyncio.sleep_ms(0)


class _Trust:
    # The core's SSLContext, noting the plain socket under the last TLS socket it made: the
    # listening task waits on that one. A TLS socket is no file descriptor to MicroPython's
    # select.poll, which then asks it every millisecond (unix) instead of sleeping in poll().
    def __init__(self, ctx):
        self.ctx = ctx
        self.made = None

    def wrap_socket(self, sock, **kw):
        tls = self.ctx.wrap_socket(sock, **kw)
        self.made = (tls, sock)
        return tls


class _Core(_Sync):
    # The sync client, but the acknowledgement of a property handled by an async callback
    # (made by iotc.desired right after the callback returned) waits for the coroutine, and
    # its trust (set by iotc.config, .tls, .offline) is wrapped in a _Trust.
    _held = None

    def _get_tls(self):
        return self._trust

    def _set_tls(self, trust):
        # Firmware 1.20-1.21: a list (iotc.tls), kept as it is; the task waits on TLS sockets.
        self._trust = _Trust(trust) if hasattr(trust, "wrap_socket") else trust

    _tls = property(_get_tls, _set_tls)

    def send_property(self, payload):
        held = self._held
        if held is None:
            return _Sync.send_property(self, payload)
        self._held = None
        asyncio.create_task(self.aio._ack_later(held, payload))
        return 0


class IoTCClient:
    def __init__(self, device_id, scope_id, cred_type, key_or_cert, logger=None, storage=None,
                 max_connection_attempts=5, **kw):
        # kw: the core's endpoint=, ca_file=, verify=, qos=, token_ttl=, keepalive=, relay=.
        ct = _TYPES.get(cred_type)
        if ct is None:
            raise IoTCError("cred_type: an IOTCConnectType")
        if ct == 3 and isinstance(key_or_cert, dict):  # 1.1's names for the README's
            key_or_cert = {k.replace("_f", "F").replace("_p", "P"): v
                           for k, v in key_or_cert.items()}
        if logger is not None:
            if not (hasattr(logger, "info") and hasattr(logger, "set_log_level")):
                raise IoTCError("logger: needs info(message) and set_log_level(level)")
            logger = _Log(logger)
        if storage is not None:
            storage = _Store(storage)
        core = self.core = _Core(scope_id, device_id, ct, key_or_cert, logger, storage, **kw)
        core.aio = self
        self._attempts = max(1, max_connection_attempts)
        self._cbs = {}  # core event -> the application's callback
        self._shape = {}  # core event -> which argument shape the callback took
        self._task = None  # the listening task
        self._wakes = 0  # times the listening task woke (tests: no busy loop when idle)

    # ---- settings, as the Python client has them -------------------------------------------
    def set_model_id(self, model_id):
        self.core.model_id = model_id

    def set_global_endpoint(self, endpoint):
        self.core.endpoint = endpoint

    def set_content_type(self, content_type):
        self.core.content_type = content_type

    def set_content_encoding(self, content_encoding):
        self.core.content_encoding = content_encoding

    def set_log_level(self, log_level):
        core = self.core
        core.set_log_level(log_level if core.logger else _LEVELS.get(log_level, log_level))

    def on(self, eventname, callback):
        ev = _EVENTS.get(eventname)
        if ev is None:
            raise IoTCError("on(): not an IOTCEvents value: {!r}".format(eventname))
        self._cbs[ev] = callback
        self._shape.pop(ev, None)
        self.core.on(ev, (self._on_props, self._on_command, self._on_enqueued)[ev - 1])
        return 0

    # ---- connection ------------------------------------------------------------------------
    def is_connected(self):
        # True from connect() to disconnect(), also while the link heals (sends are queued
        # then); client.core.is_connected() tells whether the link is up now.
        core = self.core
        return core._link is not None or core._due is not None

    def terminated(self):
        return not self.is_connected()

    async def connect(self, force_dps=False):
        # Blocks the event loop while it runs (DPS over HTTPS, TLS, MQTT CONNECT are blocking
        # in the core); between failed attempts (max_connection_attempts) it awaits.
        core = self.core
        n = 0
        while True:
            try:
                core.connect(force_dps)
                break
            except (OSError, IoTCError) as e:
                n += 1
                if n >= self._attempts or type(e).__name__ == "AuthError":
                    raise
                from iotc.offline import backoff

                wait = backoff(n, core.RETRY_MS, core.RETRY_MAX_MS)
                core._log("connect failed ({!r}); attempt {} in {} ms", e, n + 1, wait)
                await asyncio.sleep_ms(wait)
        if self._task is None:
            self._task = asyncio.create_task(self._listen())

    def disconnect(self):
        task = self._task
        self._task = None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.core.disconnect()
        return _turn()

    # ---- sending: done at the call; the result may be awaited (or not, as in its README) ---
    def send_telemetry(self, payload, properties=None):
        self.core.send_telemetry(payload, properties)
        return _turn()

    def send_property(self, payload):
        core = self.core
        core._held = None  # only iotc.desired's call right after a property callback is held
        core.send_property(payload)
        return _turn()

    # ---- the listening task ----------------------------------------------------------------
    async def _listen(self):
        # Waits for the hub's socket to be readable, or for the next thing due (a PINGREQ each
        # half keepalive, the token's renewal, a reconnect), then lets the core's listen() do
        # the work. No polling in between.
        core = self.core
        me = asyncio.current_task()
        while self._task is me:
            self._wakes += 1
            try:
                link = core._link
                now = time.ticks_ms()
                if link is None:
                    if core._due is None:  # offline for good: disconnect() (or never connected)
                        break
                    await asyncio.sleep_ms(max(0, time.ticks_diff(core._due, now)) + 1)
                    core.listen()
                    continue
                half = core.keepalive * 500
                wait = min(time.ticks_diff(link.pinged, now) + half,
                           time.ticks_diff(core._due, now)) + 2
                if core._events.get(9):  # an extra's TICK hooks (iotc.hooks: a replay, a held
                    wait = min(wait, 50)  # send, an update) want listen() often, not a ping
                if wait > 0:
                    made = getattr(core._trust, "made", None)
                    sock = made[1] if made and made[0] is link.sock else link.sock
                    await self._readable(sock, min(wait, half + 2))
                while True:
                    # Until a listen() reads nothing: TLS may hold packets already taken off
                    # the plain socket, which then no longer shows them. (last_rx, the ticks
                    # of the last packet read, set 1 ms back tells.)
                    mark = link.last_rx = time.ticks_add(link.last_rx, -1)
                    core.listen()
                    if core._link is not link or link.last_rx == mark:
                        break
                    await asyncio.sleep_ms(0)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a full heap (listen() raises MemoryError), a bad callback
                core._log("listening: {!r}", e)
                await asyncio.sleep_ms(1000)
        if self._task is me:
            self._task = None

    def _readable(self, sock, ms):
        # A generator (awaited): parks this task on asyncio's poller until the socket is
        # readable, or until a small task cancels the wait after ms.
        me = asyncio.current_task()
        alarm = asyncio.create_task(_alarm(me, ms))
        try:
            yield asyncio.core._io_queue.queue_read(sock)
        except asyncio.CancelledError:
            if self._task is not me:
                raise  # disconnect()
        finally:
            alarm.cancel()

    # ---- callbacks: the core calls these inside listen(); they call the application's ------
    def _call(self, ev, *shapes):
        # The callback with the first argument shape it takes: the one that worked is kept, so
        # a TypeError from inside a callback is never taken for the wrong shape after that.
        # MicroPython says "function takes 2 positional arguments but 1 were given" (terse
        # builds: "argument num/types mismatch"), before any of the callback runs.
        cb = self._cbs[ev]
        i = self._shape.get(ev)
        if i is not None:
            return cb(*shapes[i])
        first = None
        for i in range(len(shapes)):
            try:
                r = cb(*shapes[i])
            except TypeError as e:
                if "argument" not in str(e):
                    raise
                first = first or e
                continue
            self._shape[ev] = i
            return r
        raise first

    def _on_props(self, name, value, component):
        r = self._call(1, (name, value), (Property(name, value, component),))
        if hasattr(r, "send"):
            # iotc.desired acknowledges a True at once: _Core.send_property holds that
            # acknowledgement until the coroutine has said whether to send it.
            self.core._held = (r, name, component)
            return True
        return r

    async def _ack_later(self, held, payload):
        coro, name, component = held
        try:
            ok = await coro
        except Exception as e:
            self.core._log("property callback failed: {!r}", e)
            entry = payload[component][name] if component else payload[name]
            entry["ac"] = 500
            entry["ad"] = "device error: {}".format(e)
            ok = True
        if ok:
            self.core.send_property(payload)

    def _on_command(self, command, answer):
        def reply():  # 1.1: await command.reply()
            answer(command, _RECEIVED, 200)
            return _turn()

        def ack(name, value, request_id=None):  # the README's: a reported property
            return self.send_property({name: {"value": value, "requestId": request_id}})

        command.reply = reply
        r = self._call(2, (command, ack), (command,))
        if not self._shape.get(2):  # (command, ack): answered as it arrives, as that client did
            answer(command, _RECEIVED, 200)
        _spawn(r)

    def _on_enqueued(self, command):
        v = command.value
        if not isinstance(v, (str, bytes)):
            import json

            v = b"" if v is None else json.dumps(v)
        if isinstance(v, str):
            v = v.encode()
        _spawn(self._call(3, (command.name, v), (command,)))


async def _alarm(task, ms):
    await asyncio.sleep_ms(ms)
    task.cancel()
