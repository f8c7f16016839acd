# iotc bench: the application a user of this project's iotc writes (README's API), unchanged
# for the bench: endpoint and ca_file are the client's own parameters, so no bridge is needed.
NAME = "iotc (this repo)"


def bridge():
    pass


class App:
    qos1 = True

    def __init__(self, cfg, use_cache=True, qos=0):
        from iotc import IoTCClient, IoTCConnectType, IoTCEvents, IoTCLogLevel
        from iotc import FileStorage, MemoryStorage

        self.acked = 0
        self.answered = 0
        self.sent = 0
        self.client = c = IoTCClient(
            cfg["id_scope"], cfg["device_id"], IoTCConnectType.SYMM_KEY, cfg["group_key"],
            storage=FileStorage(cfg["cache"]) if use_cache else MemoryStorage(),
            endpoint=cfg["dps"], ca_file=cfg["ca_file"], verify=cfg.get("verify", True),
            qos=qos)
        c.set_log_level(IoTCLogLevel.DISABLED)
        c.on(IoTCEvents.PROPERTIES, self._on_props)
        c.on(IoTCEvents.COMMANDS, self._on_cmd)
        c.on(IoTCEvents.MESSAGE_SENT, self._on_sent)

    def _on_props(self, name, value, component):
        self.acked += 1
        return value  # acknowledged with status 200

    def _on_cmd(self, command, ack):
        ack(command, {"done": True})
        self.answered += 1

    def _on_sent(self, kind, info):
        self.sent += 1

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
        return self.sent

    def close(self):
        self.client.disconnect()
