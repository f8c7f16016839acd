# iotc hooks: where the optional packages (iotc-spool, iotc-rate, iotc-stop, iotc-ota) join a
# client. The core looks each hook up in client._events under a number beside the
# application's events (1-6, IoTCEvents): numbers, not names, because a name in a core module
# would be interned for good on the board, used or not. A client with no extra pays one dict
# lookup at each place below, and nothing else. Loaded by the extras only.
#
#  key           where the core looks        what it calls, and what it does with the answer
#  SEND      7   send_telemetry()            fn(payload, properties, component) -> the payload
#                                            to send now, or None: held or dropped (iotc.rate)
#  SPILL     8   before a telemetry PUBLISH  fn(topic, payload, qos, offline) -> True: taken,
#                and when its write failed   the core keeps nothing (iotc.spool)
#  TICK      9   listen(), link up           each fn() once a call; an OSError ends the link
#  PROPERTY 10   a desired property          {name: fn}: fn(name, value, component) answers it
#                                            as a PROPERTIES callback would, instead of it
#  COMMAND  11   a command, an offline one   {name: fn}: fn(command, ack) for a command,
#                                            fn(command) for an offline one, instead of the
#                                            COMMANDS / ENQUEUED_COMMANDS callbacks
#  LINK     12   after the CONNECTION event  each fn(connected, reason)
#  GATE     13   connect() begins            each fn(force_dps) -> True: no connect now; fn set
#                                            client._due (a retry time, or None) and said why
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

from iotc import IoTCError

SEND = const(7)
SPILL = const(8)
TICK = const(9)
PROPERTY = const(10)
COMMAND = const(11)
LINK = const(12)
GATE = const(13)


def one(client, key, fn):
    # SEND, SPILL: one extra each (fn None: let it go).
    if fn is not None and client._events.get(key) is not None:
        raise IoTCError("another extra holds hook {} of this client".format(key))
    if fn is None:
        client._events.pop(key, None)
    else:
        client._events[key] = fn


def add(client, key, fn):
    # TICK, LINK, GATE: several extras, called in the order they were added.
    client._events.setdefault(key, []).append(fn)


def remove(client, key, fn):
    fns = client._events.get(key)
    if fns and fn in fns:
        fns.remove(fn)


def named(client, key, name, fn):
    # PROPERTY, COMMAND: the extra answers this name itself (its documented name).
    client._events.setdefault(key, {})[name] = fn
