# iotc tls: whom to trust. Made once per client into an SSLContext that DPS and every hub
# (re)connect share; firmware without one that can verify (1.20, 1.21) keeps the arguments of
# the legacy ssl.wrap_socket() instead (iotc.session wraps). Loaded to make it, to say why
# a certificate is refused, and on axTLS to check the heap before each handshake; freed after.
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

from iotc import IoTCError

# One axTLS handshake (ESP8266), measured on the ESP8266 twin (docs/esp8266.md): it succeeds
# with 12.1 KB free and crashes with 12.0 KB, and holds 8.5-8.8 KB after. Through the relay,
# a cold start (the hub's handshake after DPS's, in a heap cut up by provisioning) crashed
# with up to 14.8 KB free, so the check asks for 16 KB. Its largest block is the SSL state
# with its record buffers, 5,316 B (RT_MAX_PLAIN_LENGTH 1024 + RT_EXTRA 4096).
_AXTLS_NEED = const(16384)
_AXTLS_BLOCK = const(5316)


def run(client, tls=0):
    # The trust phase of the first connect; with tls=1 (iotc.session), the check before a TLS
    # handshake on axTLS (ESP8266). axTLS takes its TLS state from the MicroPython heap, and
    # when that runs out in the middle of a handshake it does not raise MemoryError: a NULL
    # from its allocator in its RSA code resets the board, which no `except` can catch. So the
    # heap must hold one first: this many bytes free in all, one hole this big. MicroPython
    # has no call that tells the largest free block: a bytearray of that size is made (and
    # left to the collection that ends this phase). mbedTLS (every other port) has
    # CERT_REQUIRED and allocates from the C heap: nothing to check there.
    if not tls:
        client._tls = context(client.ca_file, client.verify)
        return
    try:
        import tls
    except ImportError:
        import ssl as tls  # firmware 1.20-1.22
    if hasattr(tls, "CERT_REQUIRED"):
        return
    import gc

    free = gc.mem_free()
    try:
        bytearray(_AXTLS_BLOCK)
        hole = ""
    except MemoryError:
        hole = ", in smaller blocks"
    if free < _AXTLS_NEED or hole:
        raise MemoryError("TLS: an axTLS handshake needs {} B of heap, {} B in one block; {} B "
                          "free{}".format(_AXTLS_NEED, _AXTLS_BLOCK, free, hole))


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


def context(ca_file, verify):
    # -> an SSLContext trusting the anchors, or, on firmware without one that can verify (1.20;
    # 1.21, whose legacy ssl.wrap_socket(cadata=) can), [a TLS socket, the legacy wrap's
    # arguments] for iotc.session.open_tls. Either holds a block of about 3 KB for good: it is
    # made first, while the heap is least cut up, and the anchors load after it. From 1.23 the
    # C module is `tls` and `ssl` a Python wrapper around it: the context is made from `tls`
    # itself, so the wrapper module and its objects never take heap.
    try:
        import tls

        positional = True  # tls.SSLContext.load_verify_locations(cadata)
    except ImportError:
        import ssl as tls  # 1.20-1.22: the C module is `ssl`, taking cadata= by keyword

        positional = False
    if hasattr(tls, "SSLContext"):
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        if not verify:
            ctx.verify_mode = tls.CERT_NONE
            return ctx
        if hasattr(ctx, "load_verify_locations"):
            cas = anchors(ca_file, verify)
            try:
                ctx.verify_mode = tls.CERT_REQUIRED
                for data in cas:
                    if positional:
                        ctx.load_verify_locations(data)
                    else:
                        ctx.load_verify_locations(cadata=data)
            except (ValueError, OSError, NotImplementedError, AttributeError) as e:
                raise _cannot_verify(e)
            return ctx
        del ctx  # 1.21: it takes no CA
        import gc

        gc.collect()  # its block is free for the socket below
    # The legacy wrap of mbedTLS firmware makes a whole TLS state for each socket, one block,
    # at every connect, when the heap is most cut up. A socket made now (not connected,
    # closed) holds such a block for the first connection, and each connection's socket holds
    # it for the next: the SSLContext's way.
    trust = [None, None]
    if hasattr(tls, "CERT_REQUIRED"):  # mbedTLS; axTLS (ESP8266) makes its sockets otherwise
        from io import BytesIO

        trust[0] = tls.wrap_socket(BytesIO(), do_handshake=False)
        trust[0].close()
    cas = anchors(ca_file, verify)
    trust[1] = params(cas[0] if cas else None)
    return trust


def untrusted(host, e):
    # The server's certificate did not verify: mbedTLS raises ValueError from firmware 1.22,
    # OSError(-9984) (MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) before.
    e = str((e.args or (e,))[-1]).strip()  # OSError(code, text): the text
    why = "TLS: the certificate of {} is not trusted ({})".format(host, e)
    # mbedTLS matches IP addresses in certificates from 3.5 (firmware 1.23 on the unix port;
    # on an ESP32, the ESP-IDF's mbedTLS). Firmware without MBEDTLS_VERSION (1.21 and older)
    # has an older one.
    import ssl

    v = getattr(ssl, "MBEDTLS_VERSION", None)  # "mbed TLS 2.28.3"
    if v:
        v = v.split()[-1].split(".")
    if host.replace(".", "").isdigit() and (not v or (int(v[0]), int(v[1])) < (3, 5)):
        why += ("; this firmware's mbedTLS (before 3.5) cannot match a certificate to an "
                "IP address: dial the server by a host name")
    return IoTCError(why)


def params(data):
    # Keyword arguments for the legacy ssl.wrap_socket(), which takes one CA: the first anchor
    # (DigiCert Global Root G2 by default, which every Azure endpoint chains to since 2024), or
    # none with verify=False.
    if data is None:
        return {}
    import ssl

    if not hasattr(ssl, "CERT_REQUIRED"):  # axTLS (ESP8266): no verification at all
        raise _cannot_verify("no CERT_REQUIRED")
    return {"cert_reqs": ssl.CERT_REQUIRED, "cadata": data}

