# iotc spool: telemetry kept on the board's filesystem while the link is down, replayed in
# order, paced, after the reconnect (package iotc-spool; docs/spool.md).
# MIT license; Copyright (c) 2026 the iotc authors
#
# It joins a client through two hooks (iotc.hooks): SPILL takes a telemetry message when the
# link is down, when the core's RAM queue would take it, or while stored messages remain (so
# the order is kept); TICK, called by listen() while the link is up, sends one stored message
# at a time, no more often than `rate` a second.
#
# On flash: a folder of segment files named 1, 2, 3... (the oldest first), each written only by
# appending, at most max_bytes // max_files bytes, at most max_files of them; and one small
# file, "pos": the store's id and how far the hub has the messages (segment, offset), with a
# checksum. A record: 4 B checksum of the rest, 1 B flags (bit 0: QoS 1; bit 1: the checksum
# is CRC-32, else Adler-32, for ports without binascii.crc32, as the ESP8266's), 2 B topic
# length, 3 B payload length (little-endian), the topic's property bag, the payload. The bag is
# the one sent, with `$.mid` and `iothub-creation-time-utc` added when it is stored: a replay
# after a reset carries the same id and time, so the hub sees a duplicate it can recognise,
# never a new message.
#
# Crash safety: a record is appended and the file closed (on littlefs: committed) before the
# send returns; a reset in the middle leaves a torn tail, which fails its checksum: the
# recovery scan finds it and writes go on in a new segment, so the torn record is only ever
# at a segment's end, where the reader stops. "pos" is written whole (on littlefs a rewrite
# is atomic; elsewhere a torn one fails its checksum and the replay starts again from the
# oldest segment: duplicates, never a loss) before the segments it passed are removed.
#
# Held in RAM: this module and the Spool object. The rare work (opening a store, recovery,
# making room when full, leaving) is in iotc.spoolfs, loaded for it and dropped after.

import os
import time

from micropython import const

from iotc import IoTCError, _forget

try:
    from binascii import crc32 as _crc
except ImportError:  # ESP8266: MICROPY_PY_BINASCII_CRC32 is 0
    _crc = None

_HEAD = const(10)  # the record header's bytes
_WINDOW = const(2)  # iotc.client's _MAX_INFLIGHT: a QoS 1 replay never waits for room
_CLOCK_SET = const(2024)  # a board clock before this year was never set (no NTP yet)
_ROOM = const(96)  # the header and the properties _stamp adds, at most


def _adler(data, v=1):
    a = v & 0xFFFF
    b = v >> 16
    for c in data:
        a += c
        b += a
        if b > 0x3FFF0000:  # well inside a small int on every port; reduced rarely
            a %= 65521
            b %= 65521
    return (b % 65521) << 16 | a % 65521


def _sum(kind, data, v):
    # kind: the flags' bit 1 (CRC-32), the checksum a record was written with.
    if kind:
        return _crc(data, v) if _crc else None  # None: cannot check, trusted
    return _adler(data, v or 1)


def _le(b, i, n):
    v = 0
    for k in range(n - 1, -1, -1):
        v = v << 8 | b[i + k]
    return v


