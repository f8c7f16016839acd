# iotc dps: provisioning through Azure DPS over raw-socket HTTPS. Imported only while it runs.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import socket
import time

from iotc.errors import AuthError, ProvisioningError
from iotc.sas import quote, token, unix_time

API_VERSION = "2021-06-01"
DEFAULT_HOST = "global.azure-devices-provisioning.net"
_MAX_POLLS = 10
_MAX_THROTTLED = 3
_DEFAULT_WAIT = 2  # seconds, when DPS gives no Retry-After (as the Python SDK)


class _Http:
    # One HTTPS connection to DPS, kept alive between register and polls when the server allows.
    def __init__(self, host, port, trust):
        self.host = host
        self.port = port
        self.trust = trust
        self.sock = None

    def _open(self):
        ai = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
        s.settimeout(10)
        try:
            s.connect(ai[-1])
            anchors = self.trust.anchors()
            self.sock = self.trust.wrap(s, self.host, anchors)
        except Exception:
            s.close()
            raise

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def request(self, method, path, auth, body):
        # -> (status, headers dict with lower-case names, body bytes)
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self._open()
            try:
                self._send(method, path, auth, body)
                return self._response()
            except OSError:
                self.close()
                if fresh or attempt:
                    raise
                # the kept-alive connection had gone stale: retry once on a new one

    def _send(self, method, path, auth, body):
        head = (
            "{} {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nUser-Agent: iotc\r\n"
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n"
        ).format(method, path, self.host, auth, len(body))
        self.sock.write(head.encode() + body)

    def _response(self):
        s = self.sock
        line = s.readline()
        if not line:
            raise OSError("DPS closed the connection")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            self.close()
            raise ProvisioningError("DPS: malformed HTTP status line")
        status = int(parts[1])
        headers = {}
        while True:
            try:
                line = s.readline()
            except OSError:  # timed out waiting for the rest
                line = None
            if not line:
                self.close()
                raise ProvisioningError("DPS: truncated HTTP headers", status)
            if line in (b"\r\n", b"\n"):
                break
            k, sep, v = line.partition(b":")
            if not sep:
                self.close()
                raise ProvisioningError("DPS: malformed HTTP header", status)
            headers[k.strip().lower().decode()] = v.strip().decode()
        if "chunked" in headers.get("transfer-encoding", ""):
            body = self._chunked(status)
        elif "content-length" in headers:
            try:
                n = int(headers["content-length"])
            except ValueError:
                self.close()
                raise ProvisioningError("DPS: bad Content-Length", status)
            body = self._exact(n, status)
        else:
            body = s.read()  # no length: the body runs to the end of the connection
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _exact(self, n, status):
        out = b""
        while len(out) < n:
            try:
                chunk = self.sock.read(n - len(out))
            except OSError:  # timed out waiting for the rest
                chunk = None
            if not chunk:
                self.close()
                raise ProvisioningError("DPS: truncated HTTP body", status)
            out += chunk
        return out

    def _chunked(self, status):
        out = b""
        while True:
            line = self.sock.readline()
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close()
                raise ProvisioningError("DPS: malformed chunked body", status)
            if n == 0:
                self.sock.readline()
                return out
            out += self._exact(n, status)
            self.sock.readline()


def _retry_after(headers):
    try:
        return max(0, int(headers.get("retry-after", "")))
    except ValueError:
        return None


def _error(status, headers, body, what):
    code = None
    msg = ""
    try:
        doc = json.loads(body)
        code = doc.get("errorCode")
        msg = doc.get("message") or ""
    except (ValueError, AttributeError):
        pass
    text = "DPS {}: HTTP {}{}{}".format(what, status, " errorCode {}".format(code) if code else "",
                                        ": " + msg if msg else "")
    cls = AuthError if status in (401, 403) else ProvisioningError
    if cls is AuthError:
        text += " (check the key, the id scope, and that the clock is set)"
        return cls(text)
    return cls(text, status, code, _retry_after(headers))


def register(endpoint, id_scope, registration_id, device_key, model_id, trust, log,
             ttl=3600):
    # -> (assigned hub, device id). Blocks while DPS assigns, waiting as long as it asks.
    host, _, port = endpoint.partition(":")
    http = _Http(host, int(port or 443), trust)
    base = "/{}/registrations/{}".format(id_scope, quote(registration_id))
    resource = "{}/registrations/{}".format(id_scope, registration_id)
    auth = token(resource, device_key, unix_time() + ttl, "registration")
    payload = {"registrationId": registration_id}
    if model_id:
        payload["payload"] = {"modelId": model_id, "iotcModelId": model_id}
    body = json.dumps(payload).encode()
    method, path = "PUT", "{}/register?api-version={}".format(base, API_VERSION)
    throttled = 0
    try:
        for _ in range(_MAX_POLLS + _MAX_THROTTLED + 1):
            status, headers, data = http.request(method, path, auth, body)
            if status == 429 or status >= 500:
                throttled += 1
                wait = _retry_after(headers)
                if throttled > _MAX_THROTTLED:
                    raise _error(status, headers, data, "kept refusing")
                wait = _DEFAULT_WAIT * throttled if wait is None else wait
                log.info("DPS answered {}; retrying in {} s", status, wait)
                time.sleep(wait)
                continue
            if status not in (200, 202):
                raise _error(status, headers, data, "refused the registration")
            try:
                doc = json.loads(data)
                state = doc.get("registrationState") or {}
                op = doc.get("operationId")
                st = doc.get("status") or state.get("status")
            except (ValueError, AttributeError):
                raise ProvisioningError("DPS: answer is not JSON", status)
            if st == "assigned":
                hub = state.get("assignedHub")
                dev = state.get("deviceId") or registration_id
                if not hub:
                    raise ProvisioningError("DPS: assigned without a hub", status)
                return hub, dev
            if st in ("failed", "disabled"):
                raise ProvisioningError(
                    "DPS: registration {}: {}".format(st, state.get("errorMessage", "")),
                    status, state.get("errorCode"))
            if not op:
                raise ProvisioningError("DPS: no operationId in the answer", status)
            wait = _retry_after(headers)
            time.sleep(_DEFAULT_WAIT if wait is None else wait)
            method, body = "GET", b""
            path = "{}/operations/{}?api-version={}".format(base, op, API_VERSION)
        raise ProvisioningError("DPS: still assigning after {} polls".format(_MAX_POLLS), 202)
    finally:
        http.close()
