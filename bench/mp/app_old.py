# iotc bench: the application a user of micropython-iotc 1.1.0 writes, as its README shows,
# plus the bridges the bench needs to run it here (kept out of the client's files).
import json
import sys

NAME = "micropython-iotc 1.1.0"


def bridge():
    # Call before the client is imported. See bench/bridge/*.py for why each one is needed;
    # `urequests` and `ussl` are found on MICROPYPATH (bench/bridge), these two are built-ins
    # on the unix port, so they are replaced in sys.modules.
    import bench_clock
    import bench_net

    sys.modules["utime"] = bench_clock
    sys.modules["usocket"] = bench_net
    sys.modules["socket"] = bench_net


class _Storage:
    # The storage object the old client accepts: retrieve() -> Credentials or None, persist().
    # (Its Credentials.to_json_string() cannot serialise its own bytes fields, so the bench
    # stores the three strings itself, as an application would have to.)
    def __init__(self, path):
        self.path = path

    def retrieve(self):
        from iotc.provision import Credentials

        try:
            with open(self.path) as f:
                d = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return Credentials(d["host"], d["user"], d["password"])

    def persist(self, creds):
        with open(self.path, "w") as f:
            f.write(json.dumps({"host": creds.host, "user": creds.user.decode(),
                                "password": creds.password.decode()}))


class App:
    qos1 = False  # send_telemetry() has no QoS parameter: every message goes out at QoS 0

    def __init__(self, cfg, use_cache=True, qos=0):
        from iotc import IoTCClient, IoTCConnectType, IoTCEvents, IoTCLogLevel

        if qos:
            raise ValueError("micropython-iotc 1.1.0 sends telemetry at QoS 0 only")
        self.acked = 0
        self.answered = 0
        self.client = c = IoTCClient(
            cfg["id_scope"], cfg["device_id"], IoTCConnectType.SYMM_KEY, cfg["group_key"],
            storage=_Storage(cfg["cache"]) if use_cache else None)
        c.set_log_level(IoTCLogLevel.DISABLED)
        c.on(IoTCEvents.PROPERTIES, self._on_props)
        c.on(IoTCEvents.COMMANDS, self._on_cmd)

    def _on_props(self, name, value, component):
        self.acked += 1
        return True  # the old client acknowledges a truthy return

    def _on_cmd(self, command):
        command.reply()
        self.answered += 1

    def connect(self):
        self.client.connect()
        return self.client.is_connected()

    def telemetry(self, payload):
        self.client.send_telemetry(payload)

    def report(self, props):
        self.client.send_property(props)

    def listen(self):
        self.client.listen()

    def confirmed(self):
        return None  # no delivery confirmation at QoS 0

    def close(self):
        try:
            self.client._mqtt_client.disconnect()
        except Exception:
            pass