class Spool:
    def __init__(self, client, path="/spool", max_bytes=65536, max_files=8,
                 when_full="drop_oldest", rate=5, on_full=None):
        # on_full(policy, count): called when the store is full, with "drop_oldest" and the
        # number of unsent messages dropped with the oldest file, or "refuse_newest" and 1.
        self._c = client
        self._dir = path.rstrip("/")
        self._on_full = on_full
        self._head = bytearray(_HEAD)
        self._sent = []  # (pid, or 0 for QoS 0, segment, end): replayed, not yet committed
        self._busy = False  # replaying: the spill of our own publish is not a new message
        self._next = time.ticks_ms()
        self._t = self._tick  # one bound method: the one registered is the one removed
        # Counts, since this object was made: stored, replayed (sent, as the core sends),
        # dropped (with an oldest file), refused (store full), torn (records cut by a reset),
        # written (bytes written to files: records and "pos"; what littlefs programs is more).
        self.stored = self.replayed = self.dropped = self.refused = self.torn = self.written = 0
        self._fs("open", max_bytes, max_files, when_full, rate)

    def _fs(self, what, *args):
        try:
            return __import__("iotc.spoolfs", None, None, ("run",)).run(self, what, *args)
        finally:
            _forget("spoolfs", "hooks", "topics")

    def close(self):
        # Leave the client; what is stored stays for the next Spool on this folder.
        self._fs("close")

    def pending(self):
        # -> True while stored messages wait to be sent (new ones then go to the store too).
        return self._rs < self._last or self._ro < self._wsize

    def _name(self, seg):
        return "{}/{}".format(self._dir, seg)

    def _write_pos(self, seg, off):
        body = "{} {} {}".format(self._id, seg, off).encode()
        body += " {:x}".format(_adler(body)).encode()
        with open(self._name("pos"), "wb") as f:
            f.write(body)
        self.written += len(body)
        self._cs, self._co = seg, off

    # --- storing ---------------------------------------------------------------------------

    def _spill(self, topic, payload, qos, offline):
        # The SPILL hook -> True: taken (stored, or refused when full), the core keeps nothing.
        if self._busy:  # our own replay: stored already; failed, it goes again after a reconnect
            return offline
        if not (offline or self.pending()):
            return False  # nothing waits: the core sends it now
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, (bytes, bytearray)):
            import json

            payload = json.dumps(payload).encode()
        try:
            self._store(topic, payload, qos)
        except OSError as e:  # the filesystem's: said clearly, never mistaken for the link's
            raise IoTCError("offline store: {}".format(e))
        return True

    def _stamp(self, topic, seg, off):
        # -> the topic's property bag (after ".../messages/events/"; the replay puts it after
        # the session's own, so a store made before the first connect, or under another device
        # id, is sent right), with a message id and the creation time, fixed now (kept when
        # the application gave its own). The clock not set yet: no time, the hub stamps arrival.
        t = bytes(topic)
        t = t[t.find(b"/events/") + 8 :]
        add = []
        if b"$.mid=" not in t and b"%24.mid=" not in t:
            add.append("$.mid={}-{}-{}".format(self._id, seg, off))
        y, mo, d, h, mi, s = time.gmtime()[:6]
        if y >= _CLOCK_SET and b"iothub-creation-time-utc=" not in t:
            add.append("iothub-creation-time-utc={:04d}-{:02d}-{:02d}T{:02d}%3A{:02d}%3A{:02d}Z"
                       .format(y, mo, d, h, mi, s))
        if not add:
            return t
        return t + (b"&" if t else b"") + "&".join(add).encode()

    def _store(self, topic, payload, qos):
        # About 80 B of properties are added: the record is checked against a file's size
        # with them. A message larger than a file: an error, nothing stored.
        if _ROOM + len(topic) + len(payload) > self._size:
            raise IoTCError("offline store: message larger than a file (max_bytes // max_files)")
        if self._wsize and self._wsize + _ROOM + len(topic) + len(payload) > self._size:
            if self._last + 2 - self._first > self._files and not self._fs("full"):
                return
            self._last += 1
            self._wsize = 0
        topic = self._stamp(topic, self._last, self._wsize)
        head = self._head
        kind = 2 if _crc else 0
        tl = len(topic)
        pl = len(payload)
        head[4] = kind | (1 if qos else 0)
        head[5] = tl & 0xFF
        head[6] = tl >> 8
        for k in range(3):
            head[7 + k] = pl >> (8 * k) & 0xFF
        v = _sum(kind, payload, _sum(kind, topic, _sum(kind, memoryview(head)[4:], 0)))
        for k in range(4):
            head[k] = v >> (8 * k) & 0xFF
        with open(self._name(self._last), "ab") as f:
            try:
                f.write(head)
                f.write(topic)
                f.write(payload)
            except OSError:
                self._last += 1  # a torn record may be there: seal that file
                self._wsize = 0
                raise
        self._wsize += _HEAD + tl + pl
        self.written += _HEAD + tl + pl
        self.stored += 1

    # --- replaying -------------------------------------------------------------------------

    def _tick(self):
        # The TICK hook (listen(), link up): commit what the hub acknowledged, send the next
        # stored message when its time has come. A filesystem error is logged here and tried
        # again at the next pace: an OSError out of a TICK would end the link.
        if not self._sent and not self.pending():
            return
        c = self._c
        try:
            self._acked(c._inflight)
            if (self.pending() and len(c._inflight) < _WINDOW
                    and time.ticks_diff(time.ticks_ms(), self._next) >= 0):
                self._next = time.ticks_add(time.ticks_ms(), self._gap)
                self._send(c)
        except OSError as e:
            c._log("offline store: {!r}", e)

    def _acked(self, inflight):
        # The replayed messages the hub has, oldest first: the QoS 0 ones once written, the
        # QoS 1 ones once their PUBACK came. One "pos" write for all of them.
        sent = self._sent
        done = None
        while sent and sent[0][0] not in inflight:
            done = sent.pop(0)
        if done is None:
            return
        seg, off = done[1], done[2]
        if seg == self._last and off >= self._wsize and not sent:
            # Drained: the last file goes too, and writes go on in a new one.
            self._last += 1
            self._wsize = 0
            self._rs, self._ro = self._last, 0
            seg, off = self._last, 0
        old = self._first
        self._write_pos(seg, off)
        while old < seg:  # after "pos": a reset between leaves files the recovery removes
            try:
                os.remove(self._name(old))
            except OSError:
                pass
            old += 1
        self._first = seg

    def _send(self, c):
        rec = self._record(self._rs, self._ro)
        if rec is None:  # the end of this segment (or its torn tail): the next one
            if self._rs == self._last:  # a bad record in the file being written: sealed
                self._last += 1
                self._wsize = 0
            self._rs += 1
            self._ro = 0
            self._sent.append((0, self._rs, 0))
            return
        qos, bag, payload, end = rec
        topic = c._topic
        self._busy = True
        try:
            pid = c._publish(topic[: topic.find(b"/events/") + 8] + bag, payload, qos)
        finally:
            self._busy = False
        if c._link is None:  # not sent: the link broke; sent again after the reconnect
            return
        self._ro = end
        self._sent.append((pid if qos else 0, self._rs, end))
        self.replayed += 1

    def _record(self, seg, off):
        # -> (qos, topic, payload, offset after it), or None: no whole record there.
        if seg == self._last and off >= self._wsize:
            return None
        try:
            f = open(self._name(seg), "rb")
        except OSError:
            return None
        try:
            f.seek(off)
            head = self._head
            if f.readinto(head) != _HEAD:
                return None
            tl = _le(head, 5, 2)
            pl = _le(head, 7, 3)
            topic = f.read(tl)
            payload = f.read(pl)
            end = f.tell()
        finally:
            f.close()
        kind = head[4] & 2
        v = _sum(kind, payload, _sum(kind, topic, _sum(kind, memoryview(head)[4:], 0)))
        if len(topic) != tl or len(payload) != pl or v is not None and v != _le(head, 0, 4):
            self.torn += 1
            return None
        return head[4] & 1, topic, payload, end
