# iotc dps: provisioning through Azure DPS over raw-socket HTTPS. Loaded while it runs.
# MIT license; Copyright (c) 2026 the iotc authors

import gc
import json
import socket
import time

from iotc import _forget, tls
from iotc.errors import AuthError, ProvisioningError

API_VERSION = "2021-06-01"
_MAX_POLLS = 10
_MAX_THROTTLED = 3
_DEFAULT_WAIT = 2  # seconds, when DPS gives no Retry-After (as the Python SDK)


def _open(host, port, cas, ctx):
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
    s.settimeout(10)
    try:
        s.connect(ai[-1])
        return tls.wrap(s, host, cas, ctx)
    except ValueError as e:
        s.close()
        raise ProvisioningError("TLS: the DPS certificate is not trusted ({})".format(e))
    except Exception:
        s.close()
        raise


def _line(s, status):
    try:
        line = s.readline()
    except OSError:  # timed out waiting for the rest
        line = None
    if not line:
        raise ProvisioningError("DPS: truncated HTTP answer", status)
    return line


def _read(s, n, status):
    out = b""
    while len(out) < n:
        try:
            chunk = s.read(n - len(out))
        except OSError:
            chunk = None
        if not chunk:
            raise ProvisioningError("DPS: truncated HTTP answer", status)
        out += chunk
    return out


def _response(s):
    # -> (status, headers with lower-case names, body, keep the connection?)
    line = s.readline()
    if not line:
        raise OSError("DPS closed the connection")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProvisioningError("DPS: malformed HTTP status line")
    status = int(parts[1])
    headers = {}
    while True:
        line = _line(s, status)
        if line in (b"\r\n", b"\n"):
            break
        k, sep, v = line.partition(b":")
        if not sep:
            raise ProvisioningError("DPS: malformed HTTP header", status)
        headers[k.strip().lower().decode()] = v.strip().decode()
    keep = headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while True:
            try:
                n = int(_line(s, status).split(b";")[0], 16)
            except ValueError:
                raise ProvisioningError("DPS: malformed chunked body", status)
            if n == 0:
                _line(s, status)
                break
            body += _read(s, n, status)
            _line(s, status)
    elif "content-length" in headers:
        try:
            body = _read(s, int(headers["content-length"]), status)
        except ValueError:
            raise ProvisioningError("DPS: bad Content-Length", status)
    else:
        body = s.read()  # no length: the body runs to the end of the connection
        keep = False
    return status, headers, body, keep


def _retry_after(headers):
    try:
        return max(0, int(headers.get("retry-after", "")))
    except ValueError:
        return None


def _error(status, headers, body):
    code = msg = None
    try:
        doc = json.loads(body)
        code = doc.get("errorCode")
        msg = doc.get("message")
    except (ValueError, AttributeError):
        pass
    text = "DPS refused: HTTP {} errorCode {}: {}".format(status, code, msg)
    if status in (401, 403):
        return AuthError(text + " (check the key, the id scope, and that the clock is set)")
    return ProvisioningError(text, status, code, _retry_after(headers))


def register(endpoint, id_scope, registration_id, device_key, model_id, ca_file, verify, log,
             ttl=3600):
    # -> (assigned hub, device id). Blocks while DPS assigns, waiting as long as it asks.
    # The SSLContext first, while the heap is least cut up (one 3 KB block); kept for the polls.
    cas = tls.anchors(ca_file, verify)
    ctx = tls.context(cas)
    from iotc.sas import token, unix_time
    from iotc.topics import quote

    host, _, port = endpoint.partition(":")
    base = "/{}/registrations/{}".format(id_scope, quote(registration_id))
    auth = token("{}/registrations/{}".format(id_scope, registration_id), device_key,
                 unix_time() + ttl, "registration")
    del token, unix_time, quote
    _forget("sas", "topics")  # signing is done: free it before the TLS handshake
    gc.collect()
    payload = {"registrationId": registration_id}
    if model_id:
        payload["payload"] = {"modelId": model_id, "iotcModelId": model_id}
    body = json.dumps(payload)
    method, path = "PUT", base + "/register"
    sock = None
    throttled = retried = 0
    try:
        for _ in range(_MAX_POLLS + _MAX_THROTTLED + 1):
            fresh = sock is None
            if fresh:
                sock = _open(host, int(port or 443), cas, ctx)
            try:
                sock.write(
                    "{} {}?api-version={} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n"
                    "User-Agent: iotc\r\nContent-Type: application/json\r\n"
                    "Content-Length: {}\r\n\r\n{}".format(method, path, API_VERSION, host, auth,
                                                          len(body), body).encode())
                status, headers, data, keep = _response(sock)
            except OSError:
                sock.close()
                sock = None
                if fresh or retried:
                    raise
                retried = 1  # the kept-alive connection had gone stale: once more, afresh
                continue
            if not keep:
                sock.close()
                sock = None
            wait = _retry_after(headers)
            if status == 429 or status >= 500:
                throttled += 1
                if throttled > _MAX_THROTTLED:
                    raise _error(status, headers, data)
                wait = _DEFAULT_WAIT * throttled if wait is None else wait
                log.info("DPS answered {}; retrying in {} s", status, wait)
                time.sleep(wait)
                continue
            if status not in (200, 202):
                raise _error(status, headers, data)
            try:
                doc = json.loads(data)
                state = doc.get("registrationState") or {}
                op = doc.get("operationId")
                st = doc.get("status") or state.get("status")
            except (ValueError, AttributeError):
                raise ProvisioningError("DPS: answer is not JSON", status)
            if st == "assigned":
                hub = state.get("assignedHub")
                if not hub:
                    raise ProvisioningError("DPS: assigned without a hub", status)
                return hub, state.get("deviceId") or registration_id
            if st in ("failed", "disabled") or not op:
                raise ProvisioningError("DPS: registration {}: {}".format(
                    st, state.get("errorMessage")), status, state.get("errorCode"))
            time.sleep(_DEFAULT_WAIT if wait is None else wait)
            method, body, path = "GET", "", "{}/operations/{}".format(base, op)
        raise ProvisioningError("DPS: still assigning after {} polls".format(_MAX_POLLS), 202)
    finally:
        if sock:
            sock.close()


def run(client):
    # The provisioning phase of a connect: register, then keep the assignment (and cache it).
    hub, dev = register(client._endpoint, client._scope, client._reg_id, client._key,
                        client._model_id, client._ca_file, client._verify, client._log)
    client._assigned = (hub, dev)
    client._failures = 0
    if client._storage:
        from iotc.store import Credentials

        client._storage.persist(Credentials(hub, dev))
