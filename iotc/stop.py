# iotc stop: the cloud stops the client (the optional package iotc-stop). The command iotcStop
# (a direct method or an offline command; payload none, N or {"seconds": N}) is answered 200,
# kept in a file, and the client disconnects with the reason "stopped by the cloud"; it stays
# down, across reboots too, until the stop expires or the application ends it. Joins the client
# through iotc.hooks (COMMAND, TICK, LINK, GATE); docs/stop.md says exactly when a stop ends.
# MIT license; Copyright (c) 2026 the iotc authors

import time

from micropython import const

from iotc import _forget
from iotc.hooks import COMMAND, GATE, LINK, TICK, add, named

NAME = "iotcStop"  # the command (docs/stop.md, fleet-template.json)
REASON = "stopped by the cloud"  # the CONNECTION event's reason
_DAY_S = const(86400)  # a held connect looks again at least daily: ticks stay below 2^29 ms


def _now():
    # Unix time, whatever the board's epoch (iotc.sas); that module is not kept.
    from iotc.sas import unix_time

    try:
        return unix_time()
    finally:
        _forget("sas", "topics")


class Stop:
    def __init__(self, client, path="/iotc_stop.json"):
        self._client = client
        self.path = path
        self.stopped = False
        self.until = None  # while stopped: the Unix time it ends, or None: until cleared
        self._secs = None  # its length in seconds, as the cloud gave it
        self._t0 = None  # the clock is behind the stop's start (unset): when this run saw it
        self._here = False  # it came in this run: the application's next connect() ends it
        self._cut = False  # the link goes at the next TICK
        self._held = False  # the stop kept the client down in this run (clear() connects)
        try:
            with open(path) as f:
                import json

                d = json.load(f)
            u, n = d["until"], d["seconds"]
            self.until = None if u is None else int(u)
            self._secs = None if n is None else int(n)
            self.stopped = True
        except OSError:  # no stop kept
            pass
        except Exception as e:  # not ours or cut short: a board that never comes back is worse
            client._log("{}: {} ignored ({!r})", NAME, path, e)
        self._cut = self.stopped and client._link is not None  # made after connect(): down
        named(client, COMMAND, NAME, self._command)
        # The first TICK: once a stop is answered, no other extra (a replay, a held message)
        # sends in that listen() call, whichever was made first.
        client._events.setdefault(TICK, []).insert(0, self._tick)
        add(client, LINK, self._link)
        add(client, GATE, self._gate)

    def left(self):
        # -> seconds until the stop ends (0 or less: it has), or None: until cleared.
        if self.until is None:
            return None
        now = _now()
        if self._secs and now < self.until - self._secs:
            # The clock is earlier than when the stop came: it is not set (a board without a
            # kept clock, after a power cut). How much has passed cannot be known: the stop
            # runs its whole length again, from the first time this run looked.
            if self._t0 is None:
                self._t0 = now
            return self._t0 + self._secs - now
        return self.until - now

    def clear(self):
        # End the stop (and forget it on flash). A client the stop kept down in this run (its
        # link cut, or a connect() held) connects at the next listen().
        c = self._client
        held = self._held and c._link is None
        self._end()
        if held:
            c._due = time.ticks_ms()

    def _end(self):
        self.stopped = self._here = self._cut = self._held = False
        self.until = self._secs = self._t0 = None
        import os

        try:
            os.remove(self.path)
        except OSError:
            pass

    def _command(self, command, ack=None):
        # The COMMAND hook: (command, ack) for a direct method, (command) for an offline one.
        v = command.value
        if isinstance(v, dict):
            v = v.get("seconds")
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            err = "{}: seconds above 0, or none for a stop until cleared".format(NAME)
            if ack:
                ack(command, {"error": err}, 400)
            else:
                self._client._log(err)
            return
        secs = None if v is None else int(v) + (v > int(v))  # whole seconds, rounded up
        until = None if secs is None else _now() + secs
        if ack:  # first: IoT Central shows the device's answer
            ack(command, {"until": until}, 200)
        self.stopped = self._here = self._cut = True
        self.until, self._secs, self._t0 = until, secs, None
        try:
            import json
            import os

            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"until": until, "seconds": secs}, f)
            try:
                os.rename(tmp, self.path)
            except OSError:  # FAT renames onto no file
                os.remove(self.path)
                os.rename(tmp, self.path)
        except OSError as e:  # the stop holds in this run only
            self._client._log("{}: not kept on flash ({!r})", NAME, e)

    def _tick(self):
        # The TICK hook: the link ends here, after the command's answer went; listen() closes
        # it and reports REASON (CONNECTION event), and the LINK hook keeps it down.
        if self._cut:
            raise OSError(REASON)

    def _link(self, connected, reason):
        # The LINK hook: after the link this stop cut, no healing: the next try is at its end.
        if not connected and self._cut:
            self._cut = False
            c = self._client
            c._failures = 0
            c._tls = False  # the trust is made again at the next connect, as disconnect() does
            self._held = True
            self._wait()

    def _gate(self, force_dps):
        # The GATE hook, at each connect(): True holds it. force_dps None: listen() healing (or
        # waking at the stop's end), else the application's connect().
        if not self.stopped:
            return False
        if force_dps is not None and self._here:
            self._end()  # the application connects again in the run the stop came in
            return False
        left = self.left()
        if left is not None and left <= 0:
            self._end()
            return False
        self._cut = False
        self._held = True
        self._client._tls = False
        self._wait(left)
        c = self._client
        c._emit(4, False, REASON if self.until is None
                else "{} until {}".format(REASON, self.until))  # IoTCEvents.CONNECTION
        return True

    def _wait(self, left=-1):
        # listen() comes back at the stop's end (looking again at least daily), or never.
        if left == -1:
            left = self.left()
        c = self._client
        c._due = None if left is None else time.ticks_add(
            time.ticks_ms(), max(1, min(left, _DAY_S)) * 1000)
        c._log("{}: no connect until {}", NAME, "cleared" if left is None else self.until)
