# iotc link: MQTT packets over the hub's TLS socket once umqtt.simple has done CONNECT.
# Each packet goes out in one socket write (one TLS record); reads never block when idle.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import time

from micropython import const

_TIMEOUT_MS = const(10000)
_MAX_IN = const(32768)  # larger incoming packets are read and dropped, not allocated


class Link:
    def __init__(self, sock):
        self.sock = sock
        sock.setblocking(False)
        # Room for the SUBSCRIBE sent first and a typical message: not regrown (leaving a
        # hole) in the first seconds of a session. Measured: 0.6 KB off the smallest heap.
        self._buf = bytearray(256)
        self._mv = memoryview(self._buf)
        self._io = None
        self._small = bytearray(4)
        # Ticks of the last packet read and of the last PINGREQ: listen() pings each half
        # keepalive, and calls the link dead after 1.5x keepalive with nothing read.
        self.last_rx = self.pinged = time.ticks_ms()

    def write(self, buf, n):
        # The socket is non-blocking: ride out a full send buffer, but not forever.
        off = 0
        t0 = time.ticks_ms()
        while off < n:
            w = self.sock.write(buf, off, n - off)
            if w:
                off += w
            elif time.ticks_diff(time.ticks_ms(), t0) > _TIMEOUT_MS:
                raise OSError("MQTT write timed out")
            else:
                time.sleep_ms(1)

    def publish(self, topic, payload, qos=0, pid=0):
        # topic: bytes. payload: bytes/str, or an object sent as JSON (serialised straight into
        # a reused buffer). Returns the packet for qos 1 (a bytearray), kept until its PUBACK
        # and resent with the DUP flag set (packet[0] |= 8) if none comes.
        if isinstance(payload, str):
            payload = payload.encode()
        raw = isinstance(payload, (bytes, bytearray))
        if raw:
            n = len(payload)
        else:
            io = self._io
            if io is None:
                from io import BytesIO

                io = self._io = BytesIO(128)
            io.seek(0)
            json.dump(payload, io)
            n = io.tell()
        tl = len(topic)
        rem = 2 + tl + n + (2 if qos else 0)
        buf = self._buf
        if len(buf) < rem + 5:
            buf = self._buf = bytearray(rem + 69)
            self._mv = memoryview(buf)
        buf[0] = 0x32 if qos else 0x30
        i = 1
        while rem > 0x7F:  # the remaining length, 7 bits a byte
            buf[i] = (rem & 0x7F) | 0x80
            rem >>= 7
            i += 1
        buf[i] = rem
        i += 1
        buf[i] = tl >> 8
        buf[i + 1] = tl & 0xFF
        buf[i + 2 : i + 2 + tl] = topic
        i += 2 + tl
        if qos:
            buf[i] = pid >> 8
            buf[i + 1] = pid & 0xFF
            i += 2
        if raw:
            buf[i : i + n] = payload
        else:
            io.seek(0)
            io.readinto(self._mv[i : i + n])
        i += n
        self.write(buf, i)
        if qos:
            return buf[:i]

    def close(self):
        # Read what is pending first: closing a socket with unread input resets the connection,
        # and the hub may then drop what we wrote last (a command's answer).
        try:
            for _ in range(64):
                if not self.sock.readinto(self._buf):
                    break
            self.sock.write(b"\xe0\x00")
        except Exception:
            pass
        try:
            self.sock.close()
        except Exception:
            pass

    def _read(self, n, into=None):
        # The rest of a packet already begun: wait for it, but not forever. Small control
        # packets (PUBACK, SUBACK, the length bytes) land in a reused buffer, without allocating.
        out = into or bytearray(n)
        got = self.sock.readinto(out, n) or 0
        if got < n:
            mv = memoryview(out)
            t0 = time.ticks_ms()
            while got < n:
                r = self.sock.readinto(mv[got:n])
                if r:
                    got += r
                elif r == 0:
                    raise OSError("MQTT connection closed")
                elif time.ticks_diff(time.ticks_ms(), t0) > _TIMEOUT_MS:
                    raise OSError("MQTT read timed out")
                else:
                    time.sleep_ms(1)
        return out

    def poll(self):
        # -> (first header byte, remaining bytes) of one incoming packet, or None if none.
        # The bytes of a control packet are only valid until the next poll(). A PUBLISH too
        # large to take (over _MAX_IN: op | 0x100; no room in the heap: op | 0x200) comes cut:
        # its head only (or None), the rest read and dropped, so the link stays in step and the
        # message can still be told apart and answered.
        small = self._small
        r = self.sock.readinto(small, 1)
        if r is None:
            return None
        if not r:
            raise OSError("MQTT connection closed by the server")
        self.last_rx = time.ticks_ms()
        op = small[0]
        n = 0
        sh = 0
        while True:
            c = self._read(1, small)[0]
            n |= (c & 0x7F) << sh
            if not c & 0x80:
                break
            sh += 7
            if sh > 21:
                raise OSError("MQTT: bad remaining length")
        if op & 0xF0 != 0x30:  # a control packet: a few bytes; a big one is nonsense, dropped
            if n <= 4:
                return op, self._read(n, small)
            if n > 64:
                self._skip(n)
                return op, None
            return op, self._read(n)
        body = None
        if n <= _MAX_IN:
            try:
                body = bytearray(n)
            except MemoryError:
                op |= 0x200
        else:
            op |= 0x100
        if body is not None:
            return op, self._read(n, body)
        # Too large to take: its head alone (topic length, topic, packet id), when that can be
        # had; the rest read and dropped.
        self._read(2, small)
        h = 2 + (small[0] << 8 | small[1]) + (2 if op & 6 else 0)
        head = None
        if h <= n:
            try:
                head = bytearray(h)
                head[0] = small[0]
                head[1] = small[1]
                self._read(h - 2, memoryview(head)[2:])
            except MemoryError:
                head = None
                h = 2
        else:
            h = 2
        self._skip(n - h)
        return op, head

    def _skip(self, n):
        # Read and drop n bytes, in pieces of the link's buffer: the link stays in step.
        while n:
            k = min(n, len(self._buf))
            self._read(k, self._buf)
            n -= k

