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


_MODULES = (" certs client command config connect console desired dps enums errors failure"
            " inbox link mqtt offline proto resume sas session store tls topics ")


# Everything else loads on first use: `iotc.X` imports the module that defines X.
def __getattr__(name):
    if name in ("IoTCConnectType", "IoTCEvents", "IoTCLogLevel"):
        mod = "enums"
    elif name == "IoTCClient":
        mod = "client"
    elif name in ("AuthError", "ProvisioningError"):
        mod = "errors"
    elif name == "ConsoleLogger":
        mod = "console"
    elif name == "Command":
        mod = "command"
    elif name in ("Credentials", "FileStorage", "MemoryStorage"):
        mod = "store"
    elif " " + name + " " in _MODULES:
        # `from iotc import sas` lands here on MicroPython before the submodule import.
        return __import__("iotc." + name, None, None, (name,))
    else:
        raise AttributeError(name)
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
    mod = __import__("iotc." + name, None, None, ("run",))
    try:
        return mod.run(client, *args)
    finally:
        del mod
        _forget(name, "sas", "topics", "tls", "certs", "store", "failure")
        gc.collect()
