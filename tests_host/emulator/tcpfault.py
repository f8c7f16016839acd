# iotc emulator tcpfault: faults under TLS, on the TCP connection itself
# MIT license; Copyright (c) 2026 the iotc authors
"""Two fault knobs that work below TLS (README: Control API):

  half_open  the emulator stops reading and stops sending on a connection, which stays open (no
             FIN, no RST), until the fault is cleared or for `seconds`; then service resumes.
             As a network that loses everything would, or a peer that vanished.
  cut_after  the connection is closed once `received` bytes have come from the client or `sent`
             bytes have gone to it: TLS records counted, so the cut can fall inside the
             handshake or inside an MQTT packet. The bytes up to the limit are delivered.

Either targets a device (half_open: its live connection; cut_after: its next ones), or the next
connection(s) to a service ("hub", "dps", "dps_mqtt"): the device is only known once CONNECT has
been read, inside TLS. A cut needs the bytes counted from the first one, so those connections
run through a Relay: the client's TCP connection on one side, a socketpair to the TLS server on
the other.
"""

import asyncio
import socket
import time

TARGETS = ("hub", "dps", "dps_mqtt")


class Hold:
    """One half-open spell: over after `seconds` (None: until released)."""

    def __init__(self, seconds=None):
        self.until = None if seconds is None else time.monotonic() + seconds
        self.released = asyncio.Event()

    def release(self):
        self.released.set()

    async def wait(self):
        left = None if self.until is None else max(0.0, self.until - time.monotonic())
        try:
            await asyncio.wait_for(self.released.wait(), left)
        except asyncio.TimeoutError:
            pass


async def hold_raw(writer, hold):
    """Half-open a fresh TCP connection before its TLS handshake, then let it go on."""
    writer.transport.pause_reading()
    await hold.wait()
    if not writer.transport.is_closing():
        writer.transport.resume_reading()


async def _server_streams(sock):
    """Streams for the server's end of a socketpair, as start_server makes them (server side, so
    start_tls() handshakes as the server)."""
    loop = asyncio.get_running_loop()
    made = loop.create_future()
    reader = asyncio.StreamReader(limit=1 << 20)
    protocol = asyncio.StreamReaderProtocol(reader, lambda r, w: made.set_result(w))
    await loop.connect_accepted_socket(lambda: protocol, sock)
    return reader, await made


class Relay:
    """Copies bytes between the client's TCP connection and the server, counting them; cuts the
    connection at the armed limits. relay.cut_reason is set once it has cut."""

    def __init__(self, state, label):
        self.state, self.label = state, label
        self.received = self.sent = 0
        self.limits = {}  # "received"/"sent" -> bytes after which the connection is cut
        self.cut_reason = None
        self._tasks = []
        self._writers = []

    async def start(self, reader, writer):
        """-> (reader, writer) for the server: the other end of the relay."""
        a, b = socket.socketpair()
        inner_reader, inner_writer = await _server_streams(b)
        ar, aw = await asyncio.open_connection(sock=a)
        self._writers = [writer, aw]
        self._tasks = [asyncio.ensure_future(self._pump(reader, aw, "received")),
                       asyncio.ensure_future(self._pump(ar, writer, "sent"))]
        inner_writer.relay = self
        return inner_reader, inner_writer

    def arm(self, received=None, sent=None):
        """Cut once this many bytes have come in or gone out (from the connection's start)."""
        for direction, n in (("received", received), ("sent", sent)):
            if n is not None:
                self.limits[direction] = n
                if getattr(self, direction) >= n:
                    self.cut(direction)

    def cut(self, direction):
        if self.cut_reason:
            return
        self.cut_reason = "cut_after fault: {} bytes received, {} sent".format(
            self.received, self.sent)
        self.state.events.add("fault", kind="cut_after", target=self.label, direction=direction,
                              received=self.received, sent=self.sent)
        outer, inner = self._writers
        outer.transport.abort()
        inner.close()

    async def _pump(self, src, dst, direction):
        try:
            while not self.cut_reason:
                data = await src.read(65536)
                if not data:
                    break
                limit = self.limits.get(direction)
                done = getattr(self, direction)
                if limit is not None and done + len(data) >= limit:
                    data = data[:limit - done]
                setattr(self, direction, done + len(data))
                if data:
                    dst.write(data)
                    await dst.drain()
                if limit is not None and done + len(data) >= limit:
                    self.cut(direction)
                    return
        except (ConnectionError, OSError):
            pass
        dst.close()

    def close(self):
        for t in self._tasks:
            t.cancel()
        for w in self._writers:
            w.close()
