# Pure protocol functions: topics, property bags, classification, IoT Central payloads.
from iotc import AuthError, IoTCError, ProvisioningError, command, desired, failure, proto, topics


def eq(a, b):
    if a != b:
        raise AssertionError("{!r} != {!r}".format(a, b))


def test_username_with_model_id():
    eq(topics.hub_username("h.azure-devices.net", "dev1", "dtmi:com:example:Thermostat;1"),
       "h.azure-devices.net/dev1/?api-version=2021-04-12"
       "&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1")
    eq(topics.hub_username("h", "d"), "h/d/?api-version=2021-04-12")


def test_telemetry_topic():
    eq(topics.telemetry_topic("dev1", "application/json", "utf-8"),
       "devices/dev1/messages/events/$.ct=application%2Fjson&$.ce=utf-8")
    eq(topics.telemetry_topic("dev1", None, None), "devices/dev1/messages/events/")


def test_property_bag_round_trip():
    bag = topics.property_bag({"alert level": "high&low", "$.sub": "thermostat1", "flag": None})
    parsed = proto.parse_bag(bag)
    eq(parsed, {"alert level": "high&low", "$.sub": "thermostat1", "flag": None})


def test_parse_bag_forms():
    eq(proto.parse_bag("a=1&b&c="), {"a": "1", "b": None, "c": ""})
    eq(proto.parse_bag(""), {})


def test_classify():
    c2d = "devices/dev1/messages/devicebound/"
    eq(proto.classify("$iothub/twin/res/200/?$rid=7", c2d), (1, 200, "7"))
    eq(proto.classify("$iothub/twin/res/204/?$rid=8&$version=3", c2d), (1, 204, "8"))
    eq(proto.classify("$iothub/twin/PATCH/properties/desired/?$version=5", c2d),
       (2, 5, None))
    eq(proto.classify("$iothub/methods/POST/thermostat*reboot/?$rid=1f", c2d),
       (3, "thermostat*reboot", "1f"))
    kind, props, _ = proto.classify(c2d + "method-name=reboot&%24.mid=abc", c2d)
    eq((kind, props), (4, {"method-name": "reboot", "$.mid": "abc"}))
    eq(proto.classify("devices/other/messages/devicebound/x", c2d)[0], 0)


def test_classify_rejects_malformed_topics():
    for bad in ("$iothub/twin/res/abc/?$rid=1", "$iothub/twin/res/", "$iothub/methods/POST/x",
                "$iothub/methods/POST//?$rid=1"):
        try:
            proto.classify(bad, "devices/d/messages/devicebound/")
        except ValueError:
            continue
        raise AssertionError("accepted " + bad)


def test_split_command():
    eq(command.split_command("thermostat*reboot"), ("thermostat", "reboot"))
    eq(command.split_command("reboot"), (None, "reboot"))


def test_desired_items_components_and_legacy_wrapper():
    patch = {"fanSpeed": 3, "legacy": {"value": 7},
             "thermostat1": {"__t": "c", "targetTemperature": 21.5, "$x": 1},
             "obj": {"a": 1, "b": 2}, "$version": 9}
    got = sorted(desired.desired_items(patch), key=lambda t: t[1])
    eq(got, [(None, "fanSpeed", 3), (None, "legacy", 7), (None, "obj", {"a": 1, "b": 2}),
             ("thermostat1", "targetTemperature", 21.5)])


def test_reported_version():
    rep = {"fan": {"value": 1, "ac": 200, "av": 4}, "c1": {"__t": "c", "p": {"av": 2}}, "x": 5}
    eq(desired.reported_version(rep, None, "fan"), 4)
    eq(desired.reported_version(rep, "c1", "p"), 2)
    eq(desired.reported_version(rep, None, "x"), -1)
    eq(desired.reported_version(rep, "nope", "p"), -1)


def test_ack_payloads():
    eq(desired.ack(None, "fan", 3, 4), {"fan": {"value": 3, "ac": 200, "av": 4}})
    eq(desired.ack("c1", "p", 1, 2, 500, "bad"),
       {"c1": {"__t": "c", "p": {"value": 1, "ac": 500, "av": 2, "ad": "bad"}}})


def test_failure_texts_for_dps():
    # iotc.dps names its reasons by number; iotc.failure has the words (loaded only to raise).
    e = failure.dps(0, 200)
    eq((type(e), str(e), e.status, e.code), (ProvisioningError, "DPS: truncated HTTP answer", 200,
                                             None))
    e = failure.dps(7, 200, "failed", {"errorCode": 400209, "errorMessage": "custom allocation"})
    eq((str(e), e.code), ("DPS: registration failed: custom allocation", 400209))
    eq(str(failure.dps(8, 202, 10)), "DPS: still assigning after 10 polls")
    e = failure.dps(9, 429, 3, b'{"errorCode": 429001, "message": "throttled"}')
    eq((type(e), e.status, e.code, e.retry_after), (ProvisioningError, 429, 429001, 3))
    e = failure.dps(9, 401, None, b"not json")
    if type(e) is not AuthError or "401" not in str(e) or "clock" not in str(e):
        raise AssertionError(repr(e))


def test_failure_texts_for_connack():
    e = failure.connack(5)
    eq((type(e), str(e)), (AuthError, "hub refused the connection: CONNACK 5 (not authorized)"))
    eq(type(failure.connack(3)), IoTCError)
    eq(str(failure.connack(9)), "hub refused the connection: CONNACK 9 (?)")


def test_quote_keeps_unreserved_and_encodes_the_rest():
    eq(topics.quote("Az09-_.~"), "Az09-_.~")
    eq(topics.quote("a b/c:d?e=f&$"), "a%20b%2Fc%3Ad%3Fe%3Df%26%24")
    eq(topics.quote("\u00e9"), "%C3%A9")


def test_unquote():
    eq(proto.unquote("a%20b%2Fc+d"), "a b/c d")
    eq(proto.unquote("100%"), "100%")
    eq(proto.unquote("%zz"), "%zz")
