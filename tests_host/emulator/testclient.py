"""Small blocking clients for the emulator's own tests: raw HTTPS requests to DPS and a raw MQTT
client that shows every packet, so tests can send malformed input and read exact answers.
"""

import json
import socket
import ssl
import time
from urllib.parse import quote

from . import mqttcodec as m
from . import sas

API = "2021-10-01"


def split_hostport(hp):
    host, _, port = hp.rpartition(":")
    return host.strip("[]"), int(port)


def tls_context(ca_pem):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=ca_pem)
    return ctx


def tls_connect(hostport, ca_pem, timeout=10.0):
    host, port = split_hostport(hostport)
    raw = socket.create_connection((host, port), timeout=timeout)
    return tls_context(ca_pem).wrap_socket(raw, server_hostname=host)


def read_all(sock, limit=1 << 22):
    out = b""
    while len(out) < limit:
        try:
            b = sock.recv(65536)
        except (ConnectionError, ssl.SSLError):
            break
        if not b:
            break
        out += b
    return out


def parse_http(raw):
    """-> (status, {lower header: value}, body). status None when there is no status line."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = None
    if lines and lines[0].startswith("HTTP/1.1 "):
        status = int(lines[0].split(" ")[1])
        lines = lines[1:]
    headers = {}
    for ln in lines:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def read_response(sock):
    """One HTTP answer framed by its Content-Length, from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        b = sock.recv(65536)
        if not b:
            raise EOFError("closed before the answer's head")
        data += b
    status, headers, body = parse_http(data)
    n = int(headers["content-length"])
    while len(body) < n:
        b = sock.recv(65536)
        if not b:
            raise EOFError("closed inside the answer's body")
        body += b
    return status, headers, body


def request_bytes(info, method, path, body=None, headers=None):
    if body is None:
        data = b""
    else:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Host": info["dps"], "Content-Type": "application/json",
         "Content-Length": str(len(data))}
    h.update(headers or {})
    head = "{} {} HTTP/1.1\r\n".format(method, path)
    head += "".join("{}: {}\r\n".format(k, v) for k, v in h.items() if v is not None)
    return head.encode() + b"\r\n" + data


def https(info, method, path, body=None, headers=None, raw=None, timeout=10.0):
    """One request to DPS over HTTPS. raw = exact bytes to send instead of a built request."""
    s = tls_connect(info["dps"], info["ca_pem"], timeout)
    try:
        if raw is None:
            raw = request_bytes(info, method, path, body, dict({"Connection": "close"},
                                                               **(headers or {})))
        s.sendall(raw)
        return parse_http(read_all(s))
    finally:
        s.close()


def dps_token(info, reg_id, key=None, ttl=3600, expiry=None, encode=True, skn="registration"):
    key = key or sas.derive_device_key(info["group_key"], reg_id)
    return sas.make_token(key, "{}/registrations/{}".format(info["id_scope"], reg_id), ttl=ttl,
                          expiry=expiry, skn=skn, encode=encode)


def register(info, reg_id, token=None, payload=None, scope=None):
    path = "/{}/registrations/{}/register?api-version={}".format(
        scope or info["id_scope"], reg_id, API)
    body = {"registrationId": reg_id}
    if payload is not None:
        body["payload"] = payload
    return https(info, "PUT", path, body,
                 {"Authorization": token if token is not None else dps_token(info, reg_id)})


def poll(info, reg_id, op_id, token=None):
    path = "/{}/registrations/{}/operations/{}?api-version={}".format(
        info["id_scope"], reg_id, op_id, API)
    return https(info, "GET", path, None,
                 {"Authorization": token if token is not None else dps_token(info, reg_id)})


def provision(info, reg_id, key=None, payload=None, max_polls=10):
    """Register and poll until assigned -> registrationState. Asserts on anything else."""
    token = dps_token(info, reg_id, key)
    st, h, body = register(info, reg_id, token, payload)
    assert st == 202, (st, body)
    op = json.loads(body)["operationId"]
    for _ in range(max_polls):
        st, h, body = poll(info, reg_id, op, token)
        if st == 200:
            return json.loads(body)["registrationState"]
        assert st == 202, (st, body)
        time.sleep(min(float(h.get("retry-after", 0)), 0.2))
    raise AssertionError("still assigning after {} polls".format(max_polls))


