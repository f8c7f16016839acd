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


def server_context(paths):
    """TLS server context for every TLS service: TLS 1.2 and Azure's suites, set explicitly."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.load_cert_chain(paths["cert"], paths["key"])
    return ctx
