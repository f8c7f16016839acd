"""Azure IoT Central device client for MicroPython.

`import iotc` loads only this file: the version, IoTCError and the lazy loader. The enums,
the client itself (`IoTCClient`) and the optional parts load on first use, so an application
pays in RAM only for what it uses.
"""

# iotc: Azure IoT Central for MicroPython boards
# MIT license; Copyright (c) 2026 the iotc authors

__version__ = "1.0.0"


class IoTCError(Exception):
    pass


# The public names defined elsewhere, each with its module: one text, not a tuple of texts (a
# text costs 64 B of heap or more while this module is loaded, however short the list). "*"
# names iotc.more, where the names of the optional packages (iotc-legacy, iotc-aio, ...) are
# looked up: loaded only on a miss here, so they cost this module nothing.
_HOMES = (" IoTCConnectType.enums IoTCEvents.enums IoTCLogLevel.enums IoTCClient.client"
          " AuthError.errors ProvisioningError.errors ConsoleLogger.console Command.command"
          " Credentials.store FileStorage.store MemoryStorage.store *.more ")


# Everything else loads on first use: `iotc.X` imports the module that defines X.
def __getattr__(name):
    key = " " + name + "."
    i = _HOMES.find(key)
    if i < 0:
        # `from iotc import sas` lands here on MicroPython before the submodule import.
        try:
            return __import__("iotc." + name, None, None, (name,))
        except ImportError:
            key = " *."  # not ours: iotc.more knows the optional packages' names
            i = _HOMES.find(key)
    i += len(key)
    mod = _HOMES[i : _HOMES.index(" ", i)]
    value = getattr(__import__("iotc." + mod, None, None, (name,)), name)
    globals()[name] = value
    return value


def _forget(*names):
    # Drop modules needed only now and then (provisioning, connecting) so the GC can free them.
    import sys

    g = globals()
    for n in names:
        sys.modules.pop("iotc." + n, None)
        g.pop(n, None)


def _phase(client, name, *args):
    # -> iotc.<name>.run(client, *args), with the module loaded for it and dropped after, along
    # with what such a step loads for a moment. A connect runs as a chain of these.
    import gc

    gc.collect()  # the module then fills the lowest holes, not the top of the heap
    mod = None
    try:
        # Inside the try: firmware 1.20 keeps a module whose import failed (a MemoryError) in
        # sys.modules, and the next phase of that name would get it half made.
        mod = __import__("iotc." + name, None, None, ("run",))
        return mod.run(client, *args)
    finally:
        mod = None
        _forget(name, "sas", "topics", "tls", "certs", "store", "failure", "session")
        gc.collect()
