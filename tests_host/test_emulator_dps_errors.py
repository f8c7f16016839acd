"""DPS error answers (PROTOCOL.md §1.1): each malformed request gets the documented status and a
JSON error body, and the emulator keeps serving (every test provisions a device afterwards)."""

import json
import socket
import time
import uuid

from emulator import sas
from emulator import testclient as tc

API = "?api-version=2021-10-01"


def new_id():
    return "err-" + uuid.uuid4().hex[:8]


def assert_error(resp, status):
    st, headers, body = resp
    assert st == status, (st, body)
    obj = json.loads(body)
    assert obj["errorCode"] // 1000 == status, obj
    assert obj["trackingId"] and obj["message"] and obj["timestampUtc"].endswith("Z"), obj
    return obj


def still_serves(emulator):
    rs = tc.provision(emulator.info, new_id())
    assert rs["status"] == "assigned"


def test_wrong_key_is_401(emulator):
    info, dev = emulator.info, new_id()
    other = sas.derive_device_key(info["group_key"], "someone-else")
    obj = assert_error(tc.register(info, dev, tc.dps_token(info, dev, key=other)), 401)
    assert obj["errorCode"] == 401002
    still_serves(emulator)


def test_expired_token_is_401(emulator):
    info, dev = emulator.info, new_id()
    tok = tc.dps_token(info, dev, expiry=int(time.time()) - 5)
    assert "expired" in assert_error(tc.register(info, dev, tok), 401)["message"]
    still_serves(emulator)


def test_token_for_other_registration_is_401(emulator):
    info, dev = emulator.info, new_id()
    tok = tc.dps_token(info, "other-device", key=sas.derive_device_key(info["group_key"], dev))
    assert_error(tc.register(info, dev, tok), 401)
    still_serves(emulator)


def test_missing_or_garbled_authorization_is_401(emulator):
    info, dev = emulator.info, new_id()
    path = "/{}/registrations/{}/register{}".format(info["id_scope"], dev, API)
    assert_error(tc.https(info, "PUT", path, {"registrationId": dev}), 401)
    for bad in ("SharedAccessSignature", "Basic abc", "SharedAccessSignature sr=x&sig=y&se=z",
                tc.dps_token(info, dev).replace("skn=registration", "skn=iothubowner")):
        assert_error(tc.https(info, "PUT", path, {"registrationId": dev},
                              {"Authorization": bad}), 401)
    still_serves(emulator)


def test_token_variants_accepted(emulator):
    """Raw or encoded sr, with or without skn, header name in any case."""
    info = emulator.info
    for encode, skn in ((True, None), (False, "registration"), (True, "")):
        dev = new_id()
        tok = tc.dps_token(info, dev, encode=encode, skn=skn)
        path = "/{}/registrations/{}/register{}".format(info["id_scope"], dev, API)
        st, _, body = tc.https(info, "PUT", path, {"registrationId": dev}, {"AUTHORIZATION": tok})
        assert st == 202, body


def test_unknown_scope_is_404(emulator):
    info, dev = emulator.info, new_id()
    tok = sas.make_token(sas.derive_device_key(info["group_key"], dev),
                         "0ne00000BAD/registrations/" + dev)
    obj = assert_error(tc.register(info, dev, tok, scope="0ne00000BAD"), 404)
    assert obj["errorCode"] == 404001
    still_serves(emulator)


def test_unknown_operation_is_404(emulator):
    info, dev = emulator.info, new_id()
    assert_error(tc.poll(info, dev, "4.0000000000000000.nope"), 404)
    st, _, body = tc.register(info, new_id())
    op = json.loads(body)["operationId"]
    assert_error(tc.poll(info, dev, op), 404)  # someone else's operation
    still_serves(emulator)


def test_no_enrollment_is_404(emulator_factory):
    emu = emulator_factory()
    info, app, dev = emu.info, emu.app, new_id()
    app.remove_enrollment("group", info["group_id"])
    assert assert_error(tc.register(info, dev), 404)["errorCode"] == 404002
    app.add_enrollment("group", id=info["group_id"], key=info["group_key"])
    still_serves(emu)


def test_disabled_group_other_group_key(emulator):
    info, app = emulator.info, emulator.app
    g = app.add_enrollment("group", id="grp-" + uuid.uuid4().hex[:6])
    dev = new_id()
    rs = tc.provision(info, dev, key=sas.derive_device_key(g["key"], dev))
    assert rs["symmetricKey"] == {"enrollmentGroupId": g["id"]}
    app.add_enrollment("group", id=g["id"], key=g["key"], enabled=False)
    tok = tc.dps_token(info, dev, sas.derive_device_key(g["key"], dev))
    assert_error(tc.register(info, dev, tok), 401)
    still_serves(emulator)


def test_bad_json_and_bad_body_are_400(emulator):
    info, dev = emulator.info, new_id()
    path = "/{}/registrations/{}/register{}".format(info["id_scope"], dev, API)
    auth = {"Authorization": tc.dps_token(info, dev)}
    obj = assert_error(tc.https(info, "PUT", path, b"{not json", auth), 400)
    assert obj["errorCode"] == 400004
    assert_error(tc.https(info, "PUT", path, b"[1, 2]", auth), 400)
    assert_error(tc.https(info, "PUT", path, {"registrationId": "another"}, auth), 400)
    assert_error(tc.https(info, "PUT", path, b"\xff\xfe", auth), 400)
    still_serves(emulator)


