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
# length, 3 B payload length (little-endian), the topic, the payload. The topic is the one
# sent, with `$.mid` and `iothub-creation-time-utc` added when it is stored: a replay after a
# reset carries the same id and time, so the hub sees a duplicate it can recognise, never a
# new message.
#
# Crash safety: a record is appended and the file closed (on littlefs: committed) before the
# send returns; a reset in the middle leaves a torn tail, which fails its checksum: the
# recovery scan finds it and writes go on in a new segment, so the torn record is only ever
# at a segment's end, where the reader stops. "pos" is written whole (on littlefs a rewrite
# is atomic; elsewhere a torn one fails its checksum and the replay starts again from the
# oldest segment: duplicates, never a loss) before the segments it passed are removed.

import os
import time

from micropython import const

from iotc import IoTCError
from iotc import hooks

try:
    from binascii import crc32 as _crc
except ImportError:  # ESP8266: MICROPY_PY_BINASCII_CRC32 is 0
    _crc = None

_HEAD = const(10)  # the record header's bytes
_WINDOW = const(2)  # iotc.client's _MAX_INFLIGHT: a QoS 1 replay never waits for room
_CLOCK_SET = const(2024)  # a board clock before this year was never set (no NTP yet)


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
        if when_full not in ("drop_oldest", "refuse_newest"):
            raise ValueError("when_full: 'drop_oldest' or 'refuse_newest'")
        size = max_bytes // max(max_files, 1)
        if max_files < 1 or size < 128 or rate <= 0:
            raise ValueError("spool: max_files >= 1, max_bytes // max_files >= 128, rate > 0")
        self._c = client
        self._dir = path.rstrip("/")
        self._size = size
        self._files = max_files
        self._drop = when_full == "drop_oldest"
        self._gap = int(1000 / rate)  # ms between two replayed messages
        self._on_full = on_full
        self._head = bytearray(_HEAD)
        self._sent = []  # [pid (0 for QoS 0), segment, end], replayed and not yet committed
        self._busy = False  # replaying: the spill of our own publish is not a new message
        self._next = time.ticks_ms()
        # Counts, since this object was made: stored, replayed (sent, as the core sends),
        # dropped (with an oldest file), refused (store full), torn (records cut by a reset),
        # written (bytes written to files: records and "pos"; what littlefs programs is more).
        self.stored = self.replayed = self.dropped = self.refused = self.torn = self.written = 0
        self._open()
        hooks.one(client, hooks.SPILL, self._spill)
        hooks.add(client, hooks.TICK, self._tick)

    def close(self):
        # Leave the client; what is stored stays for the next Spool on this folder.
        hooks.one(self._c, hooks.SPILL, None)
        hooks.remove(self._c, hooks.TICK, self._tick)

    def pending(self):
        # -> True while stored messages wait to be sent (new ones then go to the store too).
        return self._rs < self._last or self._ro < self._wsize

    # --- recovery --------------------------------------------------------------------------

    def _name(self, seg):
        return "{}/{}".format(self._dir, seg)

    def _open(self):
        d = self._dir
        try:
            os.mkdir(d)
        except OSError:
            pass  # there already (or the next write says why not)
        segs = sorted(int(n) for n in os.listdir(d) if n.isdigit())
        pos = self._read_pos()
        if pos is None:  # a new store (or "pos" torn): replay all there is, again
            self._id = "{:08x}".format(int.from_bytes(os.urandom(4), "little"))
            seg, off = (segs[0] if segs else 1), 0
        else:
            self._id, seg, off = pos
        for s in segs:  # passed, but the reset came before they were removed
            if s < seg:
                os.remove(self._name(s))
        segs = [s for s in segs if s >= seg]
        if seg not in segs:
            # Gone (dropped or drained): the reader starts at the next one there is, and a
            # new segment takes a number never used, so no (segment, offset) id comes back.
            off = 0
            seg = segs[0] if segs else seg + 1
        self._rs, self._ro = seg, off  # the next record to send
        self._cs, self._co = seg, off  # the next record the hub may not have (in "pos")
        self._first = seg
        self._last = segs[-1] if segs else seg
        self._wsize = 0
        if segs:
            end, whole = self._scan(self._last)
            if whole:
                self._wsize = end
            else:  # a torn tail: sealed, the reader stops there; writes go on in a new one
                self.torn += 1
                self._last += 1
        if pos is None or pos[1:] != (seg, off):
            self._write_pos(seg, off)

    def _read_pos(self):
        try:
            with open(self._name("pos"), "rb") as f:
                text = f.read(64)
            i, s, o, c = text.decode().split(" ")
            if int(c, 16) != _adler(text[: text.rindex(b" ")]):
                return None
            return i, int(s), int(o)
        except (OSError, ValueError):
            return None

    def _write_pos(self, seg, off):
        body = "{} {} {}".format(self._id, seg, off).encode()
        body += " {:x}".format(_adler(body)).encode()
        with open(self._name("pos"), "wb") as f:
            f.write(body)
        self.written += len(body)
        self._cs, self._co = seg, off

    def _scan(self, seg, off=0, count=False):
        # Walk segment seg's records from off, checking each -> (offset after the last good
        # one, True if nothing follows it: no torn tail), or with count, how many there are
        # (counted without reading their bodies).
        head = self._head
        n = 0
        try:
            f = open(self._name(seg), "rb")
        except OSError:
            return (0 if count else (off, True))
        buf = None if count else memoryview(bytearray(64))
        try:
            f.seek(off)
            while True:
                got = f.readinto(head)
                if not got:
                    return n if count else (off, True)
                if got < _HEAD:
                    return n if count else (off, False)
                left = _le(head, 5, 2) + _le(head, 7, 3)
                if count:
                    f.seek(left, 1)
                    n += 1
                    continue
                kind = head[4] & 2
                v = _sum(kind, memoryview(head)[4:], 0)
                while left:
                    got = f.readinto(buf[: min(left, 64)])
                    if not got:
                        return off, False
                    left -= got
                    if v is not None:
                        v = _sum(kind, buf[:got], v)
                if v is not None and v != _le(head, 0, 4):
                    return off, False
                off = f.tell()
        finally:
            f.close()

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
        # The topic with a message id and the creation time, fixed now (kept when the
        # application gave its own). The clock not set yet: no time, the hub stamps arrival.
        t = bytes(topic)
        add = []
        if b"$.mid=" not in t and b"%24.mid=" not in t:
            add.append("$.mid={}-{}-{}".format(self._id, seg, off))
        y, mo, d, h, mi, s = time.gmtime()[:6]
        if y >= _CLOCK_SET and b"iothub-creation-time-utc=" not in t:
            add.append("iothub-creation-time-utc={:04d}-{:02d}-{:02d}T{:02d}%3A{:02d}%3A{:02d}Z"
                       .format(y, mo, d, h, mi, s))
        if not add:
            return t
        return t + (b"" if t.endswith(b"/") else b"&") + "&".join(add).encode()

    def _store(self, topic, payload, qos):
        # About 80 B of properties are added: the record is checked against a file's size
        # with them. A message larger than a file: an error, nothing stored.
        if _HEAD + len(topic) + 96 + len(payload) > self._size:
            raise IoTCError("offline store: message larger than a file (max_bytes // max_files)")
        if self._wsize and self._wsize + _HEAD + len(topic) + 96 + len(payload) > self._size:
            if self._last + 2 - self._first > self._files and not self._full():
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

    def _full(self):
        # The store holds max_files files and needs one more -> True: room made.
        if not self._drop:
            self.refused += 1
            self._tell("refuse_newest", 1)
            return False
        seg = self._first
        # What the hub has not had from it is lost: counted for the event.
        lost = 0
        if self._rs <= seg:
            lost = self._scan(seg, self._ro if self._rs == seg else 0, True)
        nxt = seg + 1
        if self._rs <= seg:
            self._rs, self._ro = nxt, 0
        self._sent = [e for e in self._sent if e[1] > seg]
        if self._cs <= seg:
            self._write_pos(nxt, 0)  # first, then the file goes: a reset between is harmless
        os.remove(self._name(seg))
        self._first = nxt  # max_files == 1: that was the file being written; _store rolls on
        self.dropped += lost
        self._tell("drop_oldest", lost)
        return True

    def _tell(self, policy, n):
        self._c._log("offline store full: {} ({})", policy, n)
        if self._on_full is not None:
            try:
                self._on_full(policy, n)
            except Exception as e:  # the application's: never stops a send
                self._c._log("spool on_full failed: {!r}", e)

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
        qos, topic, payload, end = rec
        self._busy = True
        try:
            pid = c._publish(topic, payload, qos)
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
