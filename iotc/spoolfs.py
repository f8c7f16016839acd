# iotc spoolfs: the offline store's rare work (iotc.spool), loaded for it and dropped after:
# opening a store (the settings checked, the recovery after a reset, the hooks), making room
# when it is full, leaving the client.
# MIT license; Copyright (c) 2026 the iotc authors

import os

from micropython import const

from iotc import hooks
from iotc.spoolio import _adler, _le, _sum, write_pos

_HEAD = const(10)  # as in iotc.spoolio


def run(sp, what, *args):
    c = sp._c
    if what == "open":
        _open(sp, *args)
        if c._topic is None:
            # Before the first connect: the telemetry topic as the session will name it (the
            # device id; only its property bag is stored), so messages can be stored at once.
            from iotc.topics import telemetry_topic

            c._topic = telemetry_topic(c.device_id, c.content_type,
                                       c.content_encoding).encode()
        hooks.one(c, hooks.SPILL, sp._spill)
        hooks.add(c, hooks.TICK, sp._t)
        hooks.add(c, hooks.GATE, sp._g)
    elif what == "full":
        return _full(sp)
    else:
        hooks.one(c, hooks.SPILL, None)
        hooks.remove(c, hooks.TICK, sp._t)
        hooks.remove(c, hooks.GATE, sp._g)


def _open(sp, max_bytes, max_files, when_full, rate):
    if when_full not in ("drop_oldest", "refuse_newest"):
        raise ValueError("when_full: 'drop_oldest' or 'refuse_newest'")
    size = max_bytes // max(max_files, 1)
    # rate: one a day at least (with room for a single-precision float's rounding), so the
    # pace stays a ticks interval (below 2^29 ms on an ESP).
    if max_files < 1 or size < 256 or not rate > 0 or 1000 / rate > 100000000:
        raise ValueError("spool: max_files >= 1, max_bytes // max_files >= 256, "
                         "rate >= 1 / 86400")
    sp._size = size  # one file's bytes at most
    sp._files = max_files
    sp._drop = when_full == "drop_oldest"
    sp._gap = int(1000 / rate)  # ms between two replayed messages
    d = sp._dir
    try:
        os.mkdir(d)
    except OSError:
        pass  # there already (or the first write says why not)
    segs = sorted(int(n) for n in os.listdir(d) if n.isdigit())
    pos = _read_pos(sp)
    if pos is None:  # a new store (or "pos" torn): replay all there is, again
        sp._id = "{:08x}".format(int.from_bytes(os.urandom(4), "little"))
        seg, off = (segs[0] if segs else 1), 0
    else:
        sp._id, seg, off = pos
    for s in segs:  # passed, but the reset came before they were removed
        if s < seg:
            os.remove(sp._name(s))
    segs = [s for s in segs if s >= seg]
    if segs and seg not in segs:
        # Gone (dropped, or drained): the reader starts at the next one there is.
        seg, off = segs[0], 0
    sp._rs, sp._ro = seg, off  # the next record to send
    sp._cs, sp._co = seg, off  # the next record the hub may not have (as in "pos")
    sp._first = seg
    sp._wsize = 0
    if segs:
        sp._last = segs[-1]
        end, whole = _scan(sp, sp._last)
        if whole:
            sp._wsize = end
        else:  # a torn tail: sealed, the reader stops there; writes go on in a new file
            sp.torn += 1
            sp._last += 1
    else:
        # Empty: a file number never used before, so no (segment, offset) id comes back.
        sp._last = seg + 1 if off else seg
        sp._rs = sp._first = sp._last
        sp._ro = 0
    if pos is None or pos[1:] != (sp._rs, sp._ro):
        write_pos(sp, sp._rs, sp._ro)


def _read_pos(sp):
    try:
        with open(sp._name("pos"), "rb") as f:
            text = f.read(64)
        i, s, o, c = text.decode().split(" ")
        if int(c, 16) != _adler(text[: text.rindex(b" ")]):
            return None
        return i, int(s), int(o)
    except (OSError, ValueError):
        return None


def _scan(sp, seg, off=0, count=False):
    # Walk segment seg's records from off, checking each -> (offset after the last good one,
    # True if nothing follows it: no torn tail), or with count, how many there are (their
    # bodies not read). Streamed, 64 B at a time.
    head = sp._head
    n = 0
    buf = None if count else memoryview(bytearray(64))  # before the open: no file left open
    try:
        f = open(sp._name(seg), "rb")
    except OSError:
        return 0 if count else (off, True)
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


def _full(sp):
    # The store holds max_files files and needs one more -> True: room made.
    if not sp._drop:
        sp.refused += 1
        _tell(sp, "refuse_newest", 1)
        return False
    seg = sp._first
    # What the hub has not had from it is lost: counted for the event.
    lost = 0
    if sp._rs <= seg:
        lost = _scan(sp, seg, sp._ro if sp._rs == seg else 0, True)
        sp._rs, sp._ro = seg + 1, 0
    sp._sent = [e for e in sp._sent if e[1] > seg]
    if sp._cs <= seg:
        write_pos(sp, seg + 1, 0)  # first, then the file goes: a reset between is harmless
    os.remove(sp._name(seg))
    sp._first = seg + 1  # max_files == 1: that was the file being written; _store rolls on
    sp.dropped += lost
    _tell(sp, "drop_oldest", lost)
    return True


def _tell(sp, policy, n):
    sp._c._log("offline store full: {} ({})", policy, n)
    if sp._on_full is not None:
        try:
            sp._on_full(policy, n)
        except Exception as e:  # the application's: never stops a send
            sp._c._log("spool on_full failed: {!r}", e)
