"""One MQTT connection as a broker sees it; the DPS and hub fronts subclass it.

The base class reads packets, enforces the CONNECT-first rule and the keep-alive (silence longer
than 1.5x the client's keep-alive closes the link, PROTOCOL.md §3.1), answers PINGREQ, and owns a
writer task fed by a queue so every byte to the client goes out in order and can be delayed on
purpose (the `stall` fault). Anything malformed closes this connection only.

Subclass hooks: on_connect(c) -> (connack code, session_present); on_publish(...) -> None, or
seconds to hold its PUBACK back;
on_subscribe(pid, subs) -> list of SUBACK codes; on_unsubscribe(pid, topics); on_puback(pid);
on_closed(reason). A hook raises Close(reason) to end the connection.
"""

import asyncio
import ssl
import time

from . import mqttcodec as m

CONNECT_TIMEOUT = 10.0
FLUSH_TIMEOUT = 5.0
MAX_IDLE = 1767.0


class Close(Exception):
    """Raised by a hook to close the connection; the text is the logged reason."""


class MqttConnection:
    service = "mqtt"
    max_packet = 300 * 1024

    def __init__(self, reader, writer, state, log):
        self.reader, self.writer, self.state, self.log = reader, writer, state, log
        self.peer = writer.get_extra_info("peername")
        self.queue = asyncio.Queue()
        self.reason = None  # why the connection ended (first cause wins)
        self.closed = False
        self.connected = False  # CONNACK 0 sent
        self.keepalive = 0
        self.client_id = None
        self.last_rx = time.monotonic()
        self._writer_task = None
        self._next_pid = 0
        self.hold = None  # a half_open spell in progress (tcpfault.Hold)
        self._held = None  # its task, done when the spell is over

    # --- for subclasses and the emulator ---------------------------------------------------------

    def name(self):
        return "{} {}".format(self.service, self.client_id or self.peer)

    def send(self, data):
        if not self.closed:
            self.queue.put_nowait(data)

    def next_pid(self):
        self._next_pid = self._next_pid % 65535 + 1
        return self._next_pid

    def stall_until(self):
        """Monotonic-free wall time until which writes are held back (the stall fault)."""
        return 0.0

    def close(self, reason, graceful=False):
        """End the connection from outside the read loop (drop, replaced, token expired...)."""
        if self.reason is None:
            self.reason = reason
        if graceful:
            self.queue.put_nowait(None)  # the writer flushes what is queued, then closes
        else:
            self.writer.transport.abort()

    # --- the connection's life -------------------------------------------------------------------

    async def run(self):
        self._writer_task = asyncio.create_task(self._write_loop())
        graceful = False
        try:
            graceful = await self._serve()
        except EOFError:
            self._why("closed by peer")
        except asyncio.IncompleteReadError:
            self._why("closed by peer in mid-packet")
        except m.ProtocolError as e:
            self._why("protocol error: {}".format(e))
        except Close as e:
            self._why(str(e))
        except asyncio.TimeoutError:
            self._why("no CONNECT within {:.0f} s".format(CONNECT_TIMEOUT))
        except (ConnectionError, OSError, ssl.SSLError) as e:
            self._why("connection error: {!r}".format(e))
        except asyncio.CancelledError:
            self._why("emulator stopping")
            raise
        except Exception as e:
            self.state.internal_error(self.service, e)
            self._why("INTERNAL ERROR {!r}".format(e))
        finally:
            await self._finish(graceful)

    def _why(self, reason):
        if self.reason is None:
            self.reason = reason

    async def _serve(self):
        """Returns True when the connection should close after flushing (a refused CONNECT)."""
        ptype, flags, body = await asyncio.wait_for(
            m.read_packet(self.reader, self.max_packet, only=m.CONNECT), CONNECT_TIMEOUT)
        c = m.parse_connect(body)
        if (c.protocol, c.level) != ("MQTT", 4):
            self.send(m.connack(m.BAD_PROTOCOL))
            self._why("refused CONNECT: protocol {!r} level {}".format(c.protocol, c.level))
            return True
        self.client_id = c.client_id
        self.keepalive = c.keepalive
        code, present = self.on_connect(c)
        self.send(m.connack(code, present))
        if code != m.ACCEPTED:
            self._why("refused CONNECT with code {}".format(code))
            return True
        self.connected = True
        self.after_connack()
        while not self.closed:
            ptype, flags, body = await self._next_packet()
            self.last_rx = time.monotonic()
            if ptype == m.PUBLISH:
                if (flags >> 1) & 3 == 3:
                    raise m.ProtocolError("PUBLISH with QoS 3")
                topic, payload, qos, pid, retain, dup = m.parse_publish(flags, body)
                if qos == 2:
                    raise Close("QoS 2 PUBLISH is not supported")
                later = self.on_publish(topic, payload, qos, pid, retain, dup)
                if qos == 1 and later:  # processed later (traffic shaping): acknowledged then
                    asyncio.get_running_loop().call_later(later, self.send, m.puback(pid))
                elif qos == 1:
                    self.send(m.puback(pid))
            elif ptype == m.PUBACK:
                self.on_puback(m.parse_packet_id(body))
            elif ptype == m.SUBSCRIBE:
                pid, subs = m.parse_subscribe(flags, body)
                self.send(m.suback(pid, self.on_subscribe(pid, subs)))
            elif ptype == m.UNSUBSCRIBE:
                pid, topics = m.parse_unsubscribe(flags, body)
                self.on_unsubscribe(pid, topics)
                self.send(m.unsuback(pid))
            elif ptype == m.PINGREQ:
                if body:
                    raise m.ProtocolError("PINGREQ with a body")
                self.send(m.pingresp())
            elif ptype == m.DISCONNECT:
                self._why("DISCONNECT from client")
                self.disconnected_cleanly = True
                return False
            else:
                raise m.ProtocolError("unexpected {} from client".format(m.NAMES[ptype]))
        return False

    async def _next_packet(self):
        """The next packet; Close once the client has been silent for 1.5x its keep-alive. The
        read is never cancelled part-way (that would lose bytes), and a half_open spell does not
        count as the client's silence."""
        # IoT Hub's load balancers drop a link idle for 1767 s whatever the keep-alive says.
        limit = min(self.keepalive * 1.5, MAX_IDLE) if self.keepalive else MAX_IDLE
        read = asyncio.ensure_future(m.read_packet(self.reader, self.max_packet))
        try:
            while True:
                left = self.last_rx + limit - time.monotonic()
                done, _ = await asyncio.wait({read}, timeout=max(0.0, left))
                if done:
                    return read.result()
                if self.hold is not None:
                    await self._hold_over()
                elif time.monotonic() - self.last_rx >= limit:
                    raise Close("keep-alive expired ({:.0f} s of silence)".format(limit))
        finally:
            if not read.done():
                read.cancel()

    def half_open(self, hold):
        """Stop reading and sending, the connection left open, until the hold is over."""
        if self.closed or self.hold is not None:
            return False
        self.hold, self._held = hold, asyncio.ensure_future(self._half_open(hold))
        self.state.faults.holds.add(hold)  # so that clearing the faults ends it
        return True

    async def _half_open(self, hold):
        self.writer.transport.pause_reading()
        try:
            await hold.wait()
        finally:
            self.state.faults.holds.discard(hold)
            self.hold = None
            self.last_rx = time.monotonic()  # the silence was the emulator's, not the client's
            if not self.writer.transport.is_closing():
                self.writer.transport.resume_reading()

    async def _hold_over(self):
        try:
            await asyncio.shield(self._held)
        except asyncio.CancelledError:
            if not self._held.cancelled():  # we are cancelled, not the spell
                raise

    async def _write_loop(self):
        w = self.writer
        while True:
            data = await self.queue.get()
            if data is None:
                break
            if self.hold is not None:
                await self._hold_over()
            delay = self.stall_until() - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            w.write(data)
            await w.drain()
        w.close()

    async def _finish(self, graceful):
        self.closed = True
        if self._held is not None:
            self._held.cancel()
        if graceful:
            self.queue.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._writer_task),
                                       FLUSH_TIMEOUT + max(0.0, self.stall_until() - time.time()))
            except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError):
                pass
            except asyncio.CancelledError:
                pass
        self._writer_task.cancel()
        try:
            await self._writer_task
        except BaseException:
            pass
        try:
            self.writer.transport.abort()
        except Exception:
            pass
        relay = getattr(self.writer, "relay", None)
        if relay is not None and relay.cut_reason:  # the cut, not what the server saw of it
            self.reason = relay.cut_reason
        self.log("{}: closed ({})".format(self.name(), self.reason))
        try:
            self.on_closed(self.reason)
        except Exception as e:
            self.state.internal_error(self.service + ".on_closed", e)

    # --- hooks -----------------------------------------------------------------------------------

    disconnected_cleanly = False

    def on_connect(self, c):
        return m.NOT_AUTHORIZED, False

    def after_connack(self):
        pass

    def on_publish(self, topic, payload, qos, pid, retain, dup):
        raise Close("publish not accepted")

    def on_subscribe(self, pid, subs):
        return [m.SUBACK_FAILURE for _ in subs]

    def on_unsubscribe(self, pid, topics):
        pass

    def on_puback(self, pid):
        pass

    def on_closed(self, reason):
        pass
