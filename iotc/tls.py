# iotc tls: which servers to trust, as SSLContext or wrap_socket() arguments
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCError


def _pem_to_der(data):
    from binascii import a2b_base64

    out = []
    for block in data.split(b"-----BEGIN CERTIFICATE-----")[1:]:
        out.append(a2b_base64(block.split(b"-----END CERTIFICATE-----")[0]))
    if not out:
        raise IoTCError("TLS: no certificate in the CA file")
    return out


class Trust:
    # verify=False is the explicit opt-out: TLS without checking the server's certificate.
    def __init__(self, ca_file=None, verify=True):
        self.ca_file = ca_file
        self.verify = verify

    def anchors(self):
        # -> list of DER certificates to trust, or None when not verifying.
        if not self.verify:
            return None
        if self.ca_file is None:
            from iotc.certs import AZURE_ROOTS

            return list(AZURE_ROOTS)
        with open(self.ca_file, "rb") as f:
            data = f.read()
        return _pem_to_der(data) if data.startswith(b"-----") else [data]

    def context(self, anchors):
        # An SSLContext (firmware 1.21+), or None where the firmware has none.
        import ssl

        if not hasattr(ssl, "SSLContext"):
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if anchors is None:
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            ctx.verify_mode = ssl.CERT_REQUIRED
            for der in anchors:
                ctx.load_verify_locations(cadata=der)
        except (ValueError, OSError, NotImplementedError, AttributeError) as e:
            raise IoTCError(
                "TLS: this firmware cannot verify the server's certificate ({}); "
                "pass verify=False to connect without verification".format(e)
            )
        return ctx

    def wrap(self, sock, host, anchors):
        # Wrap a connected socket; SNI and hostname check use `host`.
        ctx = self.context(anchors)
        if ctx is not None:
            return ctx.wrap_socket(sock, server_hostname=host)
        import ssl

        return ssl.wrap_socket(sock, **self.params(host, anchors[0] if anchors else None))

    def params(self, host, der):
        # Keyword arguments for the legacy ssl.wrap_socket() (umqtt.simple <= 1.3.4).
        if der is None:
            return {"server_hostname": host}
        import ssl

        return {"server_hostname": host, "cert_reqs": ssl.CERT_REQUIRED, "cadata": der}
