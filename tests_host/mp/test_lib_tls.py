# TLS trust settings. The ESP8266's axTLS cannot be reached here, so its `ssl` module is
# replaced by a stand-in with the same surface (named as such below); the library must refuse
# with a clear error rather than connect unverified. Older firmware generations run for real
# in `make fwcheck`; the stand-ins below pin down what each needs under any firmware.
import os

from iotc import IoTCError
from standin import with_tls


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


class ContextWithoutCAsStandIn(AxtlsContextStandIn):
    # Stand-in for firmware 1.21's `ssl` (mbedTLS), the same constants: an SSLContext that
    # takes no CA, beside the legacy wrap_socket(), which does (cadata=).
    class SSLContext:
        def __init__(self, protocol):
            pass

    class wrap_socket:  # a TLS socket, made and closed by the library
        def __init__(self, sock, **kw):
            self.made = kw

        def close(self):
            self.made["closed"] = True


class MbedtlsVersionStandIn:
    # Stand-in for an `ssl` that names its mbedTLS (firmware 1.22 and later).
    def __init__(self, version):
        if version:
            self.MBEDTLS_VERSION = version


def _refuses(fn):
    try:
        fn()
    except IoTCError as e:
        if "cannot verify" not in str(e) or "verify=False" not in str(e):
            raise AssertionError(e)
        return
    raise AssertionError("no clear refusal")




def test_firmware_without_sslcontext_refuses_to_verify():
    from iotc import tls

    class Client:
        ca_file = None
        verify = True

    def check():
        c = Client()
        _refuses(lambda: tls.run(c))  # at the trust phase, before any connection
        c.verify = False  # the explicit opt-out still works
        tls.run(c)
        if c._tls != [None, {}]:  # the legacy wrap, without a TLS socket made beforehand
            raise AssertionError(c._tls)

    with_tls(AxtlsStandIn(), check)


def test_context_that_cannot_require_verification_refuses():
    from iotc import tls

    with_tls(AxtlsContextStandIn(), lambda: _refuses(lambda: tls.context(None, True)))


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


def test_firmware_whose_context_takes_no_ca_verifies_with_the_legacy_wrap():
    from iotc import tls

    def check():
        spare, kw = tls.context(None, True)
        if spare.made != {"do_handshake": False, "closed": True}:
            raise AssertionError(spare.made)  # a socket's block, made (unconnected) and closed
        if kw != {"cert_reqs": 2, "cadata": tls.anchors(None, True)[0]}:
            raise AssertionError(kw)  # the legacy wrap verifies, with the first anchor
        if isinstance(tls.context(None, False), list):  # verify=False: the context serves
            raise AssertionError("expected a context")

    with_tls(ContextWithoutCAsStandIn, check)


def test_untrusted_names_the_cause_when_an_ip_address_meets_an_old_mbedtls():
    from iotc import tls

    def message(version, host, e):
        out = []
        with_tls(MbedtlsVersionStandIn(version), lambda: out.append(str(tls.untrusted(host, e))))
        return out[0]

    # Before 1.22 a certificate that does not verify is an OSError, and only its text is shown.
    e = OSError(-9984, "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED")
    m = message("mbed TLS 2.28.3", "192.168.1.20", e)
    if not m.startswith("TLS: the certificate of 192.168.1.20 is not trusted "
                        "(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED); ") or "host name" not in m:
        raise AssertionError(m)
    for version, host in (("mbed TLS 2.28.3", "mypc.local"), ("Mbed TLS 3.5.1", "192.168.1.20"),
                          ("Mbed TLS 3.6.6", "192.168.1.20")):
        m = message(version, host, ValueError("\nnot signed by a trusted CA\n"))
        if m != "TLS: the certificate of {} is not trusted (not signed by a trusted CA)".format(
                host):
            raise AssertionError(m)
    if "IP address" not in message(None, "10.0.0.2", e):  # no MBEDTLS_VERSION: 1.21 or older
        raise AssertionError("firmware without MBEDTLS_VERSION has an mbedTLS before 3.5")


def test_dialling_the_emulator_by_its_ip_address():
    # Its certificate names its address (the fixture binds it to 127.0.0.1): this firmware's
    # mbedTLS either matches it, or cannot (before 3.5) and the refusal says why.
    from iotc import IoTCError, tls
    from iotc.session import open_tls

    class Client:
        ca_file = os.getenv("IOTC_EMU_CA")
        verify = True

    c = Client()
    tls.run(c)
    port = int(os.getenv("IOTC_EMU_DPS").rsplit(":", 1)[1])
    import ssl

    version = getattr(ssl, "MBEDTLS_VERSION", None)  # firmware 1.22+: "mbed TLS 2.28.3"
    old = version is None or [int(n) for n in version.split()[-1].split(".")[:2]] < [3, 5]
    try:
        open_tls(c, "127.0.0.1", port).close()
    except IoTCError as e:
        if not old or "IP address" not in str(e):
            raise AssertionError("mbedTLS {}: {}".format(version, e))
        return
    if old:
        raise AssertionError("mbedTLS {} matched an IP address".format(version))
