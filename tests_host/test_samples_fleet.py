"""samples/fleet.py (iotc-rate and iotc-stop) runs, unmodified, under the unix port against the
emulator, and does what IoT Central asks; checked on the emulator's application side, as
test_samples.py checks the other samples (whose helpers it uses)."""

import json

from test_samples import finish, new_id, start, wait_connected, write_config


def test_sample_fleet_throttled_and_stopped(emulator, tmp_path):
    dev = new_id("s-fleet")
    write_config(emulator, tmp_path, dev, loops=15, interval=0.3)
    since = emulator.app.last_seq()
    proc = start("fleet.py", tmp_path)
    try:
        wait_connected(emulator, dev, since, proc)
        version = emulator.app.set_desired(dev, {"iotcSendInterval": 0.2})
        res = emulator.app.invoke(dev, "iotcStop", {"seconds": 2}, timeout=15)
        assert res["status"] == 200 and isinstance(res["payload"]["until"], int), res
        # Stopped, then back by itself at the stop's end, with no help from the sample.
        e = emulator.app.wait_event(
            lambda e: e["type"] == "connected" and e.get("device") == dev
            and e.get("connects") == 2, since=since, timeout=30)
        assert e is not None, "no reconnect after the stop"
    finally:
        out = finish(proc)
    assert "down: stopped by the cloud" in out, out
    counts = [json.loads(t["body"])["count"] for t in emulator.app.telemetry(dev)]
    assert counts == list(range(1, 16)), out
    assert emulator.app.device(dev)["connects"] == 2
    ack = emulator.app.twin(dev)["reported"]["iotcSendInterval"]
    assert ack["value"] == 0.2 and ack["ac"] == 200 and ack["av"] == version, ack
    assert not (tmp_path / "iotc_stop.json").exists()
