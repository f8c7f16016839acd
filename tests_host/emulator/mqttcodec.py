"""A small MQTT 3.1.1 codec: just the packets DPS and IoT Hub exchange with a device.

Decoding raises ProtocolError on anything malformed; the connection is then closed, as a broker
must (MQTT 3.1.1 §4.8). The client-side encoders (connect, subscribe, ...) serve the tests.
"""

import struct

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
    8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
    14: "DISCONNECT",
}

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3)
ACCEPTED, BAD_PROTOCOL, ID_REJECTED, UNAVAILABLE, BAD_USER_PASS, NOT_AUTHORIZED = 0, 1, 2, 3, 4, 5
SUBACK_FAILURE = 0x80


class ProtocolError(Exception):
    pass


# --- framing ------------------------------------------------------------------------------------


def encode_length(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(ptype, flags, body=b""):
    return bytes([(ptype << 4) | flags]) + encode_length(len(body)) + body


async def read_packet(reader, max_size, only=None):
    """Read one packet: (type, flags, body). EOF before a first byte raises EOFError.
    only = the one packet type allowed here (CONNECT first); anything else fails at once."""
    first = await reader.read(1)
    if not first:
        raise EOFError
    if only is not None and first[0] != only << 4:
        raise ProtocolError("first byte 0x{:02x} is not {}".format(first[0], NAMES[only]))
    n, shift = 0, 0
    for _ in range(4):
        b = (await reader.readexactly(1))[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        raise ProtocolError("remaining length longer than 4 bytes")
    if n > max_size:
        raise ProtocolError("packet of {} bytes exceeds {}".format(n, max_size))
    body = await reader.readexactly(n) if n else b""
    ptype, flags = first[0] >> 4, first[0] & 0x0F
    if ptype == 0 or ptype == 15:
        raise ProtocolError("reserved packet type {}".format(ptype))
    return ptype, flags, body


def split_packets(data):
    """Split a byte string holding whole packets (tests): [(type, flags, body)]."""
    out, i = [], 0
    while i < len(data):
        first = data[i]
        i += 1
        n, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out.append((first >> 4, first & 0x0F, data[i:i + n]))
        i += n
    return out


# --- fields -------------------------------------------------------------------------------------


def s(text):
    """Length-prefixed UTF-8 string (or bytes)."""
    b = text.encode() if isinstance(text, str) else bytes(text)
    return struct.pack("!H", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.i = data, 0

    def take(self, n):
        if self.i + n > len(self.data):
            raise ProtocolError("packet shorter than its fields")
        out = self.data[self.i:self.i + n]
        self.i += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def binary(self):
        return self.take(self.u16())

    def text(self):
        try:
            t = self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None
        if "\x00" in t:
            raise ProtocolError("string holds U+0000")
        return t

    def rest(self):
        out = self.data[self.i:]
        self.i = len(self.data)
        return out

    def left(self):
        return len(self.data) - self.i


# --- server side: decoders ----------------------------------------------------------------------


class Connect:
    protocol = level = None
    flags = keepalive = 0
    client_id = username = password = will_topic = will_message = None
    clean_session = True
    will_qos = 0
    will_retain = False


def parse_connect(body):
    """Decode CONNECT. A wrong protocol name/level gives .level/.protocol to answer CONNACK 1."""
    r = Reader(body)
    c = Connect()
    c.protocol = r.text()
    c.level = r.u8()
    if (c.protocol, c.level) != ("MQTT", 4):
        return c  # the caller answers CONNACK 1 and closes; the rest may be anything
    c.flags = f = r.u8()
    if f & 0x01:
        raise ProtocolError("CONNECT reserved flag set")
    c.keepalive = r.u16()
    c.clean_session = bool(f & 0x02)
    c.client_id = r.text()
    if f & 0x04:
        c.will_topic = r.text()
        c.will_message = r.binary()
        c.will_qos = (f >> 3) & 3
        c.will_retain = bool(f & 0x20)
        if c.will_qos == 3:
            raise ProtocolError("will QoS 3")
    elif f & 0x38:
        raise ProtocolError("will flags without a will")
    if f & 0x80:
        c.username = r.text()
    if f & 0x40:
        if not f & 0x80:
            raise ProtocolError("password without user name")
        c.password = r.binary()
    if r.left():
        raise ProtocolError("trailing bytes in CONNECT")
    return c


def parse_publish(flags, body):
    """-> (topic, payload, qos, packet_id or None, retain, dup)"""
    qos = (flags >> 1) & 3
    r = Reader(body)
    topic = r.text()
    pid = r.u16() if qos else None
    if pid == 0:
        raise ProtocolError("packet id 0")
    return topic, r.rest(), qos, pid, bool(flags & 1), bool(flags & 8)


def parse_subscribe(flags, body):
    """-> (packet_id, [(filter, qos)])"""
    if flags != 2:
        raise ProtocolError("SUBSCRIBE flags must be 0010")
    r = Reader(body)
    pid = r.u16()
    subs = []
    while r.left():
        f = r.text()
        q = r.u8()
        if q > 2:
            raise ProtocolError("bad requested QoS")
        subs.append((f, q))
    if not subs:
        raise ProtocolError("SUBSCRIBE without topics")
    return pid, subs


def parse_unsubscribe(flags, body):
    if flags != 2:
        raise ProtocolError("UNSUBSCRIBE flags must be 0010")
    r = Reader(body)
    pid = r.u16()
    topics = []
    while r.left():
        topics.append(r.text())
    if not topics:
        raise ProtocolError("UNSUBSCRIBE without topics")
    return pid, topics


def parse_packet_id(body):
    if len(body) != 2:
        raise ProtocolError("bad packet id field")
    return struct.unpack("!H", body)[0]


# --- server side: encoders ----------------------------------------------------------------------


def connack(code, session_present=False):
    return packet(CONNACK, 0, bytes([1 if session_present and code == 0 else 0, code]))


def publish(topic, payload, qos=0, pid=None, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = s(topic) + (struct.pack("!H", pid) if qos else b"") + bytes(payload)
    return packet(PUBLISH, flags, body)


def puback(pid):
    return packet(PUBACK, 0, struct.pack("!H", pid))


def suback(pid, codes):
    return packet(SUBACK, 0, struct.pack("!H", pid) + bytes(codes))


def unsuback(pid):
    return packet(UNSUBACK, 0, struct.pack("!H", pid))


def pingresp():
    return packet(PINGRESP, 0)


# --- client side (tests, tools) -----------------------------------------------------------------


def connect(client_id, username=None, password=None, keepalive=60, clean=True,
            will=None, protocol="MQTT", level=4):
    """will = (topic, message, qos, retain) or None."""
    flags = 0x02 if clean else 0
    payload = s(client_id)
    if will:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
        payload += s(will[0]) + s(will[1])
    if username is not None:
        flags |= 0x80
        payload += s(username)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    body = s(protocol) + bytes([level, flags]) + struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def subscribe(pid, filters):
    """filters: [(filter, qos)] or [filter] (QoS 0)."""
    body = struct.pack("!H", pid)
    for f in filters:
        t, q = (f, 0) if isinstance(f, str) else f
        body += s(t) + bytes([q])
    return packet(SUBSCRIBE, 2, body)


def unsubscribe(pid, topics):
    return packet(UNSUBSCRIBE, 2, struct.pack("!H", pid) + b"".join(s(t) for t in topics))


def pingreq():
    return packet(PINGREQ, 0)


def disconnect():
    return packet(DISCONNECT, 0)
