# Provisioning over raw-socket HTTPS against the emulator's DPS, including every error path.
import os
import time

import emuctl
from iotc import IoTCConnectType, IoTCError
from iotc import AuthError, ProvisioningError
from libutil import client, device, eq

OTHER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMA=="


def _fault(**kw):
    status, _ = emuctl.call("POST", "/faults", kw)
    eq(status, 200)


def _expect(exc_type, c):
    try:
        c.connect()
    except exc_type as e:
        return e
    raise AssertionError("connect() did not raise " + exc_type.__name__)


def test_register_polls_with_retry_after_and_sends_model_id():
    c = client("dps-ok")
    c.set_model_id("dtmi:com:example:X;2")
    t0 = time.ticks_ms()
    c.connect()
    took = time.ticks_diff(time.ticks_ms(), t0)
    reg = device("dps-ok")["registration"]
    eq(reg["payload"]["modelId"], "dtmi:com:example:X;2")
    eq(reg["status"], "assigned")
    # Retry-After is 1 s: one wait, not a fixed multi-second sleep.
    if not 900 <= took < 4000:
        raise AssertionError("connect took {} ms".format(took))
    c.disconnect()


def test_device_key_connect_type():
    from iotc.sas import derive_device_key

    key = derive_device_key(os.getenv("IOTC_EMU_GROUP_KEY"), "dps-devkey")
    c = client("dps-devkey", key=key, kind=IoTCConnectType.DEVICE_KEY)
    c.connect()
    c.disconnect()


def test_wrong_key_is_auth_error_401():
    c = client("dps-badkey", key=OTHER_KEY)
    e = _expect(AuthError, c)
    if "401" not in str(e) or "clock" not in str(e):
        raise AssertionError(e)


def test_unknown_scope_is_404_with_error_code():
    from iotc import IoTCClient

    c = IoTCClient("0neUNKNOWN", "dps-scope", IoTCConnectType.SYMM_KEY,
                   os.getenv("IOTC_EMU_GROUP_KEY"), endpoint=os.getenv("IOTC_EMU_DPS"),
                   ca_file=os.getenv("IOTC_EMU_CA"), logger=client("x").logger)
    e = _expect(ProvisioningError, c)
    eq(e.status, 404)
    if not e.code or e.code // 1000 != 404:
        raise AssertionError(e.code)


def test_throttled_429_is_retried_after_retry_after():
    _fault(kind="dps_status", status=429, count=1, retry_after=1)
    c = client("dps-429")
    c.connect()  # one 429, then the normal flow
    eq(c.is_connected(True), True)
    if "429" not in c.logger.text():
        raise AssertionError(c.logger.text())
    c.disconnect()


def test_persistent_429_raises_with_retry_after():
    _fault(kind="dps_status", status=429, count=10, retry_after=0)
    try:
        e = _expect(ProvisioningError, client("dps-429x"))
        eq(e.status, 429)
        eq(e.retry_after, 0)
    finally:
        emuctl.call("POST", "/faults/clear")


def test_still_assigning_is_bounded():
    _fault(kind="dps_assigning", polls=50, count=1)
    try:
        from iotc import dps

        dps._MAX_POLLS = 2  # keep the test short; the bound is what is checked
        e = _expect(ProvisioningError, client("dps-slow"))
        if "assigning" not in str(e):
            raise AssertionError(e)
    finally:
        emuctl.call("POST", "/faults/clear")


def _malformed(mode):
    _fault(kind="dps_malformed", mode=mode)
    try:
        return _expect(ProvisioningError, client("dps-" + mode.replace("_", "-")))
    finally:
        emuctl.call("POST", "/faults/clear")


def test_truncated_body():
    e = _malformed("truncated")
    if "truncated" not in str(e):
        raise AssertionError(e)


def test_bad_json():
    e = _malformed("bad_json")
    if "JSON" not in str(e):
        raise AssertionError(e)


def test_no_status_line():
    e = _malformed("no_status")
    if "status line" not in str(e):
        raise AssertionError(e)


def test_chunked_answer_is_decoded():
    _fault(kind="dps_malformed", mode="chunked")
    c = client("dps-chunked")
    c.connect()
    c.disconnect()


def test_no_headers_answer():
    # A status line then the body, no blank line: refused clearly, not misread.
    e = _malformed("no_headers")
    if "truncated" not in str(e):
        raise AssertionError(e)


def test_disabled_enrollment_is_refused():
    emuctl.call("POST", "/enrollments", {"kind": "individual", "registration_id": "dps-off",
                                         "key": OTHER_KEY, "enabled": False})
    c = client("dps-off", key=OTHER_KEY, kind=IoTCConnectType.DEVICE_KEY)
    try:
        c.connect()
    except IoTCError as e:
        return
    raise AssertionError("connected with a disabled enrollment")


def test_provisioning_module_is_freed_after_connect():
    import sys

    c = client("dps-freed")
    c.connect()
    for name in ("iotc.dps", "iotc.session", "iotc.mqtt", "iotc.connect", "iotc.resume",
                 "iotc.sas", "iotc.tls", "umqtt.simple", "umqtt", "ssl"):
        if name in sys.modules:
            raise AssertionError(name + " still loaded")
    c.disconnect()