def test_bad_http_is_answered(emulator):
    info, dev = emulator.info, new_id()
    # no api-version
    path = "/{}/registrations/{}/register".format(info["id_scope"], dev)
    assert_error(tc.https(info, "PUT", path, {"registrationId": dev},
                          {"Authorization": tc.dps_token(info, dev)}), 400)
    # an api-version DPS does not know: what DPS answers (iotedge#4112)
    path = "/{}/registrations/{}/register?api-version=2019-04-15".format(info["id_scope"], dev)
    obj = assert_error(tc.https(info, "PUT", path, {"registrationId": dev},
                                {"Authorization": tc.dps_token(info, dev)}), 400)
    assert obj["errorCode"] == 400004 and obj["message"] == "Unsupported API version 2019-04-15."
    # not HTTP at all, inside TLS
    st, _, body = tc.https(info, None, None, raw=b"\x00\x01garbage\r\n\r\n")
    assert st == 400
    # body longer than DPS accepts
    path = "/{}/registrations/{}/register{}".format(info["id_scope"], dev, API)
    st, _, _ = tc.https(info, "PUT", path, b"x" * (97 * 1024), {"Authorization": "x"})
    assert st == 413
    # unknown path and wrong method
    assert tc.https(info, "GET", "/nothing/here" + API)[0] == 404
    assert tc.https(info, "DELETE", path)[0] == 405
    # chunked request bodies are fine too
    raw = ("PUT {} HTTP/1.1\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n".format(path, tc.dps_token(info, dev)).encode())
    body = json.dumps({"registrationId": dev}).encode()
    raw += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert tc.https(info, None, None, raw=raw)[0] == 202
    still_serves(emulator)


def test_api_versions_in_use_accepted(emulator):
    """What real clients send is taken (README: Limits); micropython-iotc 1.1.0: 2019-01-15."""
    info = emulator.info
    for v in ("2018-09-01-preview", "2019-01-15", "2019-03-31", "2021-06-01", "2021-10-01"):
        dev = new_id()
        path = "/{}/registrations/{}/register?api-version={}".format(info["id_scope"], dev, v)
        st, _, body = tc.https(info, "PUT", path, {"registrationId": dev},
                               {"Authorization": tc.dps_token(info, dev)})
        assert st == 202, (v, body)


def test_plain_tcp_garbage_on_tls_port(emulator):
    host, port = tc.split_hostport(emulator.info["dps"])
    for data in (b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b""):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    still_serves(emulator)


def test_dps_over_mqtt_raw(emulator):
    info, dev = emulator.info, new_id()
    user = "{}/registrations/{}/api-version=2019-03-31".format(info["id_scope"], dev)
    c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
    try:
        bad = tc.dps_token(info, dev, key=sas.derive_device_key(info["group_key"], "x"))
        assert c.connect(dev, user, bad)[0] == 5
    finally:
        c.close()
    c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
    try:
        assert c.connect(dev, user, tc.dps_token(info, dev))[0] == 0
        assert c.subscribe("$dps/registrations/res/#", "$dps/other/#") == [1, 0x80]
        c.publish("$dps/registrations/PUT/iotdps-register/?$rid=1",
                  json.dumps({"registrationId": dev, "payload": {"modelId": "dtmi:a:b;1"}}))
        topic, payload, *_ = c.message("$dps/registrations/res/")
        assert topic == "$dps/registrations/res/202/?$rid=1&retry-after=1"
        op = json.loads(payload)["operationId"]
        c.publish("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=" + op)
        topic, payload, *_ = c.message("$dps/registrations/res/")
        assert topic == "$dps/registrations/res/200/?$rid=2"
        assert json.loads(payload)["registrationState"]["assignedHub"] == info["hub_name"]
        c.publish("$dps/registrations/PUT/iotdps-register/?$rid=3", b"{bad")
        topic, payload, *_ = c.message("$dps/registrations/res/")
        assert topic == "$dps/registrations/res/400/?$rid=3"
        assert json.loads(payload)["errorCode"] == 400004
        c.publish("$dps/elsewhere", b"x")
        assert c.closed()
    finally:
        c.close()
    still_serves(emulator)


def test_garbage_on_dps_mqtt(emulator):
    info = emulator.info
    for data in (b"\x00\x00", b"\x10\xff\xff\xff\xff\x7f", b"GET / HTTP/1.1\r\n\r\n"):
        c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
        try:
            c.send(data)
            assert c.closed()
        finally:
            c.close()
    dev = new_id()
    c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
    try:
        user = "{}/registrations/{}/api-version=2019-03-31".format(info["id_scope"], dev)
        assert c.connect(dev, "not-a-dps-user", tc.dps_token(info, dev))[0] == 4
    finally:
        c.close()
    c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
    try:
        assert c.connect("other", user, tc.dps_token(info, dev))[0] == 2
    finally:
        c.close()
    c = tc.Mqtt(info["dps_mqtt"], info["ca_pem"])
    try:
        old = user.replace("2019-03-31", "2017-01-01")
        assert c.connect(dev, old, tc.dps_token(info, dev))[0] == 1
    finally:
        c.close()
    still_serves(emulator)
