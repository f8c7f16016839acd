# iotc bench bridge (not part of either client): name resolution for the old client.
# micropython-iotc 1.1.0 always dials global.azure-devices-provisioning.net:443 for DPS and
# {assignedHub}:8883 for the hub. On the bench both are the emulator on loopback, so the
# bench installs this module as sys.modules["socket"] and ["usocket"] for the old client only;
# it changes nothing but the addresses getaddrinfo returns: the global DPS name goes to
# $BENCH_DPS ("host:port", the emulator's DPS), and an assignedHub of the form "host:port"
# (what the emulator hands out when its hub is not on 8883) is split, since the old client
# appends 8883 to any name. The bench runs its hub on 8883, so that case is a fallback.
import os
import socket as _socket
from socket import *  # noqa: F401,F403  (the real module's names, unchanged)

_DPS_NAME = "global.azure-devices-provisioning.net"


def _split(hostport):
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def getaddrinfo(host, port, *args):
    if host == _DPS_NAME:
        host, port = _split(os.getenv("BENCH_DPS"))
    elif ":" in host:
        host, port = _split(host)
    return _socket.getaddrinfo(host, port, *args)
