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
# Held in RAM: this module and the Spool object, a few hundred bytes with the store empty. The
# storing and replaying are in iotc.spoolio, loaded while the store is in use (a message
# stored, or waiting) and dropped once it is empty again; the rare work (opening a store,
# the recovery, making room when full, leaving) in iotc.spoolfs, loaded for it and dropped
# after.

import time

from iotc import _forget


class Spool:
    def __init__(self, client, path="/spool", max_bytes=65536, max_files=8,
                 when_full="drop_oldest", rate=5, on_full=None):
        # on_full(policy, count): called when the store is full, with "drop_oldest" and the
        # number of unsent messages dropped with the oldest file, or "refuse_newest" and 1.
        self._c = client
        self._dir = path.rstrip("/")
        self._on_full = on_full
        self._head = bytearray(10)  # a record's header, read and written here
        self._sent = []  # (pid, or 0 for QoS 0, segment, end): replayed, not yet committed
        self._busy = False  # replaying: the spill of our own publish is not a new message
        self._next = time.ticks_ms()
        self._io = None  # iotc.spoolio while the store is in use
        # One bound method each: the one registered is the one removed.
        self._t = self._tick
        self._g = self._gate
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
            if self._io is None:
                _forget("spoolio")

    def _use(self):
        io = self._io
        if io is None:
            io = self._io = __import__("iotc.spoolio", None, None, ("tick",))
        return io

    def close(self):
        # Leave the client; what is stored stays for the next Spool on this folder.
        self._fs("close")

    def pending(self):
        # -> True while stored messages wait to be sent (new ones then go to the store too).
        return self._rs < self._last or self._ro < self._wsize

    def _name(self, seg):
        return "{}/{}".format(self._dir, seg)

    def _spill(self, topic, payload, qos, offline):
        # The SPILL hook -> True: taken (stored, or refused when full), the core keeps nothing.
        if self._busy:  # our own replay: stored already; failed, it goes again after a reconnect
            return offline
        if not (offline or self.pending()):
            return False  # nothing waits: the core sends it now
        return self._use().spill(self, topic, payload, qos)

    def _gate(self, force_dps):
        # The GATE hook, at the start of each connect: never holds it, but drops iotc.spoolio
        # (kept while storing offline), so that the connect, the heap's worst moment, runs
        # without it; the replay loads it again.
        if self._io is not None:
            self._io = None
            _forget("spoolio")
        return False

    def _tick(self):
        # The TICK hook (listen(), link up): replays while the store is in use; the store
        # empty, iotc.spoolio goes.
        if self._sent or self.pending():
            self._use().tick(self)
        elif self._io is not None:
            self._io = None
            _forget("spoolio")
