# iotc store: the cached DPS assignment (hub host and device id; never a key or token)
# MIT license; Copyright (c) 2026 the iotc authors


class Credentials:
    def __init__(self, host, device_id):
        self.host = host
        self.device_id = device_id

    def to_json(self):
        import json

        return json.dumps({"host": self.host, "device_id": self.device_id})

    @classmethod
    def from_json(cls, text):
        import json

        d = json.loads(text)
        return cls(d["host"], d["device_id"])


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
