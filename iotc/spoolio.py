# iotc spoolio: the offline store's storing and replaying (iotc.spool), loaded while the store
# is in use (a message stored, or waiting to be replayed) and dropped once it is empty again.
# MIT license; Copyright (c) 2026 the iotc authors

import os
import time

from micropython import const

from iotc import IoTCError

try:
    from binascii import crc32 as _crc
except ImportError:  # ESP8266: MICROPY_PY_BINASCII_CRC32 is 0
    _crc = None

_HEAD = const(10)  # the record header's bytes
_WINDOW = const(2)  # iotc.client's _MAX_INFLIGHT: a QoS 1 replay never waits for room
_CLOCK_SET = const(2024)  # a board clock before this year was never set (no NTP yet)
_ROOM = const(96)  # the header and the properties _store adds, at most


def _adler(data, v=1):
    a = v & 0xFFFF
    b = v >> 16
    for c in data:
        a += c
        b += a
        if b > 0x1FFF0000:  # a and b stay small ints (30 bits on an ESP); reduced rarely
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


def write_pos(sp, seg, off):
    body = "{} {} {}".format(sp._id, seg, off).encode()
    body += " {:x}".format(_adler(body)).encode()
    with open(sp._name("pos"), "wb") as f:
        f.write(body)
    sp.written += len(body)
    sp._cs, sp._co = seg, off


def spill(sp, topic, payload, qos):
    # A message to store (iotc.spool's SPILL hook) -> True: taken (stored, or refused when
    # full), the core keeps nothing.
    if isinstance(payload, str):
        payload = payload.encode()
    elif not isinstance(payload, (bytes, bytearray)):
        import json

        payload = json.dumps(payload).encode()
    try:
        _store(sp, topic, payload, qos)
    except OSError as e:  # the filesystem's: said clearly, never mistaken for the link's
        raise IoTCError("offline store: {}".format(e))
    return True


def _store(sp, topic, payload, qos):
    # About 80 B of properties are added: the record is checked against a file's size
    # with them. A message larger than a file: an error, nothing stored.
    if _ROOM + len(topic) + len(payload) > sp._size:
        raise IoTCError("offline store: message larger than a file (max_bytes // max_files)")
    if sp._wsize and sp._wsize + _ROOM + len(topic) + len(payload) > sp._size:
        if sp._last + 2 - sp._first > sp._files and not sp._fs("full"):
            return
        sp._last += 1
        sp._wsize = 0
    # What is kept of the topic is its property bag (after ".../messages/events/"; the
    # replay puts it after the session's own topic, so a store made before the first
    # connect, or under another device id, is sent right), with a message id and the
    # creation time, fixed now (the application's own kept). The clock not set yet: no
    # time, the hub stamps the arrival.
    t = bytes(topic)
    t = t[t.find(b"/events/") + 8 :]
    add = []
    if b"$.mid=" not in t and b"%24.mid=" not in t:
        add.append("$.mid={}-{}-{}".format(sp._id, sp._last, sp._wsize))
    y, mo, d, h, mi, sec = time.gmtime()[:6]
    if y >= _CLOCK_SET and b"iothub-creation-time-utc=" not in t:
        add.append("iothub-creation-time-utc={:04d}-{:02d}-{:02d}T{:02d}%3A{:02d}%3A{:02d}Z"
                   .format(y, mo, d, h, mi, sec))
    if add:
        t += (b"&" if t else b"") + "&".join(add).encode()
    topic = t
    head = sp._head
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
    with open(sp._name(sp._last), "ab") as f:
        try:
            f.write(head)
            f.write(topic)
            f.write(payload)
        except OSError:
            sp._last += 1  # a torn record may be there: seal that file
            sp._wsize = 0
            raise
    sp._wsize += _HEAD + tl + pl
    sp.written += _HEAD + tl + pl
    sp.stored += 1


def tick(sp):
    # iotc.spool's TICK hook (listen(), link up) while the store is in use: commit what the
    # hub acknowledged, send the next stored message when its time has come. A filesystem
    # error (or no heap for a record) is logged here and tried again at the next pace: an
    # OSError out of a TICK would end the link, anything else would escape listen().
    c = sp._c
    try:
        _acked(sp, c._inflight)
        now = time.ticks_ms()
        wait = time.ticks_diff(sp._next, now)
        # _next is at most a gap ahead: further, the ticks wrapped while offline (an ESP32's
        # wrap within 2^29 ms, 6 days): it is time.
        if sp.pending() and len(c._inflight) < _WINDOW and (wait <= 0 or wait > sp._gap):
            sp._next = time.ticks_add(now, sp._gap)
            _send(sp, c)
    except Exception as e:
        c._log("offline store: {!r}", e)


def _acked(sp, inflight):
    # The replayed messages the hub has, oldest first: the QoS 0 ones once written, the
    # QoS 1 ones once their PUBACK came. One "pos" write for all of them.
    sent = sp._sent
    done = None
    while sent and sent[0][0] not in inflight:
        done = sent.pop(0)
    if done is None:
        return
    seg, off = done[1], done[2]
    if seg == sp._last and off >= sp._wsize and not sent:
        # Drained: the last file goes too, and writes go on in a new one.
        sp._last += 1
        sp._wsize = 0
        sp._rs, sp._ro = sp._last, 0
        seg, off = sp._last, 0
    old = sp._first
    write_pos(sp, seg, off)
    while old < seg:  # after "pos": a reset between leaves files the recovery removes
        try:
            os.remove(sp._name(old))
        except OSError:
            pass
        old += 1
    sp._first = seg

def _send(sp, c):
    # The next stored message, read (one record, never a whole file) and published.
    seg = sp._rs
    rec = None
    if seg != sp._last or sp._ro < sp._wsize:
        try:
            f = open(sp._name(seg), "rb")
        except OSError:  # gone (a gap): the next one
            f = None
        if f:
            try:
                head = sp._head
                f.seek(sp._ro)
                if f.readinto(head) == _HEAD:
                    tl = _le(head, 5, 2)
                    pl = _le(head, 7, 3)
                    end = sp._ro + _HEAD + tl + pl
                    # Lengths past the file's end are garbage (a torn or flipped header),
                    # never read: 16 MB asked of the heap would fail at each replay.
                    if end <= f.seek(0, 2):
                        f.seek(sp._ro + _HEAD)
                        rec = (f.read(tl), f.read(pl), end)
                    else:
                        sp.torn += 1
            finally:
                f.close()
    if rec is not None:
        kind = head[4] & 2
        v = _sum(kind, rec[1], _sum(kind, rec[0], _sum(kind, memoryview(head)[4:], 0)))
        if len(rec[0]) != tl or len(rec[1]) != pl or v is not None and v != _le(head, 0, 4):
            sp.torn += 1
            rec = None
    if rec is None:  # the end of this segment (or its torn tail): the next one
        if seg == sp._last:  # a bad record in the file being written: sealed
            sp._last += 1
            sp._wsize = 0
        sp._rs += 1
        sp._ro = 0
        sp._sent.append((0, sp._rs, 0))
        return
    qos = head[4] & 1
    topic = c._topic
    sp._busy = True
    try:
        pid = c._publish(topic[: topic.find(b"/events/") + 8] + rec[0], rec[1], qos)
    finally:
        sp._busy = False
    if c._link is None:  # not sent: the link broke; sent again after the reconnect
        return
    sp._ro = rec[2]
    sp._sent.append((pid if qos else 0, seg, rec[2]))
    sp.replayed += 1
