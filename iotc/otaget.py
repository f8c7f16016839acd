# iotc otaget: one file over HTTPS for iotc-ota, through the TLS the provisioning uses
# (iotc.session.open_tls: the client's trust, the server's certificate and name checked),
# streamed through the caller's buffer and hashed on the way: never a whole file in RAM.
# MIT license; Copyright (c) 2026 the iotc authors

import hashlib


def hexdigest(h):
    from binascii import hexlify

    return hexlify(h.digest()).decode()


def get(client, url, size, sink, buf):
    # A generator: GET url, each piece read to sink(memoryview), a yield after each, so the
    # caller spreads a download over listen() calls; `yield from` it -> the SHA-256 (hex) of
    # size bytes. OSError: the server or the link failed; ValueError: not the manifest's file.
    from iotc import _forget
    from iotc.session import open_tls

    hp, _, path = url[8:].partition("/")  # checked by iotc.otacmd
    host, _, port = hp.partition(":")
    s = open_tls(client, host, int(port or 443))
    del open_tls
    _forget("session")  # as iotc.dps: loaded for the handshake only
    try:
        for part in ("GET /", path, " HTTP/1.1\r\nHost: ", hp,  # with the port, if any
                     "\r\nUser-Agent: iotc-ota\r\nConnection: close\r\n\r\n"):
            s.write(part)
        line = s.readline()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise OSError("{} sent no HTTP answer".format(host))
        if parts[1] != b"200":
            raise OSError("{} answered {}".format(url, parts[1].decode()))
        length = None
        while True:
            line = s.readline()
            if not line:
                raise OSError("{}: cut in the headers".format(url))
            if line in (b"\r\n", b"\n"):
                break
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                raise OSError("{}: a chunked answer (give a URL with a length)".format(url))
        if length is not None and length != size:
            raise ValueError("{} is {} B, the manifest says {}".format(url, length, size))
        h = hashlib.sha256()
        mv = memoryview(buf)
        got = 0
        while got < size:
            n = s.readinto(mv[:min(len(buf), size - got)])
            if not n:
                raise OSError("{}: download cut at {} of {} B".format(url, got, size))
            h.update(mv[:n])
            sink(mv[:n])
            got += n
            yield
        return hexdigest(h)
    finally:
        s.close()
