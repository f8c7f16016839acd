# Tests: run fn() with a stand-in TLS module (a firmware's TLS this port does not have) under
# both names the library may import: `tls` (1.23+) and `ssl`; the real ones come back after.
import sys


def with_tls(stand_in, fn):
    real = {name: sys.modules.get(name) for name in ("tls", "ssl")}
    for name in real:
        sys.modules[name] = stand_in
    try:
        return fn()
    finally:
        for name, mod in real.items():
            if mod is None:
                del sys.modules[name]
            else:
                sys.modules[name] = mod
