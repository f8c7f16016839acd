# iotc emulator errors: Azure's error body, and the service API's refusals
# MIT license; Copyright (c) 2026 the iotc authors
"""Azure's error body, as DPS and IoT Hub's service API send it (PROTOCOL.md §1.1):
{"errorCode": status*1000 + n, "trackingId", "message", "timestampUtc"}."""

import uuid

from .state import utc_iso


def error_body(code, message):
    return {
        "errorCode": code,
        "trackingId": str(uuid.uuid4()),
        "message": message,
        "timestampUtc": utc_iso(),
    }


class ServiceError(Exception):
    """A request IoT Hub's service API refuses: HTTP status code // 1000 and Azure's body (the
    codes: iot-hub/troubleshoot-error-codes.md)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.status = code, code // 1000

    def body(self):
        return error_body(self.code, str(self))
