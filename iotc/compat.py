# iotc compat: callbacks written for micropython-iotc, whose signatures were shorter by one
# argument (a property callback (name, value), a command callback (command), which answers with
# command.reply(payload=None, status=200)). Loaded only when a callback refuses the arguments
# it is given; the adapter it installs keeps it loaded.
# MIT license; Copyright (c) 2026 the iotc authors


def _arity(e):
    # A TypeError of the call itself (the wrong number of arguments), not one from inside.
    # "mismatch": a firmware built with terse error messages.
    m = str(e)
    return "positional" in m or "mismatch" in m


def run(client, event, cb, e, *args):
    # cb(*args) raised e, a TypeError. A callback that takes one argument fewer is called so,
    # and from then on through an adapter put in its place in client._events (found out once).
    # Otherwise e was the callback's own error, and is raised as it was.
    if not _arity(e):
        raise e

    def adapter(*a):
        if event == 2:  # a command (command, ack): 1.1 answered it with command.reply()
            command, ack = a
            command.reply = lambda payload=None, status=200: ack(command, payload, status)
        return cb(*a[:-1])

    client._events[event] = adapter
    try:
        return adapter(*args)
    except TypeError as e2:
        if _arity(e2):  # it takes neither: the first error was the callback's own
            client._events[event] = cb
            raise e
        raise
