# iotc bench instrument (not part of either client): counts the MQTT bytes a client hands to TLS.
# install() makes this module `tls` in sys.modules; its SSLContext wraps every TLS socket it makes
# in a stream that counts the bytes written into it (the plaintext: MQTT packets). The frozen
# `ssl` module, umqtt's `ussl` alias and a direct `import tls` all end up here, so the count
# sits at the same layer for both clients. Used only in the bytes-per-message run: the wrapper
# adds a Python call to every write, so heap and speed are measured without it.
import io
import select
import sys

import tls as _tls
from tls import *  # noqa: F401,F403  (this module stands in for `tls`: same names)

written = [0]  # plaintext bytes written into TLS sockets, all connections


class _Counting(io.IOBase):
    def __init__(self, s):
        self._s = s

    def write(self, buf, *n):
        r = self._s.write(buf, *n)
        if r:
            written[0] += r
        return r

    def read(self, *n):
        return self._s.read(*n)

    def readinto(self, *a):
        return self._s.readinto(*a)

    def readline(self, *a):
        return self._s.readline(*a)

    def recv(self, n):
        return self._s.read(n)

    def send(self, buf):
        return self.write(buf)

    def setblocking(self, flag):
        return self._s.setblocking(flag)

    def settimeout(self, t):
        return self._s.settimeout(t)

    def close(self):
        return self._s.close()

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL: ask the wrapped socket without blocking
            p = select.poll()
            p.register(self._s, arg)
            ev = p.poll(0)
            return ev[0][1] & arg if ev else 0
        return 0

    def __getattr__(self, name):
        return getattr(self._s, name)


class SSLContext:
    # The real context inside; its settable attribute is passed through as a property (a
    # subclass of the native type would keep verify_mode in the instance, not in mbedTLS).
    def __init__(self, *a):
        self._c = _tls.SSLContext(*a)

    @property
    def verify_mode(self):
        return self._c.verify_mode

    @verify_mode.setter
    def verify_mode(self, v):
        self._c.verify_mode = v

    def wrap_socket(self, sock, *a, **kw):
        return _Counting(self._c.wrap_socket(sock, *a, **kw))

    def __getattr__(self, name):
        return getattr(self._c, name)


def install():
    sys.modules["tls"] = sys.modules[__name__]
    sys.modules.pop("ssl", None)
