# Device script for tests_host/test_lib_tls.py's axTLS heap check: a client connects through
# a stand-in for the ESP8266's `tls` (axTLS), in the heap the test gives (-X heapsize).
# AxtlsShapeStandIn is a stand-in, named as such: the unix port has no axTLS. It has the shape
# the library tells axTLS by (no CERT_REQUIRED, an SSLContext without load_verify_locations)
# and does the handshake with the port's real mbedTLS, without verification, as axTLS would.
# It prints the free heap when the handshake starts: the test sizes the heap from it.
import gc
import os
import sys

import tls as _real

from standin import with_tls


class AxtlsShapeStandIn:
    CERT_NONE = 0
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol):
            self._ctx = _real.SSLContext(_real.PROTOCOL_TLS_CLIENT)
            self._ctx.verify_mode = _real.CERT_NONE

        def __setattr__(self, name, value):
            if name == "verify_mode":
                if value:
                    raise ValueError("only CERT_NONE supported")
            else:
                object.__setattr__(self, name, value)

        def wrap_socket(self, sock, server_hostname=None):
            gc.collect()
            print("handshake with free heap", gc.mem_free())
            return self._ctx.wrap_socket(sock, server_hostname=server_hostname)


def main():
    from iotc import IoTCClient, IoTCConnectType

    client = IoTCClient(os.getenv("IOTC_EMU_SCOPE"), os.getenv("AXTLS_DEVICE"),
                        IoTCConnectType.SYMM_KEY, os.getenv("IOTC_EMU_GROUP_KEY"),
                        endpoint=os.getenv("IOTC_EMU_DPS"), verify=False)
    try:
        client.connect()
    except MemoryError as e:
        print("MemoryError:", e)
        sys.exit(3)
    print("connected")
    client.disconnect()


with_tls(AxtlsShapeStandIn(), main)
