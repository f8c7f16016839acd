# TLS trust settings. The ESP8266's axTLS cannot be reached here, so its `ssl` module is
# replaced by a stand-in with the same surface (named as such below); the library must refuse
# with a clear error rather than connect unverified.
import sys

from iotc import IoTCError


class AxtlsStandIn:
    # Stand-in for ESP8266 firmware 1.20's `ssl`: wrap_socket only, no SSLContext, no CERT_*.
    def wrap_socket(self, sock, **kw):
        raise AssertionError("must not be reached")


class AxtlsContextStandIn:
    # Stand-in for a later axTLS `ssl`: an SSLContext whose verify mode cannot be required.
    CERT_NONE = 0
    CERT_REQUIRED = 2
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol):
            pass

        def __setattr__(self, name, value):
            if name == "verify_mode" and value:
                raise ValueError("only CERT_NONE supported")

        def load_verify_locations(self, cadata=None):
            raise NotImplementedError


def _refuses(fn):
    try:
        fn()
    except IoTCError as e:
        if "cannot verify" not in str(e) or "verify=False" not in str(e):
            raise AssertionError(e)
        return
    raise AssertionError("no clear refusal")


def _with_ssl(stand_in, fn):
    # The stand-in answers both names the library may import: `tls` (1.23+) and `ssl`.
    real = {name: sys.modules.get(name) for name in ("tls", "ssl")}
    for name in real:
        sys.modules[name] = stand_in
    try:
        fn()
    finally:
        for name, mod in real.items():
            if mod is None:
                del sys.modules[name]
            else:
                sys.modules[name] = mod


def test_firmware_without_sslcontext_refuses_to_verify():
    from iotc import tls

    def check():
        if tls.context([b"der"]) is not None:
            raise AssertionError("expected no context")
        _refuses(lambda: tls.params("hub", b"der"))
        eq = tls.params("hub", None)  # the explicit opt-out still works
        if eq != {"server_hostname": "hub"}:
            raise AssertionError(eq)

    _with_ssl(AxtlsStandIn(), check)


def test_context_that_cannot_require_verification_refuses():
    from iotc import tls

    _with_ssl(AxtlsContextStandIn(), lambda: _refuses(lambda: tls.context([b"der"])))


def test_azure_roots_are_the_default_anchors():
    import hashlib

    from iotc import tls

    cas = tls.anchors(None, True)
    if len(cas) != 2 or tls.anchors(None, False) is not None:
        raise AssertionError(cas)
    # DigiCert Global Root G2 first (PROTOCOL.md §5 fingerprint, SHA-256 here).
    import binascii

    got = binascii.hexlify(hashlib.sha256(cas[0]).digest()).decode().upper()
    if got != "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F":
        raise AssertionError(got)
