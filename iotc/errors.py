# iotc errors: the two errors a caller may want to tell apart from IoTCError. Loaded when one
# is first raised (or named: iotc.AuthError) and kept from then on, never forgotten: a class
# must stay one object for `except` to match it. A session with no refusal never loads it.
# MIT license; Copyright (c) 2026 the iotc authors

from iotc import IoTCError


class AuthError(IoTCError):
    # The hub or DPS refused our credentials (CONNACK 4/5, HTTP 401/403).
    pass


class ProvisioningError(IoTCError):
    # status: HTTP status (0 when the answer was not HTTP); code: DPS errorCode or None;
    # retry_after: seconds the service asked us to wait, or None.
    def __init__(self, message, status=0, code=None, retry_after=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
