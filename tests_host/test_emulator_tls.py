"""TLS as Azure offers it (PROTOCOL.md §5): TLS 1.2 with ECDHE suites only, on every TLS service
of the emulator. A client offering only RSA key exchange (axTLS's list) or only TLS 1.1 is
refused in the handshake, by the server's alert."""

import socket
import ssl
import uuid
import warnings

import pytest

from emulator import testclient as tc

SERVICES = ["dps", "dps_mqtt", "hub"]
RSA_KX_ONLY = "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256"  # what axTLS offers


def handshake(emulator, service, setup):
    """-> (TLS version, cipher) of a handshake with a client set up by setup(ctx)."""
    host, port = tc.split_hostport(emulator.info[service])
    ctx = tc.tls_context(emulator.info["ca_pem"])
    setup(ctx)
    raw = socket.create_connection((host, port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname=host)
        try:
            return s.version(), s.cipher()[0]
        finally:
            s.close()
    finally:
        raw.close()


def rsa_key_exchange(ctx):
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(RSA_KX_ONLY)


def tls_1_1(ctx):
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1


def ecdhe_only(ctx):
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384")


@pytest.mark.parametrize("service", SERVICES)
def test_ecdhe_client_accepted(emulator, service):
    version, cipher = handshake(emulator, service, ecdhe_only)
    assert version == "TLSv1.2" and cipher.startswith("ECDHE-RSA-")
    version, cipher = handshake(emulator, service, lambda ctx: None)  # Python's defaults
    assert version == "TLSv1.2" and cipher.startswith("ECDHE-")


@pytest.mark.parametrize("service", SERVICES)
def test_rsa_key_exchange_refused(emulator, service):
    with pytest.raises(ssl.SSLError) as e:
        handshake(emulator, service, rsa_key_exchange)
    assert e.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"  # the server's alert: no shared suite


@pytest.mark.parametrize("service", SERVICES)
def test_tls_1_1_refused(emulator, service):
    with pytest.raises(ssl.SSLError) as e:
        handshake(emulator, service, tls_1_1)
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"  # the server's alert


def test_still_serves_after_refusals(emulator):
    dev = "tls-" + uuid.uuid4().hex[:8]
    assert tc.provision(emulator.info, dev)["status"] == "assigned"
