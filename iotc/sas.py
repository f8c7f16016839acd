# iotc sas: HMAC-SHA256, device-key derivation and SAS tokens; pure functions, no I/O
# MIT license; Copyright (c) 2026 the iotc authors

import time
from binascii import a2b_base64, b2a_base64
from hashlib import sha256

from iotc import IoTCError

_UNRESERVED = b"-_.~"
_HEX = b"0123456789ABCDEF"


def hmac_sha256(key, msg):
    if len(key) > 64:
        key = sha256(key).digest()
    pad = bytearray(64)
    pad[: len(key)] = key
    for i in range(64):
        pad[i] ^= 0x36
    inner = sha256(pad)
    inner.update(msg)
    for i in range(64):
        pad[i] ^= 0x36 ^ 0x5C
    outer = sha256(pad)
    outer.update(inner.digest())
    return outer.digest()


def decode_key(key):
    # A key IoT Central shows is base64 of 32 or 64 bytes; refuse anything else early and clearly.
    try:
        raw = a2b_base64(key)
    except Exception:
        raw = b""
    if len(raw) < 16 or b2a_base64(raw).strip() != key.strip().encode():
        raise IoTCError("credentials: not a base64 key")
    return raw


def derive_device_key(group_key, registration_id):
    return b2a_base64(hmac_sha256(decode_key(group_key), registration_id.encode()))[:-1].decode()


def quote(s):
    # Percent-encode all but RFC 3986 unreserved characters (uppercase hex); returns s if clean.
    data = s.encode() if isinstance(s, str) else s
    extra = 0
    for c in data:
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in _UNRESERVED):
            extra += 2
    if not extra:
        return s if isinstance(s, str) else data.decode()
    out = bytearray(len(data) + extra)
    i = 0
    for c in data:
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in _UNRESERVED:
            out[i] = c
            i += 1
        else:
            out[i] = 37  # %
            out[i + 1] = _HEX[c >> 4]
            out[i + 2] = _HEX[c & 15]
            i += 3
    return out.decode()


def unquote(s):
    if "%" not in s and "+" not in s:
        return s
    data = s.encode()
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == 37 and i + 2 < n:
            try:
                out.append(int(data[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(32 if c == 43 else c)
        i += 1
    return out.decode()


def unix_time():
    # esp32/esp8266 count from 2000-01-01, unix/rp2 from 1970; SAS expiry is Unix time.
    t = int(time.time())
    if time.gmtime(0)[0] == 2000:
        t += 946684800
    return t


def token(resource_uri, key, expiry, key_name=None):
    # Sign exactly the string placed in `sr` (the URL-encoded resource URI).
    sr = quote(resource_uri)
    sig = hmac_sha256(decode_key(key), "{}\n{}".format(sr, expiry).encode())
    tok = "SharedAccessSignature sr={}&sig={}&se={}".format(
        sr, quote(b2a_base64(sig)[:-1]), expiry
    )
    if key_name:
        tok += "&skn=" + key_name
    return tok
