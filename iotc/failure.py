# iotc failure: what went wrong with DPS or CONNECT, in words. Loaded to build one error and
# freed after, so these texts are never in RAM while provisioning or connecting goes well (the
# error classes themselves stay, in iotc.errors).
# MIT license; Copyright (c) 2026 the iotc authors

import json

from iotc import IoTCError
from iotc.errors import AuthError, ProvisioningError


def dps(reason, status=0, *detail):
    # -> the error for one of iotc.dps's reasons (its numbers, in this order). detail: for a
    # refusal (9) Retry-After and the body; for a failed registration (7) its status and its
    # registrationState; for too many polls (8) their number.
    if reason == 9:
        return _refused(status, *detail)
    code = None
    if reason == 7:
        st, state = detail
        code = state.get("errorCode")
        detail = (st, state.get("errorMessage"))
    text = ("truncated HTTP answer", "malformed HTTP status line", "malformed HTTP header",
            "malformed chunked body", "bad Content-Length", "answer is not JSON",
            "assigned without a hub", "registration {}: {}", "still assigning after {} polls",
            )[reason]
    return ProvisioningError("DPS: " + text.format(*detail), status, code)


def _refused(status, wait, body):
    # A DPS answer that is not 200/202, with DPS's errorCode and message.
    code = msg = None
    try:
        doc = json.loads(body)
        code = doc.get("errorCode")
        msg = doc.get("message")
    except (ValueError, AttributeError):
        pass
    text = "DPS refused: HTTP {} errorCode {}: {}".format(status, code, msg)
    if status in (401, 403):
        return AuthError(text + " (check the key or certificate, the id scope, and that the clock is set)")
    return ProvisioningError(text, status, code, wait)


def connack(code):
    # -> the error for a CONNACK refusing us: AuthError for 4 and 5, else IoTCError.
    why = ("?", "bad protocol", "client id rejected", "server unavailable",
           "bad username or password", "not authorized")[code if 0 < code < 6 else 0]
    msg = "hub refused the connection: CONNACK {} ({})".format(code, why)
    return AuthError(msg) if code in (4, 5) else IoTCError(msg)
