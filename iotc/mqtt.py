# iotc mqtt: the MQTT session on the hub's TLS connection, a phase of a (re)connect, freed
# after: CONNECT through umqtt.simple, which is loaded only for it.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import sys

from iotc import IoTCError


class _Handover:
    # Stands in for umqtt.simple's `socket` module while its connect() runs. The TLS session
    # is already open, with our trust, so socket() hands it over and connect() does nothing:
    # every umqtt.simple release, whatever ssl arguments it takes, then only writes CONNECT
    # and reads CONNACK. Its writes are gathered in one buffer, made before umqtt.simple loads
    # (grown only if a release writes more), and leave as one TLS record.
    def __init__(self, sock, size):
        self.sock = sock
        self.buf = bytearray(size)
        self.n = 0

    def socket(self, *args):
        return self

    connect = settimeout = socket  # nothing to do: what they return is not used

    def getaddrinfo(self, *args):
        return ((None,),)

    def write(self, data, n=None):
        n = len(data) if n is None else n
        end = self.n + n
        if end > len(self.buf):
            self.buf.extend(bytes(end - len(self.buf)))
        self.buf[self.n : end] = memoryview(data)[:n]
        self.n = end
        return n

    def read(self, n):
        b = self.buf
        if b:
            m = self.n
            i = 0
            if not (b[m - 1] or b[m - 2]):
                # An empty password (X.509) ends the packet: umqtt.simple sends one with any
                # user name, IoT Hub expects none. Drop it and its flag, and write the length
                # again, right-aligned before the variable header (it can only get shorter).
                i = 1
                while b[i] & 0x80:
                    i += 1
                b[i + 8] &= 0xBF  # the connect flags: no password
                m -= 2
                size = m - i - 1
                if size > 0x7F:
                    b[i] = size >> 7
                    i -= 1
                    size = size & 0x7F | 0x80
                b[i] = size
                i -= 1
                b[i] = 0x10
            self.sock.write(memoryview(b)[i:m])
            self.buf = None
        return self.sock.read(n)


def mqtt_connect(sock, client_id, host, user, password, keepalive):
    # CONNECT (clean session off: queued C2D and subscriptions survive) through umqtt.simple,
    # loaded after the TLS handshake, the peak of a connect, and dropped again.
    had_umqtt = "umqtt.simple" in sys.modules
    had_pkg = "umqtt" in sys.modules
    gc.collect()
    # CONNECT: fixed header (up to 5 B), variable header (10 B), three length-prefixed strings.
    handover = _Handover(sock, 21 + len(client_id) + len(user) + len(password))
    import umqtt.simple as simple

    c = simple.MQTTClient(client_id, host, 0, user, password, keepalive)
    real = simple.socket
    simple.socket = handover
    try:
        c.connect(False)
    except simple.MQTTException as e:
        from iotc.failure import connack  # the words load only for a refusal

        raise connack(e.args[0] if e.args else 0)
    except (OSError, IoTCError, MemoryError):
        raise
    except Exception as e:  # a CONNACK umqtt.simple could not read
        raise OSError("MQTT connect to {} failed: {!r}".format(host, e))
    finally:
        simple.socket = real
        if not had_umqtt:  # only CONNECT needs it: let the GC have it back
            sys.modules.pop("umqtt.simple", None)
            pkg = sys.modules.get("umqtt")
            if not had_pkg:
                sys.modules.pop("umqtt", None)
            elif hasattr(pkg, "simple"):
                delattr(pkg, "simple")


def run(client, fresh, sock, dev, host, user, password):
    # -> the next phase: iotc.resume once CONNACK accepts us; iotc.connect again, to provision,
    # when the hub refuses an assignment that came from the cache (PROTOCOL.md §6). fresh: True
    # when the assignment came from DPS in this connect, else connect's force_dps (False/None).
    try:
        mqtt_connect(sock, dev, host, user, password, client.keepalive)
    except IoTCError as e:
        sock.close()
        from iotc.errors import AuthError  # loaded already when the hub refused us

        if not isinstance(e, AuthError):
            raise
        client._assigned = False  # refused: the hub is asked again only after DPS
        if fresh:
            raise
        client._log("hub refused the cached assignment; provisioning again")
        return "connect", fresh  # healing (None), the DPS gap still holds
    except BaseException:
        sock.close()
        raise
    del password, user
    gc.collect()
    from iotc.link import Link

    client._link = Link(sock)
    return ("resume",)
