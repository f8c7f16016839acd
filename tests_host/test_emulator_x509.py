"""X.509 attestation in the emulator, seen with raw CPython clients (docs/x509.md): DPS
authenticates a request with no Authorization header by the TLS client certificate (401 for a
CN that is not the registration id, a CA no enrollment knows, an unknown thumbprint); the hub
takes a CONNECT with no password from a device whose certificate matches what it registered
with (else CONNACK 5); the TLS handshake itself never fails over a client certificate."""

import json
import os
import socket
import ssl
import uuid

from emulator import mqttcodec as m
from emulator import testclient as tc

API = "?api-version=2021-06-01"


def new_id(prefix="x5-"):
    return prefix + uuid.uuid4().hex[:8]


def cert_files(emulator, tmp_path, device_id, issuer="group"):
    doc = emulator.app.post("/certs", {"device_id": device_id, "issuer": issuer})
    crt, key = tmp_path / (device_id + ".crt"), tmp_path / (device_id + ".key")
    crt.write_text(doc["cert"])
    key.write_text(doc["key"])
    return str(crt), str(key), doc


def tls(hostport, ca_pem, crt=None, key=None):
    host, port = tc.split_hostport(hostport)
    ctx = tc.tls_context(ca_pem)
    if crt:
        ctx.load_cert_chain(crt, key)
    raw = socket.create_connection((host, port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=host)


def register(info, reg_id, crt=None, key=None):
    s = tls(info["dps"], info["ca_pem"], crt, key)
    body = json.dumps({"registrationId": reg_id}).encode()
    head = ("PUT /{}/registrations/{}/register{} HTTP/1.1\r\nHost: dps\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n").format(
                info["id_scope"], reg_id, API, len(body))
    s.sendall(head.encode() + body)
    status, _, data = tc.parse_http(tc.read_all(s))
    s.close()
    return status, json.loads(data)


def provision(info, reg_id, crt, key):
    status, doc = register(info, reg_id, crt, key)
    assert status == 202, doc
    s = tls(info["dps"], info["ca_pem"], crt, key)
    for _ in range(10):
        head = ("GET /{}/registrations/{}/operations/{}{} HTTP/1.1\r\nHost: dps\r\n"
                "Connection: close\r\n\r\n").format(info["id_scope"], reg_id,
                                                    doc["operationId"], API)
        s = tls(info["dps"], info["ca_pem"], crt, key)
        s.sendall(head.encode())
        status, _, data = tc.parse_http(tc.read_all(s))
        s.close()
        if status == 200:
            return json.loads(data)["registrationState"]
    raise AssertionError("not assigned")


def hub_connect(info, device_id, crt=None, key=None, password=None):
    c = tc.Mqtt.__new__(tc.Mqtt)
    c.sock = tls(info["hub"], info["ca_pem"], crt, key)
    c.buf, c.pid, c.inbox = b"", 0, []
    code, _ = c.connect(device_id, tc.hub_username(info, device_id), password)
    c.close()
    return code


def test_group_certificate_registers_and_connects_without_password(emulator, tmp_path):
    info, dev = emulator.info, new_id()
    crt, key, _ = cert_files(emulator, tmp_path, dev)
    state = provision(info, dev, crt, key)
    assert state["x509"] == {"enrollmentGroupId": info["x509_group_id"]}
    assert hub_connect(info, dev, crt, key) == m.ACCEPTED
    # another certificate of the same CA with the same CN is accepted as well (CA-signed)
    again = tmp_path / "again"
    again.mkdir()
    crt2, key2, _ = cert_files(emulator, again, dev)
    assert hub_connect(info, dev, crt2, key2) == m.ACCEPTED


def test_dps_refusals_are_401(emulator, tmp_path):
    info = emulator.info
    dev = new_id()
    crt, key, _ = cert_files(emulator, tmp_path, dev)
    status, doc = register(info, new_id(), crt, key)  # CN is not the registration id
    assert status == 401 and "CN" in doc["message"], doc
    assert doc["errorCode"] == 401002
    bad = new_id()
    crt, key, _ = cert_files(emulator, tmp_path, bad, "untrusted")
    status, doc = register(info, bad, crt, key)
    assert status == 401 and "CA" in doc["message"], doc
    me = new_id()
    crt, key, _ = cert_files(emulator, tmp_path, me, "self")
    status, doc = register(info, me, crt, key)  # self-signed, not enrolled
    assert status == 401, doc
    emulator.app.post("/enrollments", {"kind": "individual", "registration_id": me,
                                               "attestation": "x509",
                                               "thumbprints": ["00" * 20]})
    status, doc = register(info, me, crt, key)
    assert status == 401 and "thumbprint" in doc["message"], doc
    status, doc = register(info, new_id())  # no certificate, no token
    assert status == 401, doc


def test_individual_self_signed_by_thumbprint_and_hub_refusals(emulator, tmp_path):
    info, dev = emulator.info, new_id()
    crt, key, doc = cert_files(emulator, tmp_path, dev, "self")
    emulator.app.post("/enrollments", {"kind": "individual", "registration_id": dev,
                                               "attestation": "x509", "cert": doc["cert"]})
    state = provision(info, dev, crt, key)
    assert state["x509"] == {"enrollmentId": dev}
    assert hub_connect(info, dev, crt, key) == m.ACCEPTED
    # another self-signed certificate with the same CN: its thumbprint is not the enrolled one
    other = tmp_path / "other"
    other.mkdir()
    crt2, key2, _ = cert_files(emulator, other, dev, "self")
    assert hub_connect(info, dev, crt2, key2) == m.NOT_AUTHORIZED
    # the same certificate, but for a device id that is not its CN
    assert hub_connect(info, new_id(), crt, key) == m.NOT_AUTHORIZED
    # no certificate and no password: bad user name or password, as before
    assert hub_connect(info, dev) == m.BAD_USER_PASS
    ev = [e for e in emulator.app.get("/events?since=0&device=" + dev)["events"]
          if e["type"] == "connect_refused"]
    assert any("thumbprint" in e["reason"] for e in ev), ev


def test_cli_cert_writes_files_and_enrolls(emulator, tmp_path):
    import subprocess
    import sys

    info, dev = emulator.info, new_id()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "tests_host.emulator", "cert", dev, "--issuer",
                          "self", "--enroll", "--out", str(tmp_path), "--control",
                          info["control"]], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "enrolled" in out.stdout
    crt, key = str(tmp_path / (dev + ".crt")), str(tmp_path / (dev + ".key"))
    assert provision(info, dev, crt, key)["x509"] == {"enrollmentId": dev}
