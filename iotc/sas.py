# iotc sas: HMAC-SHA256, device-key derivation and SAS tokens; pure functions, no I/O.
# Loaded to set up a client and to connect; freed after.
# MIT license; Copyright (c) 2026 the iotc authors

import time
from binascii import a2b_base64, b2a_base64
from hashlib import sha256

from iotc import IoTCError
from iotc.topics import quote


def hmac_sha256(key, data):
    if len(key) > 64:
        key = sha256(key).digest()
    pad = bytearray(64)
    pad[: len(key)] = key
    for i in range(64):
        pad[i] ^= 0x36
    inner = sha256(pad)
    inner.update(data)
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


def derive_device_key(key, device_id):
    # The enrollment group's key signs the device id: that is the device's own key.
    return b2a_base64(hmac_sha256(decode_key(key), device_id.encode()))[:-1].decode()


def device_key(group, credentials, device_id):
    # Check the device id as DPS and IoT Central take it, and return the device's own key.
    # Bytes, not characters: a one-character str is interned on MicroPython, for good.
    raw = device_id.encode() if isinstance(device_id, str) else b""
    ok = 0 < len(raw) <= 128 and raw[0] not in b"-._:" and raw[-1] not in b"-._:"
    for c in raw:
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"-._:"):
            ok = False
    if not ok:
        raise IoTCError("device_id: use 1-128 ASCII letters, digits and - . _ : inside")
    if group == 1:
        return derive_device_key(credentials, device_id)
    if group == 3:  # X.509: loaded only for it (names no new module or function here)
        from iotc import x509

        return x509.device_key(credentials, device_id)
    decode_key(credentials)
    return credentials


def unix_time():
    # esp32/esp8266 count from 2000-01-01, unix/rp2 from 1970; SAS expiry is Unix time.
    t = int(time.time())
    if time.gmtime(0)[0] == 2000:
        t += 946684800
    return t


def token(path, key, expiry, name=None):
    # Sign exactly the string placed in `sr` (the URL-encoded resource URI).
    sr = quote(path)  # the resource URI
    sig = hmac_sha256(decode_key(key), "{}\n{}".format(sr, expiry).encode())
    tok = "SharedAccessSignature sr={}&sig={}&se={}".format(sr, quote(b2a_base64(sig)[:-1]), expiry)
    return tok + "&skn=" + name if name else tok
