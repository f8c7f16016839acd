# iotc dps: provisioning through Azure DPS over raw-socket HTTPS. Loaded while it runs.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import time

from micropython import const

from iotc import _forget

_MAX_POLLS = 10  # a module global, so a test can lower it
_MAX_THROTTLED = const(3)
_DEFAULT_WAIT = const(2)  # seconds, when DPS gives no Retry-After (as the Python SDK)
# Why provisioning failed, as iotc.failure.dps() numbers them.
_TRUNCATED = const(0)
_BAD_STATUS_LINE = const(1)
_BAD_HEADER = const(2)
_BAD_CHUNKED = const(3)
_BAD_LENGTH = const(4)
_NOT_JSON = const(5)
_NO_HUB = const(6)
_FAILED = const(7)
_STILL_ASSIGNING = const(8)
_REFUSED = const(9)


def _fail(*args):
    # -> iotc.failure.dps(reason, status, ...): the words load only when DPS fails.
    from iotc.failure import dps

    return dps(*args)


def _line(s, status):
    try:
        line = s.readline()
    except OSError:  # timed out waiting for the rest
        line = None
    if not line:
        raise _fail(_TRUNCATED, status)
    return line


def _read(s, n, status, buf=None):
    # n bytes, into buf when they fit (-> a view of it), else into a new buffer.
    mv = memoryview(buf)[:n] if buf is not None and n <= len(buf) else memoryview(bytearray(n))
    got = 0
    while got < n:
        try:
            r = s.readinto(mv[got:])
        except OSError:
            r = None
        if not r:
            raise _fail(_TRUNCATED, status)
        got += r
    return mv


def _response(s, buf):
    # -> (status, Retry-After in seconds or None, body, keep the connection?). A body that fits
    # in buf is a view of it: valid until the next answer is read.
    line = s.readline()
    if not line:
        raise OSError("DPS closed the connection")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _fail(_BAD_STATUS_LINE)
    status = int(parts[1])
    length = wait = None
    chunked = False
    keep = True
    while True:
        line = _line(s, status)
        if line in (b"\r\n", b"\n"):
            break
        k, sep, v = line.partition(b":")
        if not sep:
            raise _fail(_BAD_HEADER, status)
        k = k.strip().lower()
        v = v.strip().lower()
        if k == b"content-length":
            length = v
        elif k == b"retry-after":
            try:
                wait = max(0, int(v))
            except ValueError:
                wait = None
        elif k == b"transfer-encoding":
            chunked = b"chunked" in v
        elif k == b"connection":
            keep = v != b"close"
    if chunked:
        body = b""
        while True:
            try:
                n = int(_line(s, status).split(b";")[0], 16)
            except ValueError:
                raise _fail(_BAD_CHUNKED, status)
            if n == 0:
                _line(s, status)
                break
            body += _read(s, n, status)
            _line(s, status)
    elif length is not None:
        try:
            length = int(length)
        except ValueError:
            raise _fail(_BAD_LENGTH, status)
        body = _read(s, length, status, buf)
    else:
        body = s.read()  # no length: the body runs to the end of the connection
        keep = False
    return status, wait, body, keep


def register(client, auth):
    # -> (assigned hub, device id). Blocks while DPS assigns, waiting as long as it asks.
    # auth: the registration's SAS token, signed by iotc.connect before this module loaded;
    # None with X.509.
    reg_id = client.device_id
    host, _, port = client.endpoint.partition(":")
    # A device id is letters, digits and "-._:" (checked by IoTCClient): ":" is the one to quote.
    base = "/{}/registrations/{}".format(client.id_scope, reg_id.replace(":", "%3A"))
    payload = {"registrationId": reg_id}
    model_id = client.model_id
    if model_id:
        payload["payload"] = {"modelId": model_id, "iotcModelId": model_id}
    body = json.dumps(payload)
    method, path = "PUT", base + "/register"
    sock = None
    throttled = retried = 0
    buf = bytearray(512)  # each answer's body, made now while the heap is least cut up
    try:
        for _ in range(_MAX_POLLS + _MAX_THROTTLED + 1):
            fresh = sock is None
            if fresh:
                # iotc.session (open_tls) loads for the handshake only: it is freed before the
                # answers are read and parsed.
                from iotc.session import open_tls

                sock = open_tls(client, host, int(port or 443))
                del open_tls
                _forget("session")
            try:
                # In pieces, as str (written as UTF-8): the token and the body are not copied
                # into one request string, at the tightest moment of provisioning.
                # X.509 (auth None): no Authorization header, the client certificate speaks.
                for part in ("{} {}?api-version=2021-06-01 HTTP/1.1\r\nHost: {}\r\n"
                             "User-Agent: iotc\r\n".format(method, path, host),
                             auth and "Authorization: ", auth, auth and "\r\n",
                             "Content-Type: application/json\r\n"
                             "Content-Length: {}\r\n\r\n".format(len(body)), body):
                    if part:
                        sock.write(part)
                status, wait, data, keep = _response(sock, buf)
                # DPS answered (a registration, billed): while healing, not again for 20 min.
                client._dps_at = time.time() + client.RETRY_MAX_MS * 12 / 1000
            except OSError:
                sock.close()
                sock = None
                if fresh or retried:
                    raise
                retried = 1  # the kept-alive connection had gone stale: once more, afresh
                continue
            if not keep or status == 200:  # 200: DPS has decided; no more requests after it
                sock.close()  # and the heap has the TLS session back before the JSON is parsed
                sock = None
            if status == 429 or status >= 500:
                throttled += 1
                if throttled > _MAX_THROTTLED:
                    raise _fail(_REFUSED, status, wait, data)
                wait = _DEFAULT_WAIT * throttled if wait is None else wait
                client._log("DPS answered {}; retrying in {} s", status, wait)
                time.sleep(wait)
                continue
            if status not in (200, 202):
                if status in (401, 403):
                    client._assigned = False  # refused: the next attempt provisions again
                raise _fail(_REFUSED, status, wait, data)
            try:
                doc = json.loads(data)
                state = doc.get("registrationState") or {}
                op = doc.get("operationId")
                st = doc.get("status") or state.get("status")
            except (ValueError, AttributeError):
                raise _fail(_NOT_JSON, status)
            if st == "assigned":
                hub = state.get("assignedHub")
                if not hub:
                    raise _fail(_NO_HUB, status)
                return hub, state.get("deviceId") or reg_id
            if st in ("failed", "disabled") or not op:
                raise _fail(_FAILED, status, st, state)
            time.sleep(_DEFAULT_WAIT if wait is None else wait)
            method, body, path = "GET", "", "{}/operations/{}".format(base, op)
        raise _fail(_STILL_ASSIGNING, 202, _MAX_POLLS)
    finally:
        if sock:
            sock.close()


def run(client, auth):
    # The provisioning phase of a connect: register, keep the assignment (and cache it), then
    # on to iotc.session with it (fresh: a refusal now is not the cache's fault).
    # The failure count stays: a hub that keeps refusing fresh assignments still backs off.
    hub, dev = client._assigned = register(client, auth)
    if client.storage:
        from iotc.store import Credentials

        client.storage.persist(Credentials(hub, dev))
    return "session", True
