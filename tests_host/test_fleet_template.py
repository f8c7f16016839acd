"""docs/fleet-template.json, the DTDL interface for IoT Central's device template: valid JSON, a
DTDL v2 interface, and exactly the names the fleet packages answer to, each of the kind the
module handles (a writable property, a command, a property the device reports).

A package whose module is not in this tree (iotc/ota.py, merged from another branch) has its
entries checked once it is."""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "docs", "fleet-template.json")

# package: (module, {constant in the module: the kind its name must have in the template})
PACKAGES = {
    "iotc-rate": ("rate.py", {"NAME": "writable"}),
    "iotc-stop": ("stop.py", {"NAME": "command"}),
    "iotc-ota": ("ota.py", {"COMMAND": "command", "PROPERTY": "reported"}),
}


def _kind(entry):
    types = entry["@type"] if isinstance(entry["@type"], list) else [entry["@type"]]
    if "Command" in types:
        return "command"
    assert "Property" in types, entry
    return "writable" if entry.get("writable") else "reported"


def _constant(module, name):
    with open(os.path.join(ROOT, "iotc", module)) as f:
        m = re.search(r'^{} = "([^"]+)"'.format(name), f.read(), re.M)
    assert m, "{} defines no {}".format(module, name)
    return m.group(1)


def test_template_is_a_dtdl_interface():
    with open(TEMPLATE) as f:
        doc = json.load(f)
    assert doc["@context"] == "dtmi:dtdl:context;2"
    assert doc["@type"] == "Interface"
    assert re.match(r"^dtmi:[A-Za-z](\w*[A-Za-z0-9])?(:[A-Za-z](\w*[A-Za-z0-9])?)*;[1-9]\d*$",
                    doc["@id"])
    names = [e["name"] for e in doc["contents"]]
    assert len(names) == len(set(names))
    for e in doc["contents"]:
        assert re.match(r"^[A-Za-z](\w*[A-Za-z0-9])?$", e["name"]) and len(e["name"]) <= 64


def test_template_names_exactly_what_the_modules_answer():
    with open(TEMPLATE) as f:
        doc = json.load(f)
    by_package = {}
    for e in doc["contents"]:
        package = e["description"].split(":")[0]
        assert package in PACKAGES, e["description"]
        by_package.setdefault(package, {})[e["name"]] = _kind(e)
    assert set(by_package) == set(PACKAGES)
    checked = []
    for package, (module, constants) in PACKAGES.items():
        if not os.path.exists(os.path.join(ROOT, "iotc", module)):
            print("not in this tree, not checked:", package, sorted(by_package[package]))
            continue
        want = {_constant(module, c): kind for c, kind in constants.items()}
        assert by_package[package] == want, package
        checked.append(package)
    assert "iotc-rate" in checked and "iotc-stop" in checked


def test_stop_request_field_is_what_the_module_reads():
    with open(TEMPLATE) as f:
        doc = json.load(f)
    stop = [e for e in doc["contents"] if e["name"] == _constant("stop.py", "NAME")][0]
    fields = [f["name"] for f in stop["request"]["schema"]["fields"]]
    with open(os.path.join(ROOT, "iotc", "stop.py")) as f:
        src = f.read()
    for name in fields:
        assert '"{}"'.format(name) in src, name
