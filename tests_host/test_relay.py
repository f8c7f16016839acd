"""The relay (relay/relay.py, nginx's stream module) between an ESP8266-like client and the
emulator, which like Azure offers only ECDHE suites (docs/esp8266.md, "The relay").

A unix-port client restricted to axTLS's four suites (RSA key exchange) is refused by the
emulator directly, and through the relay completes provisioning, telemetry, a reported and a
desired property, and a command. The relay runs as users run it (one command), with routes
to the emulator and its CA as the trusted root; the emulator's names are DNS names, as
Azure's are, and the device dials the relay's address while SNI, tokens and topics keep them.

nginx and its stream module come from Debian (the Makefile installs them where it can); where
they are missing the tests are skipped with the reason, or fail under CI=true.
"""

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid

import pytest

import harness
from relayfixture import (DPS_NAME, EMULATOR_ARGS, HUB_NAME, RELAY_PY, Relay, nginx_missing,
                          routes)
from relayfixture import port_of as _port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEVICE = os.path.join(HERE, "mp", "relay_device.py")
MICROPYPATH = ":".join([ROOT, os.path.join(ROOT, ".deps", "lib"), ".frozen"])
AXTLS_OPENSSL = "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256"


def _need_nginx():
    why = nginx_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why + " (CI=true: the relay test must run)")
        pytest.skip(why)


@pytest.fixture
def setup(emulator_factory, tmp_path):
    """-> (emulator with DNS names, relay in front of it)."""
    _need_nginx()
    emu = emulator_factory(extra_args=EMULATOR_ARGS)
    relay = Relay(tmp_path / "relay", routes(emu), emu.info["ca_pem"])
    yield emu, relay
    relay.stop()


def run_device(emu, tmp_path, device_id, endpoint, ca, relay=None):
    env = dict(os.environ, MICROPYPATH=MICROPYPATH, DEVICE=device_id, ENDPOINT=endpoint, CA=ca,
               IOTC_EMU_SCOPE=emu.info["id_scope"], IOTC_EMU_GROUP_KEY=emu.info["group_key"])
    env.pop("RELAY", None)
    if relay:
        env["RELAY"] = relay
    return subprocess.Popen([harness.MICROPYTHON, DEVICE], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=90):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def test_relay_axtls_client(setup, tmp_path, relay_report):
    emu, relay = setup

    # Directly: the emulator (ECDHE only, as Azure) refuses the handshake.
    dev = "relay-direct-" + uuid.uuid4().hex[:6]
    rc, out = finish(run_device(emu, tmp_path, dev, emu.info["dps"].replace(HUB_NAME,
                                "127.0.0.1"), emu.info["ca_der"]), timeout=60)
    assert rc != 0 and "CONNECTED" not in out, out
    refused = [line for line in emu.log().splitlines() if "handshake from" in line]
    assert refused and "NO_SHARED_CIPHER" in refused[-1], emu.log()[-3000:]
    relay_report("direct to the emulator, axTLS suites only: refused; client: {}".format(
        out.strip().splitlines()[-1]))
    relay_report("  emulator: {}".format(refused[-1].split("tls: ", 1)[-1]))

    # Through the relay: the device dials the relay, trusts the relay's CA (which signed a
    # certificate for the real names), and keeps the real names in SNI, tokens and topics.
    dev = "relay-" + uuid.uuid4().hex[:6]
    since = emu.app.last_seq()
    proc = run_device(emu, tmp_path, dev, DPS_NAME,
                      os.path.join(relay.dir, "relay-ca.pem"),
                      relay="127.0.0.1:{}".format(relay.port))
    try:
        e = emu.app.wait_event(lambda e: e["type"] == "subscribed" and e.get("device") == dev
                               and e.get("topic", "").startswith("$iothub/methods/"),
                               since=since, timeout=45)
        assert e is not None, "never connected"
        version = emu.app.set_desired(dev, {"interval": 5})
        ack = emu.app.wait_event(
            lambda e: e["type"] == "reported" and e.get("device") == dev
            and isinstance(e["patch"].get("interval"), dict)
            and e["patch"]["interval"].get("av") == version, since=since, timeout=20)
        assert ack and ack["patch"]["interval"]["ac"] == 200, "desired property not acknowledged"
        res = emu.app.invoke(dev, "reboot", {"delay": 1}, timeout=20)
        assert res["status"] == 200 and res["payload"] == {"up": 1}, res
    finally:
        rc, out = finish(proc)
    assert rc == 0 and "RELAY DEVICE OK" in out, out + "\n--- relay ---\n" + relay.log()
    assert [json.loads(t["body"])["n"] for t in emu.app.telemetry(dev)] == [0, 1, 2]
    assert emu.app.twin(dev)["reported"]["firmware"] == "relay-1"
    log = relay.access()
    assert "sni={} upstream=127.0.0.1:{}".format(DPS_NAME, _port(emu.info["dps"])) in log, log
    assert "sni={} upstream=127.0.0.1:{}".format(HUB_NAME, _port(emu.info["hub"])) in log, log
    relay_report("through the relay, axTLS suites only: provisioned, 3 telemetry messages, "
                 "reported + desired property, command answered")
    for line in log.splitlines():
        if "sni=-" not in line:  # not the test's own check that the relay listens
            relay_report("  relay: " + line.split(" ", 2)[-1])


