# X.509 attestation (IoTCConnectType.X509_CERT) against the emulator: an enrollment group's
# device certificate (issued by the emulator's device CA) and an individual enrollment's
# self-signed certificate, each provisioned, connected, sending telemetry and properties; the
# refusals (a CA no enrollment knows, an unknown thumbprint, a CN that is not the device id)
# with clear errors and one DPS request each; the files checked when the client is made; and a
# firmware whose TLS cannot present a client certificate (a stand-in `tls` module).
import json
import os

import emuctl
from iotc import AuthError, IoTCClient, IoTCConnectType, IoTCError
from libutil import Recorder, device, eq, telemetry, wait
from standin import with_tls

X509 = IoTCConnectType.X509_CERT
TMP = os.getenv("TMPDIR") or "/tmp"
RUN = "{:08x}".format(int.from_bytes(os.urandom(4), "big"))  # this run's files


def _files(device_id, issuer="group", name=None):
    # A certificate and key for device_id from the emulator (POST /certs), written to files.
    status, doc = emuctl.call("POST", "/certs", {"device_id": device_id, "issuer": issuer})
    eq(status, 201)
    base = "{}/iotc-x509-{}-{}".format(TMP, RUN, name or device_id)
    with open(base + ".crt", "w") as f:
        f.write(doc["cert"])
    with open(base + ".key", "w") as f:
        f.write(doc["key"])
    return base + ".crt", base + ".key", doc


def _client(device_id, creds):
    return IoTCClient(os.getenv("IOTC_EMU_SCOPE"), device_id, X509, creds,
                      endpoint=os.getenv("IOTC_EMU_DPS"), ca_file=os.getenv("IOTC_EMU_CA"),
                      logger=Recorder())


def _events(device_id, kind):
    status, doc = emuctl.call("GET", "/events?since=0&device=" + device_id)
    eq(status, 200)
    return [e for e in doc["events"] if e["type"] == kind]


def _round_trip(c, device_id):
    # Connected: telemetry, a reported property, a desired property acknowledged.
    acked = []
    c.on(1, lambda name, value, component: acked.append((name, value)) or value)
    c.connect()
    c.send_telemetry({"temperature": 21})
    c.send_property({"firmware": "x509"})
    status, _ = emuctl.call("POST", "/devices/{}/desired".format(device_id), {"fan": 3})
    eq(status, 200)
    wait(lambda: telemetry(device_id)
         and device(device_id)["twin"]["reported"].get("fan", {}).get("ac") == 200
         and device(device_id)["twin"]["reported"].get("firmware") == "x509", c,
         what="telemetry and properties")
    eq(json.loads(telemetry(device_id)[0]["body"]), {"temperature": 21})
    eq(acked, [("fan", 3)])
    eq(_events(device_id, "connected")[-1]["auth"], "x509")
    c.disconnect()


def test_group_certificate_provisions_and_connects():
    crt, key, _ = _files("x509-group-1")
    _round_trip(_client("x509-group-1", {"cert_file": crt, "key_file": key}), "x509-group-1")
    reg = device("x509-group-1")["registration"]
    eq(reg["enrollment"]["attestation"], "x509")
    eq(reg["enrollment"]["id"], os.getenv("IOTC_EMU_X509_GROUP_ID"))


def test_individual_self_signed_certificate_by_thumbprint():
    crt, key, doc = _files("x509-self-1", "self")
    status, _ = emuctl.call("POST", "/enrollments", {
        "kind": "individual", "registration_id": "x509-self-1", "attestation": "x509",
        "thumbprints": [doc["sha256"]]})
    eq(status, 201)
    # the iotc Python client's spelling of the files
    _round_trip(_client("x509-self-1", {"certFile": crt, "keyFile": key}), "x509-self-1")
    eq(device("x509-self-1")["registration"]["enrollment"]["kind"], "individual")


def test_old_sdk_spelling_and_a_cached_assignment_reconnects():
    from iotc import MemoryStorage

    crt, key, _ = _files("x509-group-2")
    c = _client("x509-group-2", {"certfile": crt, "keyfile": key})
    c.storage = MemoryStorage()
    c.connect()
    c.disconnect()
    c2 = _client("x509-group-2", {"certfile": crt, "keyfile": key})
    c2.storage = c.storage
    c2.connect()  # straight to the hub with the certificate: no second DPS registration
    c2.disconnect()
    eq(len(_events("x509-group-2", "dps_register")), 1)
    eq(len(_events("x509-group-2", "connected")), 2)


