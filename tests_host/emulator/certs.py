"""The emulator's own certificate authority and server certificate.

At first start a CA and a server certificate signed by it are written to the state folder:
  ca.pem, ca.der      the CA to trust on the device side (PEM for CPython, DER for a board)
  ca.key              the CA's private key (stays in the state folder)
  server.pem/.key     the TLS certificate all three TLS services present
Later starts reuse them. The server certificate is issued again (by the same CA, so devices keep
trusting it) when its subject alternative names no longer cover the names and addresses the
emulator serves, or when it is close to expiry. RSA 2048 keys: every TLS stack a board may run
(mbedTLS, axTLS) can verify them.
"""

import datetime
import ipaddress
import os
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "iotc emulator CA"
CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path, data, private=False):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    if private:
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _split_names(names):
    """Sort names into IP addresses and DNS names (the SAN entries they need)."""
    ips, dns = set(), set()
    for n in names:
        n = n.strip("[]")
        if not n:
            continue
        try:
            ips.add(ipaddress.ip_address(n))
        except ValueError:
            dns.add(n.lower())
    return ips, dns


def local_addresses():
    """Addresses a wildcard bind (0.0.0.0 / ::) answers on, as far as we can tell cheaply."""
    found = {socket.gethostname()}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(info[4][0])
    except OSError:
        pass
    return found


def _make_ca(state):
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(os.path.join(state, "ca.key"), _key_pem(key), private=True)
    _write(os.path.join(state, "ca.pem"), cert.public_bytes(serialization.Encoding.PEM))
    _write(os.path.join(state, "ca.der"), cert.public_bytes(serialization.Encoding.DER))
    return cert, key