def test_relay_is_not_open(setup):
    # A name outside the routes (or none) gets no upstream: the relay closes the connection.
    emu, relay = setup
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(AXTLS_OPENSSL)
    for sni in ("example.com", None):
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                assert s.cipher()[0] in AXTLS_OPENSSL.split(":")
                s.sendall(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
                try:
                    got = s.recv(100)
                except (ConnectionError, ssl.SSLError):
                    got = b""
                assert got == b"", got
    time.sleep(0.3)
    assert 'sni=example.com upstream= ' in relay.access(), relay.access()


def test_relay_checks_the_upstream(emulator_factory, tmp_path):
    # Trusting roots the emulator's certificate does not chain to, the relay refuses the
    # upstream: it checks what it connects to, as it does Azure's certificates by default.
    _need_nginx()
    emu = emulator_factory(extra_args=EMULATOR_ARGS)
    wrong = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "other-ca.key"), "-out", str(wrong), "-days", "2", "-subj",
                    "/CN=not the emulator"], check=True, capture_output=True)
    route = "{}=127.0.0.1:{}".format(DPS_NAME, _port(emu.info["dps"]))
    relay = Relay(tmp_path / "relay", [route], str(wrong))
    try:
        ctx = ssl.create_default_context(cafile=os.path.join(relay.dir, "relay-ca.pem"))
        ctx.set_ciphers(AXTLS_OPENSSL)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=DPS_NAME) as s:  # the relay's own check
                s.sendall(b"GET / HTTP/1.1\r\nHost: " + DPS_NAME.encode() + b"\r\n\r\n")
                try:
                    got = s.recv(100)
                except (ConnectionError, ssl.SSLError):
                    got = b""
        assert got == b"", got
        deadline = time.monotonic() + 5
        while "certificate verify" not in relay.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "upstream SSL certificate verify error" in relay.log(), relay.log()
    finally:
        relay.stop()


def test_relay_azure_configuration(tmp_path):
    # The default configuration (Azure's routes and roots) is valid nginx; this machine cannot
    # reach Azure, so it is checked, not run.
    _need_nginx()
    r = subprocess.run([sys.executable, RELAY_PY, "--dir", str(tmp_path), "--check",
                        "--resolver", "127.0.0.53"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    conf = (tmp_path / "nginx.conf").read_text()
    assert "global.azure-devices-provisioning.net $ssl_server_name:443;" in conf
    assert '"~*^[a-z0-9-]+\\.azure-devices\\.net$" $ssl_server_name:8883;' in conf
    assert "proxy_ssl_verify on;" in conf and "azure-roots.pem" in conf
    cert = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "relay.pem"), "-noout",
                           "-ext", "subjectAltName"], capture_output=True, text=True).stdout
    assert "DNS:*.azure-devices.net" in cert
    assert "DNS:global.azure-devices-provisioning.net" in cert
