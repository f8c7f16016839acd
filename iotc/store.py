# iotc store: the cached DPS assignment (hub host and device id; never a key or token)
# MIT license; Copyright (c) 2026 the iotc authors


class Credentials:
    # Credentials(host, device_id); micropython-iotc 1.1's Credentials(host, user, password) is
    # taken too: its MQTT user name "host/device/?api-version=..." names the device, and its
    # password (a SAS token) is not kept, as a fresh one is made at each connect.
    def __init__(self, host, device_id, password=None):
        if isinstance(device_id, bytes):
            device_id = device_id.decode()
        if "/" in device_id:
            device_id = device_id.split("/")[1]
        self.host = host
        self.device_id = device_id

    def to_json(self):
        import json

        return json.dumps({"host": self.host, "device_id": self.device_id})

    @classmethod
    def from_json(cls, text):
        # Also a file micropython-iotc 1.1 wrote ({"host", "user", "password"}).
        import json

        d = json.loads(text)
        return cls(d["host"], d.get("device_id") or d["user"])

    # micropython-iotc 1.1's names for the same two
    to_json_string = to_json
    create_from_json_string = from_json


class MemoryStorage:
    # Keeps the assignment for the life of the program (a warm reconnect skips DPS).
    def __init__(self):
        self.credentials = None

    def retrieve(self):
        return self.credentials

    def persist(self, credentials):
        self.credentials = credentials


class FileStorage:
    # Keeps the assignment in a small JSON file on the board's filesystem across reboots.
    def __init__(self, path="/iotc.json"):
        self.path = path

    def retrieve(self):
        try:
            with open(self.path) as f:
                return Credentials.from_json(f.read())
        except (OSError, ValueError, KeyError):
            return None

    def persist(self, credentials):
        if credentials is None:
            try:
                import os

                os.remove(self.path)
            except OSError:
                pass
            return
        with open(self.path, "w") as f:
            f.write(credentials.to_json())
