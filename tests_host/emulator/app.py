"""The application's view of the emulator: a client for its control API, and the CLI commands
that use it (watch, invoke, set, send, devices, twin, fault, limits).

    app = AppClient("127.0.0.1:8080")
    app.set_desired("dev1", {"targetTemperature": 21})
    print(app.invoke("dev1", "reboot", {"delay": 1}, timeout=10))
"""

import http.client
import json
import time
from urllib.parse import quote, urlencode


class AppError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP {}: {}".format(status, body))
        self.status, self.body = status, body


class AppClient:
    def __init__(self, url, timeout=30.0):
        url = url.split("://", 1)[-1].rstrip("/")
        host, _, port = url.rpartition(":")
        self.host, self.port = host.strip("[]") or "127.0.0.1", int(port)
        self.timeout = timeout

    def request(self, method, path, body=None, timeout=None, ok=(200, 201, 202)):
        """-> (status, decoded JSON). AppError for a status outside `ok` (unless ok=None)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Connection": "close"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        obj = json.loads(raw) if raw else None
        if ok is not None and resp.status not in ok:
            raise AppError(resp.status, obj)
        return resp.status, obj

    def get(self, path, **kw):
        return self.request("GET", path, **kw)[1]

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)[1]

    # --- the API ---------------------------------------------------------------------------

    def state(self):
        return self.get("/state")

    def devices(self):
        return self.get("/devices")

    def device(self, device_id):
        return self.get("/devices/" + quote(device_id, safe=""))

    def twin(self, device_id):
        return self.device(device_id)["twin"]

    def telemetry(self, device_id, since=0):
        return self.get("/devices/{}/telemetry?since={}".format(quote(device_id, safe=""), since))

    def methods(self, device_id):
        return self.get("/devices/{}/methods".format(quote(device_id, safe="")))

    def method_call(self, call_id):
        return self.get("/methods/" + quote(call_id, safe=""))

    def set_desired(self, device_id, patch):
        return self.post("/devices/{}/desired".format(quote(device_id, safe="")), patch)["version"]

    def invoke(self, device_id, name, payload=None, timeout=30, wait=True):
        """wait=True -> {"status", "payload"} (AppError 504 on timeout, 404 when offline);
        wait=False -> the call id, to poll with method_call()."""
        q = urlencode({"timeout": timeout, "wait": 1 if wait else 0})
        path = "/devices/{}/methods/{}?{}".format(
            quote(device_id, safe=""), quote(name, safe=""), q)
        res = self.post(path, payload, timeout=float(timeout) + 10)
        return res if wait else res["id"]

    def send_c2d(self, device_id, body, properties=None):
        return self.post("/devices/{}/c2d".format(quote(device_id, safe="")),
                         {"body": body, "properties": properties or {}})["id"]

    def drop(self, device_id):
        return self.post("/devices/{}/drop".format(quote(device_id, safe="")))

    def events(self, since=0, wait=0):
        """-> (events, last seq). Waits up to `wait` s for at least one event after `since`."""
        res = self.get("/events?since={}&wait={}".format(since, wait), timeout=float(wait) + 10)
        return res["events"], res["last"]

    def wait_event(self, match, since=0, timeout=10.0):
        """First event after `since` for which match(event) is true, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            evs, last = self.events(since, min(left, 5.0))
            for e in evs:
                if match(e):
                    return e
            since = max(since, last if not evs else evs[-1]["seq"])

    def last_seq(self):
        return self.state()["events"]

    def add_enrollment(self, kind="group", key=None, enabled=True, **kw):
        body = dict(kw, kind=kind, enabled=enabled)
        if key:
            body["key"] = key
        return self.post("/enrollments", body)

    def remove_enrollment(self, kind, ident):
        return self.request("DELETE", "/enrollments/{}/{}".format(kind, quote(ident, safe="")))[1]

    def fault(self, **kw):
        """Arm a fault knob: fault(kind="drop", device="dev1"); README lists them."""
        return self.post("/faults", kw)

    def clear_faults(self):
        return self.post("/faults/clear")

    def limits(self):
        return self.get("/limits")

    def put_file(self, name, **kw):
        """An update file over HTTPS (files.py): put_file("app.py", text=..) | (base64=..) |
        (size=n, seed=s) -> {"name", "url", "size", "sha256"}."""
        return self.request("PUT", "/files/" + quote(name, safe=""), kw)[1]

    def file_fault(self, **kw):
        """file_fault(kind="cut", after=1000, name=None, count=1): files.py lists the kinds."""
        return self.post("/files/faults", kw)

    def files(self):
        return self.get("/files")

    def set_limits(self, **kw):
        """set_limits(d2c_per_s=2, d2c_burst=2) -> all limits after the change."""
        return self.post("/limits", kw)


# --- CLI commands (python -m tests_host.emulator watch|invoke|set|send|devices|twin) -----------


def format_event(e, with_time=True):
    """One readable line for an event of the log."""
    t = time.strftime("%H:%M:%S ", time.localtime(e["ts"])) if with_time else ""
    kind, dev = e["type"], e.get("device", "-")
    if kind == "telemetry":
        extra = ""
        if e.get("properties"):
            extra += "  props=" + json.dumps(e["properties"], default=str)
        if e.get("system"):
            extra += "  sys=" + json.dumps(e["system"], default=str)
        return "{}{:<14} telemetry  {}{}".format(t, dev, e["body"][:500], extra)
    skip = {"seq", "ts", "type", "device"}
    rest = " ".join("{}={}".format(k, json.dumps(v, default=str))
                    for k, v in e.items() if k not in skip)
    return "{}{:<14} {:<10} {}".format(t, dev, kind, rest[:500])


QUIET = ("subscribed", "not_delivered", "c2d_sent")  # what `watch` leaves out unless asked


def watch(app, kinds=None, out=print):
    """Print events as they happen (Ctrl-C to stop). kinds=None: all but the QUIET ones."""
    since = app.state()["events"]
    out("watching {}:{} (Ctrl-C to stop)".format(app.host, app.port))
    while True:
        evs, last = app.events(since, 20)
        for e in evs:
            if e["type"] in kinds if kinds else e["type"] not in QUIET:
                out(format_event(e))
        since = evs[-1]["seq"] if evs else since
