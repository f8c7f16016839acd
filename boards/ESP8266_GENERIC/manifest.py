# iotc: frozen manifest for ESP8266_GENERIC, 2 MiB+ flash (make firmware BOARD=ESP8266_GENERIC ...)
# MIT license; Copyright (c) 2026 the iotc authors

# The board's default manifest: port modules, bundle-networking (ntptime, ssl), asyncio and the
# frozen umqtt.simple / umqtt.robust. Our own require("umqtt.simple") resolves to that same copy.
# (The FLASH_1M and FLASH_512K variants have no room for this; 2 MiB+ boards only.)
include("$(BOARD_DIR)/manifest_2MiB.py")

# Core files are listed one by one, so a module added to iotc/ is frozen here only by decision
# (tests_host/test_ship.py fails until it is in FROZEN or LEFT_OUT). Frozen bytecode runs from
# flash; a module costs heap only once imported, and the library imports lazily, so what is
# listed here costs flash (about 24.5 KB of .mpy for all of it, `make mpy`), not RAM.
FROZEN = (
    "__init__.py",  # the version, IoTCError, the lazy loader: `import iotc`
    "enums.py",  # IoTCConnectType, IoTCEvents, IoTCLogLevel (loaded on first use)
    "client.py",  # the session object: connect, listen, send
    "errors.py",  # AuthError, ProvisioningError (loaded when one is raised, then kept)
    "failure.py",  # the words of a DPS or CONNECT failure (loaded to build the error)
    "config.py",  # IoTCClient()'s arguments checked, the client's attributes set (then freed)
    "console.py",  # ConsoleLogger, for code that names it (loaded only then)
    "connect.py",  # the first phase of a (re)connect: trust, then DPS or the hub (then freed)
    "resume.py",  # the end of a connect: subscriptions, twin, resends (loaded for it)
    "session.py",  # SAS token and TLS to the hub (loaded for a (re)connect, freed after)
    "mqtt.py",  # CONNECT through umqtt.simple (loaded for a (re)connect)
    "link.py",  # MQTT packets on the hub socket
    "offline.py",  # a dropped link (backoff, jitter) or disconnect() (loaded for it)
    "inbox.py",  # what the hub sends: twin answers here, the rest through the next two
    "desired.py",  # writable properties, acknowledged (loaded for each patch, and after connect)
    "command.py",  # commands and C2D (loaded for each one)
    "compat.py",  # micropython-iotc's callback shapes (loaded only for such a callback)
    "proto.py",  # what the hub sends, understood: topic classification (pure)
    "topics.py",  # what the device sends: hub username, telemetry topics, property bags (pure)
    "sas.py",  # HMAC-SHA256, device-key derivation, SAS tokens
    "dps.py",  # provisioning; also needed after a reboot unless FileStorage cached it
    "tls.py",  # trust settings; raises the clear "cannot verify" error on axTLS
    "certs.py",  # Azure roots as DER; axTLS cannot use them, but tls.py reaches the clear
    # error through them (verify=True, no ca_file), and constants stay in flash
    "store.py",  # FileStorage: skip DPS at boot, saving a TLS handshake and its heap
    "more.py",  # where the optional packages' names live (loaded only for such a name)
    "hooks.py",  # where an extra joins a client (loaded only by an extra, e.g. a mip-installed one)
)
# Left out on purpose, with the reason. Nothing yet: every core module is on the path of
# connect() or of a feature an ESP8266 user needs.
LEFT_OUT = ()

include("../../manifest.py", files=FROZEN)

# The optional packages frozen here, by name (packages/<name>/; README, Install), each with the
# reason: none. The layers for code written for other clients (iotc-legacy, iotc-aio) and
# X.509 (iotc-x509: axTLS cannot present a client certificate) are not for this board; an
# extra that one ESP8266 application needs is frozen by adding its line here (MicroPython
# v1.22+, for add_library()).
EXTRAS = ()
if EXTRAS:
    add_library("iotc", "../../packages")
    for name in EXTRAS:
        require(name, library="iotc")
