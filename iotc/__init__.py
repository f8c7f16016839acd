"""Azure IoT Central device client for MicroPython.

`import iotc` loads only this file: names, enums and errors. The client itself (`IoTCClient`)
and the optional parts load on first use, so an application pays in RAM only for what it uses.
"""

# iotc: Azure IoT Central for MicroPython boards
# MIT license; Copyright (c) 2026 the iotc authors

__version__ = "1.0.0"


class IoTCConnectType:
    SYMM_KEY = 1  # enrollment group key: the device key is derived from it
    DEVICE_KEY = 2


class IoTCEvents:
    PROPERTIES = 1
    COMMANDS = 2
    ENQUEUED_COMMANDS = 3
    CONNECTION = 4
    MESSAGE_SENT = 5
    TWIN = 6


class IoTCLogLevel:
    DISABLED = 1
    API_ONLY = 2
    ALL = 3


class IoTCError(Exception):
    pass


_MODULES = " certs client connect dps errors inbox link mqtt proto sas session store tls topics "


# Everything else loads on first use: `iotc.X` imports the module that defines X.
def __getattr__(name):
    if name in ("IoTCClient", "ConsoleLogger"):
        mod = "client"
    elif name == "Command":
        mod = "inbox"
    elif name in ("AuthError", "ProvisioningError"):
        mod = "errors"
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
