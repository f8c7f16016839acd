# configparser for MicroPython, as much of it as the iotc Python client's async sample reads
# (sections, a key, getboolean, DEFAULT's keys in every section). Test glue, not the library.
# MIT license; Copyright (c) 2026 the iotc authors


class _Section:
    def __init__(self, keys, defaults):
        self.keys = keys
        self.defaults = defaults

    def __getitem__(self, key):
        key = key.lower()
        if key in self.keys:
            return self.keys[key]
        return self.defaults[key]

    def getboolean(self, key, fallback=None):
        try:
            v = self[key]
        except KeyError:
            return fallback
        return v.lower() in ("1", "yes", "true", "on")


class ConfigParser:
    def __init__(self):
        self.sections = {"DEFAULT": {}}

    def read(self, path):
        keys = None
        try:
            f = open(path)
        except OSError:
            return []
        with f:
            for line in f:
                line = line.strip()
                if not line or line[0] in ";#":
                    continue
                if line[0] == "[":
                    keys = self.sections.setdefault(line[1:-1], {})
                else:
                    k, _, v = line.partition("=")
                    keys[k.strip().lower()] = v.strip()
        return [path]

    def __getitem__(self, name):
        return _Section(self.sections[name], self.sections["DEFAULT"])
