# iotc more: the names of the optional packages that share the iotc namespace, and which package
# each comes in. Loaded by `iotc.X` only when X is none of the core's names (iotc/__init__.py's
# _HOMES), and dropped again once the name is found: the core pays nothing for this table.
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import _forget

# "Name.module" for each name; a name's package is "iotc-" + its module.
_NAMES = (" Device.legacy IOTConnectType.legacy IOTLogLevel.legacy IOTQosLevel.legacy"
          " IOTCallbackInfo.legacy IOTCConnectType.aio IOTCLogLevel.aio IOTCEvents.aio ")


def package(module):
    # The package to install for iotc.<module> (iotc.x509 -> "iotc-x509").
    return "iotc-" + module


def missing(module, e):
    # The ImportError for iotc.<module> when e says that very module is not installed; None when
    # e is about something else (that module itself failed to import), which then stands.
    if "iotc." + module not in str(e):
        return None
    return ImportError("iotc.{} is not installed: install the {} package (README, Install)"
                       .format(module, package(module)))


def __getattr__(name):
    try:
        i = _NAMES.find(" " + name + ".")
        if i < 0:
            raise AttributeError(name)
        i += len(name) + 2
        module = _NAMES[i : _NAMES.index(" ", i)]
        try:
            mod = __import__("iotc." + module, None, None, (name,))
        except ImportError as e:
            raise missing(module, e) or e
        return getattr(mod, name)
    finally:
        _forget("more")
