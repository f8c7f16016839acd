# iotc enums: the public constants. Loaded on first use (`from iotc import IoTCEvents`), so
# `import iotc` alone stays a few hundred bytes of heap.
# MIT license; Copyright (c) 2026 the iotc authors


class IoTCConnectType:
    SYMM_KEY = 1  # enrollment group key: the device key is derived from it
    DEVICE_KEY = 2
    X509_CERT = 3  # a device certificate and key (files): docs/x509.md


class IoTCEvents:
    # The library passes these as plain numbers (iotc.client, .resume, .inbox, .desired,
    # .command), each marked with its name; the tests register every event by name.
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
