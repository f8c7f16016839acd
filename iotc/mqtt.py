# iotc mqtt: the umqtt.simple adapter. umqtt.simple does TLS setup and CONNECT; this module
# writes each packet with one socket write (one TLS record) and reads without blocking.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import time

from micropython import const
from umqtt.simple import MQTTClient, MQTTException

from iotc import IoTCError

_READ_TIMEOUT_MS = const(10000)
_CONNACK = ("", "bad protocol", "client id rejected", "server unavailable",
            "bad username or password", "not authorized")


def connect(host, port, client_id, user, password, keepalive, trust):
    # -> Link. Works with every umqtt.simple release in the field: <= 1.3.4 wraps with
    # ussl.wrap_socket(**ssl_params) (one CA per try), 1.4.0-1.5.0 take only an SSLContext,
    # 1.6.0+ take both (and use the context).
    anchors = trust.anchors()
    ctx = trust.context(anchors)
    tries = len(anchors) if anchors else 1
    for i in range(tries):
        params = trust.params(host, anchors[i] if anchors else None)
        try:
            c = MQTTClient(client_id, host, port, user, password, keepalive, ssl=ctx or True,
                           ssl_params=params)
        except TypeError:
            c = MQTTClient(client_id, host, port, user, password, keepalive, ssl=ctx)
        try:
            c.connect(False)  # clean session off: queued C2D and subscriptions survive
            return Link(c.sock)
        except MQTTException as e:
            _close(c)
            code = e.args[0] if e.args else 0
            from iotc.errors import AuthError

            msg = "hub refused the connection: CONNACK {} ({})".format(
                code, _CONNACK[code] if 0 < code < 6 else "?")
            raise (AuthError if code in (4, 5) else IoTCError)(msg)
        except ValueError as e:
            _close(c)  # certificate not signed by this anchor: try the next one
            if i == tries - 1:
                raise IoTCError("TLS: the hub's certificate is not trusted ({})".format(e))
        except (OSError, IndexError, AssertionError) as e:
            _close(c)
            raise OSError("MQTT connect to {} failed: {!r}".format(host, e))


def _close(c):
    try:
        if c.sock:
            c.sock.close()
    except Exception:
        pass


class Link:
    # One MQTT connection. Not thread-safe; everything runs from the caller's loop.
    def __init__(self, sock):
        self.sock = sock
        sock.setblocking(False)
        self._buf = bytearray(128)
        self._mv = memoryview(self._buf)
        self._io = None
        self.last_tx = time.ticks_ms()

    def write(self, buf, n):
        # Write n bytes of buf, riding out a full send buffer (the socket is non-blocking).
        s = self.sock
        off = 0
        t0 = time.ticks_ms()
        while off < n:
            w = s.write(buf, off, n - off)
            if w:
                off += w
            elif time.ticks_diff(time.ticks_ms(), t0) > _READ_TIMEOUT_MS:
                raise OSError("MQTT write timed out")
            else:
                time.sleep_ms(1)
        self.last_tx = time.ticks_ms()

    def _room(self, size):
        if len(self._buf) < size:
            self._buf = bytearray(size + 64)
            self._mv = memoryview(self._buf)
        return self._buf

    def publish(self, topic, payload, qos=0, pid=0):
        # topic: bytes. payload: bytes/str, or an object to send as JSON. Returns the packet
        # bytes when qos=1 (kept by the caller to republish until PUBACK), else None.
        if isinstance(payload, str):
            payload = payload.encode()
        if isinstance(payload, (bytes, bytearray)):
            n = len(payload)
        else:
            io = self._io
            if io is None:
                import io as _io

                io = self._io = _io.BytesIO(128)
            io.seek(0)
            json.dump(payload, io)
            n = io.tell()
        tl = len(topic)
        rem = 2 + tl + n + (2 if qos else 0)
        buf = self._room(rem + 5)
        buf[0] = 0x32 if qos else 0x30
        i = _encode_len(buf, rem)
        buf[i] = tl >> 8
        buf[i + 1] = tl & 0xFF
        i += 2
        buf[i : i + tl] = topic
        i += tl
        if qos:
            buf[i] = pid >> 8
            buf[i + 1] = pid & 0xFF
            i += 2
        if isinstance(payload, (bytes, bytearray)):
            buf[i : i + n] = payload
        else:
            io.seek(0)
            io.readinto(self._mv[i : i + n])
        i += n
        self.write(buf, i)
        if qos:
            b = bytes(buf[:i])
            return b

    def republish(self, packet):
        # Resend a kept QoS 1 PUBLISH with the DUP flag.
        b = self._room(len(packet))
        b[: len(packet)] = packet
        b[0] |= 0x08
        self.write(b, len(packet))

    def subscribe(self, filters, pid):
        # One SUBSCRIBE for all filters (bytes), QoS 1 each; the SUBACK arrives through poll().
        rem = 2
        for f in filters:
            rem += 3 + len(f)
        buf = self._room(rem + 5)
        buf[0] = 0x82
        i = _encode_len(buf, rem)
        buf[i] = pid >> 8
        buf[i + 1] = pid & 0xFF
        i += 2
        for f in filters:
            n = len(f)
            buf[i] = n >> 8
            buf[i + 1] = n & 0xFF
            buf[i + 2 : i + 2 + n] = f
            buf[i + 2 + n] = 1
            i += 3 + n
        self.write(buf, i)

    def ping(self):
        self.write(b"\xc0\x00", 2)

    def close(self):
        try:
            self.sock.write(b"\xe0\x00")
        except Exception:
            pass
        try:
            self.sock.close()
        except Exception:
            pass

    def _read(self, n):
        # Read exactly n bytes of a packet already begun; bounded wait.
        out = bytearray(n)
        mv = memoryview(out)
        got = 0
        t0 = time.ticks_ms()
        while got < n:
            r = self.sock.readinto(mv[got:])
            if r:
                got += r
            elif r == 0:
                raise OSError("MQTT connection closed")
            elif time.ticks_diff(time.ticks_ms(), t0) > _READ_TIMEOUT_MS:
                raise OSError("MQTT read timed out")
            else:
                time.sleep_ms(1)
        return out

    def poll(self):
        # One incoming packet, or None when nothing is pending. Returns (type, body):
        # type is the fixed-header byte, body the packet's remaining bytes.
        b = self.sock.read(1)
        if b is None:
            return None
        if not b:
            raise OSError("MQTT connection closed by the server")
        n = 0
        sh = 0
        while True:
            c = self._read(1)[0]
            n |= (c & 0x7F) << sh
            if not c & 0x80:
                break
            sh += 7
            if sh > 21:
                raise OSError("MQTT: bad remaining length")
        return b[0], (self._read(n) if n else b"")

    def puback(self, pid):
        self.write(bytes((0x40, 2, pid >> 8, pid & 0xFF)), 4)


def _encode_len(buf, n):
    i = 1
    while n > 0x7F:
        buf[i] = (n & 0x7F) | 0x80
        n >>= 7
        i += 1
    buf[i] = n
    return i + 1


def split_publish(op, body):
    # PUBLISH body -> (topic str, payload bytes, pid or 0)
    tl = body[0] << 8 | body[1]
    topic = bytes(body[2 : 2 + tl]).decode()
    i = 2 + tl
    pid = 0
    if op & 6:
        pid = body[i] << 8 | body[i + 1]
        i += 2
    return topic, body[i:], pid
