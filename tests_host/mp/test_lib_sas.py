# Pure SAS functions, checked against values computed independently with CPython's hmac/base64.
from iotc import IoTCError, sas

GROUP_KEY = "r0mxLzPr9gg5DfsaxVhOwKK2+8jEHNclmCeb9iACAyb2A7yHPDrB2/+PTmwnTAetvI6oQkwarWHxYbkIVLybEg=="


def eq(a, b):
    if a != b:
        raise AssertionError("{!r} != {!r}".format(a, b))


def test_hmac_sha256_rfc4231_case2():
    import binascii

    got = sas.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    eq(binascii.hexlify(got),
       b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_hmac_long_key_is_hashed_first():
    import binascii

    # RFC 4231 case 6: 131-byte key.
    got = sas.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    eq(binascii.hexlify(got),
       b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_derive_device_key():
    eq(sas.derive_device_key(GROUP_KEY, "dev1"), "SNfisw739aeMJreGQAcVZgcDIsD3sAZGVi0VlrfCiM8=")


def test_token_dps():
    key = sas.derive_device_key(GROUP_KEY, "dev1")
    eq(sas.token("scope/registrations/dev1", key, 1700000000, "registration"),
       "SharedAccessSignature sr=scope%2Fregistrations%2Fdev1"
       "&sig=K3vOFJCB6UvlES5Zg%2BsGWYhrJwN6wnFOsHlk7QVC6Tg%3D&se=1700000000&skn=registration")


def test_token_hub_has_no_key_name():
    tok = sas.token("hub.azure-devices.net/devices/dev1", GROUP_KEY, 1)
    if "skn=" in tok or not tok.startswith("SharedAccessSignature sr=hub.azure-devices.net%2F"):
        raise AssertionError(tok)


def test_bad_keys_are_refused_clearly():
    for bad in ("", "not base64!", "YWJj", "short=="):
        try:
            sas.decode_key(bad)
        except IoTCError as e:
            if "base64" not in str(e):
                raise AssertionError(e)
        else:
            raise AssertionError("accepted " + bad)


def test_unix_time_is_unix_epoch():
    import time

    t = sas.unix_time()
    if time.gmtime(0)[0] == 1970:
        eq(t, int(time.time()))
    if t < 1700000000:
        raise AssertionError(t)