def _load_ca(state):
    try:
        with open(os.path.join(state, "ca.pem"), "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(state, "ca.key"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError):
        return None
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return None
    if not os.path.exists(os.path.join(state, "ca.der")):
        _write(os.path.join(state, "ca.der"), cert.public_bytes(serialization.Encoding.DER))
    return cert, key


def _server_covers(state, ca_cert, ips, dns):
    """True when server.pem exists, is signed by this CA, is not near expiry, names everything."""
    try:
        with open(os.path.join(state, "server.pem"), "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        if not os.path.exists(os.path.join(state, "server.key")):
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except Exception:
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    have_dns = {d.lower() for d in san.get_values_for_type(x509.DNSName)}
    return ips <= have_ips and dns <= have_dns


def _make_server(state, ca_cert, ca_key, ips, dns):
    key = _new_key()
    cn = sorted(dns)[0] if dns else str(sorted(ips, key=str)[0])
    san = [x509.DNSName(d) for d in sorted(dns)]
    san += [x509.IPAddress(i) for i in sorted(ips, key=str)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(os.path.join(state, "server.key"), _key_pem(key), private=True)
    _write(os.path.join(state, "server.pem"), cert.public_bytes(serialization.Encoding.PEM))


def ensure(state, names):
    """Make sure the state folder holds a CA and a server certificate covering `names`.

    `names` are host names and IP addresses (wildcard binds are expanded by the caller).
    Returns a dict of absolute paths: ca_pem, ca_der, cert, key; and "issued" (what was made now).
    """
    os.makedirs(state, exist_ok=True)
    names = set(names) | {"localhost", "127.0.0.1", "::1"}
    ips, dns = _split_names(names)
    issued = []
    ca = _load_ca(state)
    if ca is None:
        ca = _make_ca(state)
        issued.append("ca")
    ca_cert, ca_key = ca
    if "ca" in issued or not _server_covers(state, ca_cert, ips, dns):
        _make_server(state, ca_cert, ca_key, ips, dns)
        issued.append("server")
    p = os.path.abspath
    return {
        "ca_pem": p(os.path.join(state, "ca.pem")),
        "ca_der": p(os.path.join(state, "ca.der")),
        "cert": p(os.path.join(state, "server.pem")),
        "key": p(os.path.join(state, "server.key")),
        "issued": issued,
    }


# The suites IoT Hub and DPS accept since strong-suite enforcement (PROTOCOL.md §5): ECDHE key
# exchange only, AES-GCM or AES-CBC with SHA-2. A client offering RSA key exchange alone (axTLS)
# fails the handshake, as it does against Azure.
CIPHERS = ":".join([
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
])


# Test only, never Azure's behaviour: suites added to CIPHERS from outside, through the
# environment (OpenSSL names, ':'-separated). The ESP8266 twin (tools/esp8266-twin, make
# esp8266-twin) sets "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256", axTLS's RSA
# key-exchange suites, to measure its heap against this emulator.
WIDEN_ENV = "IOTC_EMU_TEST_ONLY_CIPHERS"


def server_context(paths):
    """TLS server context for every TLS service: TLS 1.2 and Azure's suites, set explicitly
    (widened only by $IOTC_EMU_TEST_ONLY_CIPHERS, for tests)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    extra = os.environ.get(WIDEN_ENV)
    ctx.set_ciphers(CIPHERS + ":" + extra if extra else CIPHERS)
    ctx.load_cert_chain(paths["cert"], paths["key"])
    return ctx


# ---- device certificates (X.509 attestation) ----
# A second CA, the device CA, signs device certificates: the CA of the emulator's X.509
# enrollment group (Azure: a CA certificate uploaded and verified in DPS/IoT Central). Device
# keys are EC P-256 (fast to make; mbedTLS on the unix port and the ESP32 takes them), or RSA
# 2048 on request (axTLS on the ESP8266 takes only RSA).
DEVICE_CA_NAME = "iotc emulator device CA"
DEVICE_DAYS = 365


def _load_pair(cert_path, key_path):
    try:
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError):
        return None
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return None
    return cert, key


def new_ca(name, key=None):
    """-> (cert, key): a CA certificate (for the device CA, and for tests' untrusted CAs)."""
    key = key or _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def ensure_device_ca(state):
    """The device CA in the state folder (device-ca.pem, device-ca.key), made at first use."""
    cert_path = os.path.join(state, "device-ca.pem")
    key_path = os.path.join(state, "device-ca.key")
    pair = _load_pair(cert_path, key_path)
    if pair is None:
        pair = new_ca(DEVICE_CA_NAME)
        _write(key_path, _key_pem(pair[1]), private=True)
        _write(cert_path, pair[0].public_bytes(serialization.Encoding.PEM))
    return pair


def issue_device(device_id, ca=None, rsa_key=False, days=DEVICE_DAYS):
    """-> (cert, key) for a device: CN = device_id, client authentication. ca: (cert, key)
    of the issuer; None: self-signed (an individual enrollment's certificate)."""
    if rsa_key:
        key = _new_key()
    else:
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
    issuer_cert, issuer_key = ca if ca else (None, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if issuer_cert is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key


def pem(cert=None, key=None):
    """PEM text of a certificate or of a private key (unencrypted, PKCS#8)."""
    if cert is not None:
        return cert.public_bytes(serialization.Encoding.PEM).decode()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def thumbprints(der):
    """-> (SHA-1, SHA-256) of a certificate's DER, upper-case hex: the two thumbprints Azure
    shows for a certificate and takes for an individual enrollment or a device identity."""
    import hashlib

    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def common_name(cert):
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if names else None


def check_device(der, ca_certs=(), prints=()):
    """Check a device certificate as DPS and IoT Hub do -> (cert, how) or raise ValueError with
    the reason. ca_certs: CAs it may chain to (directly issued: the emulator does not build
    longer chains); prints: SHA-1/SHA-256 thumbprints (hex) it may match. Validity dates are
    checked either way."""
    cert = x509.load_der_x509_certificate(der)
    now = _now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValueError("the certificate is not valid now (expired or not yet valid)")
    want = {p.upper().replace(":", "") for p in prints if p}
    if want & set(thumbprints(der)):
        return cert, "thumbprint"
    for ca in ca_certs:
        if cert.issuer != ca.subject:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:
            continue
        return cert, "ca"
    if want and not ca_certs:
        raise ValueError("thumbprint does not match the enrollment")
    raise ValueError("the certificate does not chain to an enrolled, verified CA")


def request_client_certs(ctx):
    """Make the TLS server ask every client for a certificate (optional) and accept whatever
    it presents, as DPS and IoT Hub do: the handshake never fails over a client certificate;
    whether it authenticates the device is decided afterwards (DPS: 401; hub: CONNACK 5).
    Python's ssl has no verify callback, so OpenSSL's is set through ctypes. -> True when set;
    False when it could not be (then CERT_OPTIONAL with no CA: a client presenting a
    certificate fails the handshake, and X.509 cannot be tried against this emulator)."""
    import ctypes
    import ssl

    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
        get_mode = lib.SSL_CTX_get_verify_mode
        get_mode.restype, get_mode.argtypes = ctypes.c_int, [ctypes.c_void_p]
        set_verify = lib.SSL_CTX_set_verify
        set_verify.restype, set_verify.argtypes = None, [ctypes.c_void_p, ctypes.c_int, proto]
        # The SSL_CTX pointer is the first field after the object header (CPython's
        # PySSLContext); checked by reading the verify mode back through it, twice.
        ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        ctx.verify_mode = ssl.CERT_OPTIONAL
        if get_mode(ptr) != 1:
            return False
        ctx.verify_mode = ssl.CERT_NONE
        if get_mode(ptr) != 0:
            return False
        accept = proto(lambda ok, store: 1)
        set_verify(ptr, 1, accept)  # SSL_VERIFY_PEER, without FAIL_IF_NO_PEER_CERT
        ctx._iotc_accept = accept  # the callback must live as long as the context
        return ctx.verify_mode == ssl.CERT_OPTIONAL
    except (OSError, AttributeError, ValueError, TypeError):
        ctx.verify_mode = ssl.CERT_NONE
        return False


def peer_cert(writer):
    """The client certificate (DER) of an asyncio TLS connection, or None."""
    obj = writer.get_extra_info("ssl_object")
    try:
        return obj.getpeercert(binary_form=True) if obj is not None else None
    except ValueError:
        return None
