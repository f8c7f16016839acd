# iotc emulator files: update files served over HTTPS, for the OTA package (iotc-ota)
# MIT license; Copyright (c) 2026 the iotc authors
"""A small HTTPS file server beside DPS and the hub, with the emulator's CA and certificate:
what an application would put on a web server or blob storage for an update over the air.

Control API (control.py routes /files here):
  PUT  /files/{name}    body {"text": str} | {"base64": str} | {"size": n, "seed": s}
                        -> {"name", "url", "size", "sha256"}  (a manifest's entry)
  GET  /files           [{"name", "size", "sha256", "fetches"}]
  POST /files/faults    {"kind": "cut", "after": bytes} | {"kind": "slow", "delay": s per
                        "every" bytes (default 4096)} | {"kind": "corrupt", "offset": n} |
                        {"kind": "status", "status": 404}; optional "name" (default: any file)
                        and "count" (default 1: the next fetch only)
  POST /faults/clear    clears these too
Devices fetch GET /f/{name} (HTTP/1.1, Content-Length, Connection: close). Every fetch and
every fault applied is an event ("file_fetch", "fault").
"""

import asyncio
import base64
import binascii
import hashlib
import random

from . import httpio
from .knobs import ApiError, number

MAX_FILE = 4 * 1024 * 1024
KINDS = ("cut", "slow", "corrupt", "status")


class Files:
    def __init__(self, state, log):
        self.state = state
        self.log = log
        self.files = {}  # name -> bytes
        self.fetches = {}  # name -> count
        self.faults = []  # armed: dicts with kind, name (or None), count, ...
        self.base = None  # "https://host:port", set when the listener is up

    # --- the control side ----------------------------------------------------------------

    def route(self, req, rest):
        if not rest and req.method == "GET":
            return 200, [dict(self.entry(n), fetches=self.fetches.get(n, 0)) for n in self.files]
        if rest == ["faults"] and req.method == "POST":
            return 200, self.arm(req.json())
        if len(rest) == 1 and req.method in ("PUT", "POST"):
            return 201, self.put(rest[0], req.json())
        if len(rest) == 1 and req.method == "DELETE":
            if self.files.pop(rest[0], None) is None:
                raise ApiError(404, "no such file")
            return 200, {"deleted": rest[0]}
        raise ApiError(404, "no such files API: {} {}".format(req.method, req.path))

    def put(self, name, obj):
        if not isinstance(obj, dict):
            raise ApiError(400, "give {\"text\"}, {\"base64\"} or {\"size\", \"seed\"}")
        if "text" in obj:
            data = str(obj["text"]).encode()
        elif "base64" in obj:
            try:
                data = base64.b64decode(obj["base64"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise ApiError(400, "base64 is not base64") from None
        else:
            size = int(number(obj.get("size"), "size", 0, 0, MAX_FILE))
            data = random.Random(obj.get("seed", 0)).randbytes(size)
        self.files[name] = data
        self.state.events.add("file_put", name=name, size=len(data))
        return self.entry(name)

    def entry(self, name):
        data = self.files[name]
        return {"name": name, "url": "{}/f/{}".format(self.base, name), "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()}

    def arm(self, f):
        if not isinstance(f, dict) or f.get("kind") not in KINDS:
            raise ApiError(400, "kind must be one of " + ", ".join(KINDS))
        spec = {"kind": f["kind"], "name": f.get("name"),
                "count": int(number(f.get("count"), "count", 1, 1, 1e6))}
        if spec["kind"] == "cut":
            spec["after"] = int(number(f.get("after"), "after", 0, 0, MAX_FILE))
        elif spec["kind"] == "slow":
            spec["delay"] = number(f.get("delay"), "delay", 0.5, 0, 60)
            spec["every"] = int(number(f.get("every"), "every", 4096, 1, MAX_FILE))
        elif spec["kind"] == "corrupt":
            spec["offset"] = int(number(f.get("offset"), "offset", 0, 0, MAX_FILE))
        else:
            spec["status"] = int(number(f.get("status"), "status", 404, 100, 599))
        self.faults.append(spec)
        self.state.events.add("fault", kind="file_" + spec["kind"], spec=spec)
        return {"armed": "file_" + spec["kind"]}

    def clear(self):
        self.faults = []

    def _take(self, name):
        for spec in self.faults:
            if spec["name"] in (None, name):
                spec["count"] -= 1
                if spec["count"] <= 0:
                    self.faults.remove(spec)
                return spec
        return None

    # --- the device side -----------------------------------------------------------------

    async def serve(self, reader, writer):
        try:
            try:
                req = await asyncio.wait_for(httpio.read_request(reader, 0), 30)
            except (EOFError, asyncio.TimeoutError):
                return
            except httpio.HttpError as e:
                writer.write(httpio.response(e.status, {"error": str(e)}))
                return
            p = [x for x in req.path.split("/") if x]
            name = p[1] if len(p) == 2 and p[0] == "f" else None
            data = self.files.get(name)
            if req.method != "GET" or data is None:
                self.state.events.add("file_fetch", name=name, status=404)
                writer.write(httpio.response(404, {"error": "no such file"}))
                return
            self.fetches[name] = self.fetches.get(name, 0) + 1
            spec = self._take(name)
            kind = spec and spec["kind"]
            if kind:
                self.state.events.add("fault", kind="file_" + kind, name=name, spec=spec)
            if kind == "status":
                self.state.events.add("file_fetch", name=name, status=spec["status"])
                writer.write(httpio.response(spec["status"], {"error": "armed fault"}))
                return
            if kind == "corrupt" and data:
                at = min(spec["offset"], len(data) - 1)
                data = data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1:]
            head = httpio.response(200, b"", content_type="application/octet-stream")
            head = head.replace(b"Content-Length: 0", b"Content-Length: %d" % len(data))
            writer.write(head)
            end = len(data) if kind != "cut" else min(spec["after"], len(data))
            every = spec["every"] if kind == "slow" else 16384
            for at in range(0, end, every):
                writer.write(data[at:min(at + every, end)])
                await writer.drain()
                if kind == "slow":
                    await asyncio.sleep(spec["delay"])
            self.state.events.add("file_fetch", name=name, status=200, sent=end,
                                  fault=kind)
            if kind == "cut":  # the connection ends short of Content-Length
                await writer.drain()
                writer.transport.abort()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                await writer.drain()
            except (ConnectionError, OSError, RuntimeError):
                pass
            await httpio.close(writer)
