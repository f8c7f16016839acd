# Runs under the unix port: the MicroPython control client talks to a running emulator.
import emuctl


def test_state():
    st, obj = emuctl.call("GET", "/state")
    assert st == 200, st
    assert obj["id_scope"] == "0ne0000EMU", obj


def test_errors_are_statuses():
    st, obj = emuctl.call("GET", "/devices/no-such-device")
    assert st == 404, st
    st, obj = emuctl.call("POST", "/faults", {"kind": "nonsense"})
    assert st == 400, st