def hub_token(info, device_id, key, ttl=3600, expiry=None, encode=True):
    return sas.make_token(key, "{}/devices/{}".format(info["hub_name"], device_id), ttl=ttl,
                          expiry=expiry, encode=encode)


def hub_username(info, device_id, extra=""):
    return "{}/{}/?api-version=2021-04-12{}".format(info["hub_name"], device_id, extra)


class Mqtt:
    """A raw MQTT client over TLS. Packets come back as (type, flags, body)."""

    def __init__(self, hostport, ca_pem, timeout=10.0):
        self.sock = tls_connect(hostport, ca_pem, timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.pid = 0
        self.inbox = []  # PUBLISH packets read while waiting for something else

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no packet")
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except (ssl.SSLZeroReturnError, ConnectionResetError):
                b = b""
            except socket.timeout:
                raise TimeoutError("no packet") from None
            if not b:
                raise EOFError("closed by the server")
            self.buf += b

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        n, shift, i = 0, 0, 1
        while True:
            self._fill(i + 1, deadline)
            b = self.buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        self._fill(i + n, deadline)
        first, body = self.buf[0], self.buf[i:i + n]
        self.buf = self.buf[i + n:]
        return first >> 4, first & 0x0F, body

    def closed(self, timeout=5.0):
        """True when the server closes the connection within `timeout` (packets are skipped)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.recv(deadline - time.monotonic())
        except EOFError:
            return True
        except (TimeoutError, OSError):
            return False
        return False

    def connect(self, client_id, username=None, password=None, keepalive=60, clean=True,
                will=None):
        self.send(m.connect(client_id, username, password, keepalive, clean, will))
        t, f, body = self.recv()
        assert t == m.CONNACK, (t, body)
        return body[1], bool(body[0] & 1)

    def next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    def subscribe(self, *filters):
        pid = self.next_pid()
        self.send(m.subscribe(pid, [(f, 1) if isinstance(f, str) else f for f in filters]))
        t, f, body = self.expect(m.SUBACK)
        assert body[:2] == pid.to_bytes(2, "big")
        return list(body[2:])

    def publish(self, topic, payload=b"", qos=0):
        pid = self.next_pid() if qos else None
        self.send(m.publish(topic, payload, qos, pid))
        if qos == 1:
            self.expect(m.PUBACK)

    def expect(self, ptype, timeout=5.0):
        """Next packet of this type (PUBLISH packets meanwhile are kept in self.inbox)."""
        deadline = time.monotonic() + timeout
        while True:
            t, f, body = self.recv(max(0.01, deadline - time.monotonic()))
            if t == ptype:
                return t, f, body
            if t == m.PUBLISH:
                self.inbox.append(m.parse_publish(f, body))

    def message(self, prefix, timeout=5.0):
        """Next PUBLISH whose topic starts with prefix: (topic, payload, qos, pid, retain, dup)."""
        for i, msg in enumerate(self.inbox):
            if msg[0].startswith(prefix):
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            t, f, body = self.recv(max(0.01, deadline - time.monotonic()))
            if t == m.PUBLISH:
                msg = m.parse_publish(f, body)
                if msg[0].startswith(prefix):
                    return msg
                self.inbox.append(msg)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def hub_connect(info, device_id, key, clean=True, keepalive=60, extra="", ttl=3600):
    """Connected raw client for a provisioned device (asserts CONNACK 0)."""
    c = Mqtt(info["hub"], info["ca_pem"])
    code, _ = c.connect(device_id, hub_username(info, device_id, extra),
                        hub_token(info, device_id, key, ttl=ttl), keepalive, clean)
    assert code == 0, code
    return c


def quoted(s):
    return quote(s, safe="")
