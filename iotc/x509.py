# iotc x509: X.509 attestation (IoTCConnectType.X509_CERT, docs/x509.md). The certificate and
# key files are checked when the client is made (device_key), and joined to the client's TLS trust at
# its first connect (run), so that DPS and the hub are both shown the certificate. Loaded for
# those two moments only; the SAS path never loads it.
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCError

# The spellings of the credentials dict: ours, the iotc Python client's, the old iotc SDK's.
_SPELLINGS = (("cert_file", "key_file", None), ("certFile", "keyFile", "certPhrase"),
              ("certfile", "keyfile", None))


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise IoTCError("credentials: cannot read the {} file {} ({})".format(what, path, e))


def _der(data, label):
    # The first PEM block labelled ...label (b"CERTIFICATE", b"PRIVATE KEY") as DER; DER as is.
    if not data.startswith(b"-----"):
        return data
    from binascii import a2b_base64

    i = data.find(label + b"-----")
    j = data.find(b"-----END", i)
    if i < 0 or j < 0:
        raise IoTCError("credentials: no {} in the PEM file".format(label.decode()))
    return a2b_base64(data[i + len(label) + 5 : j])


def common_name(der):
    # The subject CN of a DER certificate, or None when it has none (or cannot be read).
    try:
        _, i, _ = _el(der, 0)  # Certificate
        _, i, _ = _el(der, i)  # TBSCertificate: its first element
        if der[i] == 0xA0:  # [0] version
            i = _el(der, i)[2]
        for _ in range(4):  # serial, signature algorithm, issuer, validity
            i = _el(der, i)[2]
        _, i, end = _el(der, i)  # subject: SET { SEQUENCE { OID, value } } ...
        k = der.find(b"\x06\x03\x55\x04\x03", i, end)
        if k < 0:
            return None
        _, s, e = _el(der, k + 5)
        return bytes(der[s:e]).decode()
    except (IndexError, ValueError, UnicodeError):
        return None


def _el(d, i):
    # A DER element at d[i] -> (tag, start of its content, its end).
    tag = d[i]
    n = d[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(bytes(d[j : j + k]), "big")
        j += k
    if j + n > len(d):
        raise ValueError("truncated")
    return tag, j, j + n


def device_key(credentials, device_id):
    # What an X.509 client keeps instead of a key (iotc.sas.device_key's name, so the SAS path
    # interns no new one): (certificate file, key file), checked: both readable, the key not encrypted, the
    # certificate's subject CN the device id (DPS registers a certificate under its CN).
    if isinstance(credentials, dict):
        for c, k, phrase in _SPELLINGS:
            if c in credentials or k in credentials:
                break
        else:
            c = None
    if not isinstance(credentials, dict) or c is None:
        raise IoTCError("credentials: X509_CERT takes {'cert_file': PATH, 'key_file': PATH}")
    cert, key = credentials.get(c), credentials.get(k)
    if not cert or not key:
        raise IoTCError("credentials: X509_CERT needs both {} and {}".format(c, k))
    if phrase and credentials.get(phrase) or b"ENCRYPTED" in _read(key, "key"):
        raise IoTCError("credentials: the key is encrypted; MicroPython's TLS takes only an "
                        "unencrypted key (decrypt it once: openssl pkey -in KEY -out KEY2)")
    cn = common_name(_der(_read(cert, "certificate"), b"CERTIFICATE"))
    if cn is None:
        raise IoTCError("credentials: {} holds no certificate with a subject CN".format(cert))
    if cn != device_id:
        raise IoTCError("credentials: the certificate's subject CN is {}, not the device id {} "
                        "(DPS registers a certificate under its CN)".format(cn, device_id))
    return cert, key


def _cannot_present(reason):
    return IoTCError("TLS: this firmware cannot present a client certificate ({}), which "
                     "X.509 needs; use a symmetric key (SYMM_KEY/DEVICE_KEY)".format(reason))


def run(client):
    # A phase of the first connect, right after iotc.tls made the trust: the device certificate
    # and key join it, for DPS and every hub (re)connect. On failure the trust is dropped, so
    # that no later connect goes without the certificate.
    trust = client._tls
    cert_file, key_file = client._key
    try:
        # As DER: not every firmware's mbedTLS parses PEM (the unix port's does not), axTLS
        # reads DER only, and DER is the smaller. So one certificate, the device's: a chain
        # file gives its first (docs/x509.md).
        cert = _der(_read(cert_file, "certificate"), b"CERTIFICATE")
        key = _der(_read(key_file, "key"), b"PRIVATE KEY")
        if not isinstance(trust, list) and not hasattr(trust, "load_cert_chain"):
            # Firmware 1.21 with verify=False: its SSLContext takes no certificate, its legacy
            # wrap_socket() does; nothing to verify, so the legacy wrap loses nothing.
            import ssl

            if client.verify or not hasattr(ssl, "wrap_socket"):
                raise _cannot_present("its SSLContext has no load_cert_chain")
            trust = client._tls = [None, {}]
        if isinstance(trust, list):
            # Firmware 1.20, 1.21 (and axTLS): the legacy ssl.wrap_socket(key=, cert=) at each
            # connect.
            trust[1]["cert"] = cert
            trust[1]["key"] = key
        else:
            try:
                trust.load_cert_chain(cert, key)
            except (ValueError, OSError, TypeError) as e:
                raise IoTCError("TLS: the device certificate {} or key {} cannot be loaded "
                                "({})".format(cert_file, key_file, e))
    except BaseException:
        client._tls = False
        raise
