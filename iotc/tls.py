# iotc tls: whom to trust. Made once per client into an SSLContext that DPS and every hub
# (re)connect share; firmware without SSLContext keeps the CA list for the legacy
# ssl.wrap_socket() instead. Loaded to make it (and by such firmware to wrap); freed after.
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCError


def run(client):
    # The trust phase of the first connect: client._tls is an SSLContext, else the anchors.
    cas = anchors(client.ca_file, client.verify)
    client._tls = context(cas) or cas


def anchors(ca_file, verify):
    # -> DER certificates to trust (a PEM or DER file, else the bundled Azure roots), or None
    # when verify is False: the explicit opt-out of checking the server's certificate.
    if not verify:
        return None
    if ca_file is None:
        from iotc.certs import AZURE_ROOTS

        return list(AZURE_ROOTS)
    with open(ca_file, "rb") as f:
        data = f.read()
    if not data.startswith(b"-----"):
        return [data]
    from binascii import a2b_base64

    out = [a2b_base64(b.split(b"-----END")[0]) for b in data.split(b"CERTIFICATE-----")[1::2]]
    if not out:
        raise IoTCError("TLS: no certificate in " + ca_file)
    return out


def _cannot_verify(reason):
    # ESP8266 (axTLS) cannot check certificates: say so rather than connect unverified.
    return IoTCError("TLS: this firmware cannot verify the server ({}); pass verify=False "
                     "to connect without verification".format(reason))


def context(cas):
    # An SSLContext (firmware 1.21+) trusting cas, or None where the firmware has none.
    import ssl

    if not hasattr(ssl, "SSLContext"):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cas is None:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        ctx.verify_mode = ssl.CERT_REQUIRED
        for data in cas:
            ctx.load_verify_locations(cadata=data)
    except (ValueError, OSError, NotImplementedError, AttributeError) as e:
        raise _cannot_verify(e)
    return ctx


def params(host, data):
    # Keyword arguments for the legacy ssl.wrap_socket(), which takes one CA.
    if data is None:
        return {"server_hostname": host}
    import ssl

    if not hasattr(ssl, "CERT_REQUIRED"):  # firmware 1.20 on ESP8266: no verification at all
        raise _cannot_verify("no CERT_REQUIRED")
    return {"server_hostname": host, "cert_reqs": ssl.CERT_REQUIRED, "cadata": data}


def wrap(sock, host, cas):
    # Firmware without SSLContext: the first anchor (DigiCert Global Root G2 by default, which
    # every Azure endpoint chains to since 2024), or none with verify=False.
    import ssl

    return ssl.wrap_socket(sock, **params(host, cas[0] if cas else None))