def _refused_once(device_id, c, words):
    try:
        c.connect()
    except AuthError as e:
        for w in words:
            if w not in str(e):
                raise AssertionError("{!r} not in {}".format(w, e))
    else:
        raise AssertionError("connect() did not raise AuthError")
    errors = _events(device_id, "dps_error")
    eq(len(errors), 1)  # one DPS request: no loop
    eq(errors[0]["status"], 401)
    return errors[0]["message"]


def test_certificate_from_an_unknown_ca_is_refused_401():
    crt, key, _ = _files("x509-wrong-ca", "untrusted")
    why = _refused_once("x509-wrong-ca", _client("x509-wrong-ca", {"cert_file": crt,
                                                                   "key_file": key}),
                        ("401", "does not chain to an enrolled"))
    if "CA" not in why:
        raise AssertionError(why)


def test_unknown_thumbprint_is_refused_401():
    crt, key, _ = _files("x509-self-2", "self")
    other = "AB" * 32
    status, _ = emuctl.call("POST", "/enrollments", {
        "kind": "individual", "registration_id": "x509-self-2", "attestation": "x509",
        "thumbprints": [other]})
    eq(status, 201)
    _refused_once("x509-self-2", _client("x509-self-2", {"cert_file": crt, "key_file": key}),
                  ("401", "thumbprint"))


def _config_error(creds, device_id="x509-cfg", words=()):
    try:
        _client(device_id, creds)
    except IoTCError as e:
        for w in words:
            if w not in str(e):
                raise AssertionError("{!r} not in {}".format(w, e))
        return str(e)
    raise AssertionError("IoTCClient() took {!r}".format(creds))


def test_files_checked_when_the_client_is_made():
    crt, key, _ = _files("x509-cfg")
    _config_error("not a dict", words=("cert_file", "key_file"))
    _config_error({"cert_file": crt}, words=("key_file",))
    _config_error({"cert_file": crt + ".missing", "key_file": key},
                  words=("cannot read the certificate file", ".missing"))
    _config_error({"cert_file": crt, "key_file": key + ".missing"}, words=("key file",))
    # the CN must be the device id: DPS registers a certificate under its CN
    _config_error({"cert_file": crt, "key_file": key}, "x509-other",
                  words=("CN is x509-cfg", "x509-other"))
    _config_error({"certFile": crt, "keyFile": key, "certPhrase": "secret"},
                  words=("encrypted", "unencrypted"))
    enc = key + ".enc"
    with open(enc, "w") as f:
        f.write("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    _config_error({"cert_file": crt, "key_file": enc}, words=("encrypted",))
    _client("x509-cfg", {"cert_file": crt, "key_file": key})  # and the good one is taken


class NoClientCertStandIn:
    # Stand-in for a firmware `tls` whose SSLContext verifies the server but cannot present a
    # client certificate: no load_cert_chain.
    CERT_NONE = 0
    CERT_REQUIRED = 2
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol):
            self.cas = []

        def load_verify_locations(self, cadata):
            self.cas.append(cadata)


class LegacyWrapStandIn:
    # Stand-in for firmware 1.21's `ssl`: an SSLContext that takes no CA, beside the legacy
    # wrap_socket(), which takes cadata=, cert= and key=.
    CERT_NONE = 0
    CERT_REQUIRED = 2
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol):
            pass

    class wrap_socket:
        def __init__(self, sock, **kw):
            self.made = kw

        def close(self):
            pass




def test_firmware_that_cannot_present_a_client_certificate_says_so():
    crt, key, _ = _files("x509-notls")
    c = _client("x509-notls", {"cert_file": crt, "key_file": key})
    try:
        with_tls(NoClientCertStandIn, c.connect)
    except IoTCError as e:
        if "cannot present a client certificate" not in str(e) or "load_cert_chain" not in str(e):
            raise AssertionError(e)
    else:
        raise AssertionError("connected without a client certificate")
    eq(c._tls, False)  # no later connect goes without the certificate
    eq(_events("x509-notls", "dps_register"), [])  # nothing was sent


def test_legacy_wrap_gets_the_certificate_and_key_as_der():
    from iotc import x509

    crt, key, _ = _files("x509-legacy")
    c = _client("x509-legacy", {"cert_file": crt, "key_file": key})

    def trust():
        from iotc import tls

        c._tls = tls.context(os.getenv("IOTC_EMU_CA"), True)
        x509.run(c)
        return c._tls

    t = with_tls(LegacyWrapStandIn, trust)
    eq(isinstance(t, list), True)
    eq(t[1]["cert"][:1], b"\x30")  # DER: a SEQUENCE
    eq(t[1]["key"][:1], b"\x30")
    eq(x509.common_name(t[1]["cert"]), "x509-legacy")
