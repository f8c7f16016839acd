# iotc emulator knobs: the fault knobs of the control API, armed from their JSON
# MIT license; Copyright (c) 2026 the iotc authors
"""POST /faults {"kind": .., ..}: arm one fault knob (README here: Control API lists them)."""

import json
import struct
import time

from . import mqttcodec as m
from .dps_http import MALFORMED_KINDS
from .errors import ServiceError
from .tcpfault import TARGETS, Hold


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def number(value, name, default, lo=0.0, hi=86400.0):
    if value is None or value == "":
        return default
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, "{} must be a number".format(name)) from None
    if not lo <= v <= hi:
        raise ApiError(400, "{} out of range".format(name))
    return v


def _tcp(st, hub, kind, f, count):
    """half_open and cut_after (tcpfault.py): for a device, or the next connection(s) to a
    service (target)."""
    dev_id, target = f.get("device"), f.get("target")
    if (dev_id is None) == (target is None):
        raise ApiError(400, "{} needs a device or a target ({})".format(kind, ", ".join(TARGETS)))
    if target is not None and target not in TARGETS:
        raise ApiError(400, "target must be one of " + ", ".join(TARGETS))
    if kind == "half_open":
        seconds = f.get("seconds")
        spec = {"kind": kind, "count": count,
                "seconds": None if seconds is None else number(seconds, "seconds", 0, 0)}
        if target:
            st.faults.tcp_next[target] = spec
            return
        dev = hub.device(dev_id)
        hold = Hold(spec["seconds"])
        if dev.conn is None or not dev.conn.half_open(hold):
            raise ServiceError(404103, "device is not connected (or already half-open)")
        return
    limits = {k: int(number(f.get(k), k, None, 0, 1e9)) for k in ("received", "sent")
              if f.get(k) is not None}
    if not limits:
        raise ApiError(400, "cut_after needs received or sent (bytes)")
    spec = dict(limits, kind=kind, count=count)
    if target:
        st.faults.tcp_next[target] = spec
    else:
        hub.device(dev_id)
        st.faults.cut_device[dev_id] = spec


def arm(st, hub, f):
    if not isinstance(f, dict) or not isinstance(f.get("kind"), str):
        raise ApiError(400, 'fault must be a JSON object with "kind"')
    kind = f["kind"]
    count = int(number(f.get("count"), "count", 1, 1, 1e6))
    dev_id = f.get("device")
    if kind == "drop":
        return {"dropped": hub.drop(dev_id, f.get("reason") or "dropped by a fault")}
    if kind in ("half_open", "cut_after"):
        _tcp(st, hub, kind, f, count)
    elif kind == "refuse_connect":
        code = int(number(f.get("code"), "code", m.UNAVAILABLE, 1, 255))
        if not isinstance(dev_id, str):
            raise ApiError(400, "refuse_connect needs a device")
        st.faults.refuse[dev_id] = [count, code]
    elif kind == "twin_status":
        status = int(number(f.get("status"), "status", 500, 100, 599))
        if not isinstance(dev_id, str):
            raise ApiError(400, "twin_status needs a device")
        st.faults.twin_status[dev_id] = [count, status]
    elif kind == "dps_status":
        status = int(number(f.get("status"), "status", 429, 100, 599))
        ra = f.get("retry_after")
        st.faults.dps_status = {"status": status, "count": count,
                                "retry_after": None if ra is None else
                                int(number(ra, "retry_after", 0, 0, 3600))}
    elif kind == "dps_assigning":
        st.faults.dps_assigning = int(number(f.get("polls"), "polls", 1, 0, 1000))
        st.faults.dps_assigning_count = int(number(f.get("count"), "count", 0, 0, 1e6))
    elif kind == "dps_malformed":
        mode = f.get("mode")
        if mode not in MALFORMED_KINDS:
            raise ApiError(400, "mode must be one of " + ", ".join(MALFORMED_KINDS))
        st.faults.dps_malformed = mode
    elif kind == "stall":
        hub.device(dev_id).stall_until = time.time() + number(f.get("seconds"), "seconds", 5.0)
    elif kind == "publish":
        payload = f.get("payload", "")
        if not isinstance(payload, str):
            payload = json.dumps(payload)
        payload = payload.encode()
        qos = int(number(f.get("qos"), "qos", 0, 0, 1))
        pid = hub.device(dev_id).conn.next_pid() if qos and hub.device(dev_id).conn else None
        hub.send_raw(dev_id, m.publish(str(f.get("topic", "")), payload, qos=qos, pid=pid))
    elif kind == "oversized":
        size = int(number(f.get("size"), "size", 300 * 1024, 1, 64 * 1024 * 1024))
        topic = f.get("topic") or "$iothub/twin/PATCH/properties/desired/?$version=999"
        hub.send_raw(dev_id, m.publish(topic, b"x" * size))
    elif kind == "malformed_publish":
        # A PUBLISH whose topic length points past the end of the packet.
        body = struct.pack("!H", 200) + b"devices/broken"
        hub.send_raw(dev_id, m.packet(m.PUBLISH, 0, body))
    elif kind == "garbage":
        if "hex" in f:
            data = bytes.fromhex(f["hex"])
        else:
            data = str(f.get("data", "\xff\xfe garbage \x00")).encode("latin-1", "replace")
        hub.send_raw(dev_id, data)
    else:
        raise ApiError(400, "unknown fault kind " + kind)
    st.events.add("fault", device=dev_id, kind=kind, spec=f)
    return {"armed": kind}
