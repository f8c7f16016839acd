"""Everything the emulator remembers: enrollments, registrations, devices and their twins,
telemetry, method calls, the event log and the armed faults. In memory only (except the default
group key, kept in the state folder); one asyncio loop owns it, so no locks.
"""

import asyncio
import base64
import datetime
import os
import secrets
import time
import uuid

from . import sas
from .limits import Limits

TELEMETRY_KEEP = 5000  # messages kept per device
EVENTS_KEEP = 20000  # events kept in the log


def utc_iso(t=None):
    t = time.time() if t is None else t
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "{:03d}Z".format(d.microsecond // 1000)


def new_key():
    return base64.b64encode(secrets.token_bytes(64)).decode()


class Enrollment:
    def __init__(self, kind, ident, key, registration_id=None, enabled=True, ca=None,
                 thumbprints=()):
        self.kind = kind  # "group" or "individual"
        self.id = ident  # group id, or the registration id of an individual enrollment
        self.key = key  # symmetric key attestation; None for X.509
        self.registration_id = registration_id
        self.enabled = enabled
        # X.509 attestation: a group's CA certificate (cryptography object), an individual
        # enrollment's certificate thumbprints (SHA-1 or SHA-256 hex)
        self.ca = ca
        self.thumbprints = tuple(t.upper().replace(":", "") for t in thumbprints)

    @property
    def x509(self):
        return self.key is None

    def device_key(self, registration_id):
        if self.key is None:
            return None
        if self.kind == "group":
            return sas.derive_device_key(self.key, registration_id)
        return self.key

    def public(self):
        out = {"kind": self.kind, "id": self.id, "enabled": self.enabled,
               "attestation": "x509" if self.x509 else "symmetricKey"}
        if self.ca is not None:
            out["ca"] = self.ca.subject.rfc4514_string()
        if self.thumbprints:
            out["thumbprints"] = list(self.thumbprints)
        return out


class Registration:
    """A DPS registration record (what the status lookup and the poll return)."""

    def __init__(self, registration_id, enrollment, payload, hub):
        now = time.time()
        self.registration_id = registration_id
        self.device_id = registration_id
        self.enrollment = enrollment
        self.payload = payload
        self.hub = hub
        self.created = now
        self.updated = now
        self.status = "assigning"
        self.substatus = "initialAssignment"
        self.etag = '"{}"'.format(uuid.uuid4())
        self.key = None
        self.x509 = None  # X.509: (CA certificates, thumbprints) the hub checks at CONNECT
        self.legacy_data = False  # the payload came under the legacy key "data"

    def state(self):
        st = {
            "registrationId": self.registration_id,
            "createdDateTimeUtc": utc_iso(self.created),
            "status": self.status,
        }
        if self.status == "assigned":
            st.update({
                "assignedHub": self.hub,
                "deviceId": self.device_id,
                "substatus": self.substatus,
                "lastUpdatedDateTimeUtc": utc_iso(self.updated),
                "etag": self.etag,
            })
            e = self.enrollment
            if e.x509:
                st["x509"] = ({"enrollmentGroupId": e.id} if e.kind == "group"
                              else {"enrollmentId": e.id})
            elif e.kind == "group":
                st["symmetricKey"] = {"enrollmentGroupId": e.id}
        return st


class Operation:
    def __init__(self, registration, extra_polls):
        self.id = "4.{}.{}".format(secrets.token_hex(8), uuid.uuid4())
        self.registration = registration
        self.polls_left = extra_polls  # polls still answered "assigning"


class Device:
    def __init__(self, device_id, key):
        self.id = device_id
        self.key = key  # None: X.509 (self.x509)
        self.x509 = None  # (CA certificates, thumbprints) its certificate must match
        self.model_id = None  # from the hub user name (model-id=)
        self.registration = None
        self.desired = {}
        self.desired_version = 1
        self.reported = {}
        self.reported_version = 1
        self.conn = None  # the live hub connection, if any
        self.connects = 0
        self.ever_connected = False
        self.subscriptions = {}  # filter -> granted QoS (kept over reconnects, CleanSession=0)
        self.clean_session = None
        self.telemetry = []
        self.c2d = []  # undelivered or unacknowledged C2D messages (dicts)
        self.methods = []  # method call log (dicts, see hub.invoke)
        self.stall_until = 0.0

    def public(self):
        reg = self.registration
        return {
            "id": self.id,
            "connected": self.conn is not None,
            "model_id": self.model_id,
            "registration": None if reg is None else {
                "registration_id": reg.registration_id,
                "enrollment": reg.enrollment.public(),
                "payload": reg.payload,
                "model_id": model_id_of(reg.payload),
                "legacy_data": reg.legacy_data,
                "hub": reg.hub,
                "status": reg.status,
            },
            "twin": self.twin(),
            "connects": self.connects,
            "subscriptions": dict(self.subscriptions),
            "clean_session": self.clean_session,
            "pending_c2d": len(self.c2d),
            "stalled": max(0.0, self.stall_until - time.time()),
        }

    def twin(self):
        d = dict(self.desired, **{"$version": self.desired_version})
        r = dict(self.reported, **{"$version": self.reported_version})
        return {"desired": d, "reported": r}


def model_id_of(payload):
    """Model id from a DPS payload: modelId, or the legacy iotcModelId."""
    if isinstance(payload, dict):
        for k in ("modelId", "iotcModelId"):
            if isinstance(payload.get(k), str):
                return payload[k]
    return None


def merge_patch(target, patch):
    """Twin merge: objects merge recursively, null deletes, anything else replaces."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict):
            cur = target.get(k)
            if not isinstance(cur, dict):
                cur = target[k] = {}
            merge_patch(cur, v)
        else:
            target[k] = v


class Events:
    """Numbered event log with long polling: wait(since, timeout) -> events with seq > since."""

    def __init__(self, log=None):
        self.items = []
        self.seq = 0
        self.log = log
        self._changed = asyncio.Event()

    def add(self, event_type, device=None, **fields):
        self.seq += 1
        ev = {"seq": self.seq, "ts": time.time(), "type": event_type}
        if device is not None:
            ev["device"] = device
        ev.update(fields)
        self.items.append(ev)
        if len(self.items) > EVENTS_KEEP:
            del self.items[: len(self.items) - EVENTS_KEEP]
        self._changed.set()
        self._changed = asyncio.Event()
        if self.log:
            self.log(ev)
        return ev

    def since(self, n):
        return [e for e in self.items if e["seq"] > n]

    async def wait(self, since, timeout):
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            found = self.since(since)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass


class Faults:
    """Armed faults. Device-side ones live on Device; these are the service-wide ones."""

    def __init__(self):
        self.clear()

    def clear(self):
        for hold in getattr(self, "holds", ()):
            hold.release()
        self.holds = set()  # live half_open spells (tcpfault.Hold), released by clear()
        self.tcp_next = {}  # "hub"/"dps"/"dps_mqtt" -> a half_open or cut_after for its next
        self.cut_device = {}  # device id -> cut_after for its next connections
        self.dps_status = None  # {"status", "count", "retry_after"}
        self.dps_assigning = 0  # extra "assigning" polls for the next registrations
        self.dps_assigning_count = 0  # how many registrations get them (0 = until cleared)
        self.dps_malformed = None  # kind of broken HTTP answer for the next DPS HTTP request
        self.refuse = {}  # device id -> [count, CONNACK code]: refuse its next CONNECTs
        self.twin_status = {}  # device id -> [count, HTTP-like status]: its next twin GETs

    def public(self):
        return {
            "dps_status": self.dps_status,
            "dps_assigning": self.dps_assigning,
            "dps_malformed": self.dps_malformed,
            "refuse": self.refuse,
            "twin_status": self.twin_status,
            "tcp_next": self.tcp_next,
            "cut_device": self.cut_device,
            "half_open": len(self.holds),
        }

    @staticmethod
    def _take(table, key):
        spec = table.get(key)
        if not spec:
            return None
        spec["count"] -= 1
        if spec["count"] <= 0:
            del table[key]
        return dict(spec)

    def take_tcp(self, target):
        """The TCP-level fault armed for the next connection to this service, if any."""
        return self._take(self.tcp_next, target)

    def take_cut(self, device_id):
        """The cut_after armed for this device's next connection, if any."""
        return self._take(self.cut_device, device_id)

    def take_twin_status(self, device_id):
        """The status to answer this device's twin GET with, if a fault is armed; else None."""
        f = self.twin_status.get(device_id)
        if not f:
            return None
        f[0] -= 1
        if f[0] <= 0:
            del self.twin_status[device_id]
        return f[1]

    def take_dps_status(self):
        f = self.dps_status
        if not f:
            return None
        f["count"] -= 1
        if f["count"] <= 0:
            self.dps_status = None
        return f


class State:
    def __init__(self, id_scope, hub_name, hub_aliases, group_id, group_key, retry_after,
                 log=None, limits=None):
        self.id_scope = id_scope
        self.limits = limits or Limits()
        self.hub_name = hub_name
        self.hub_aliases = {a.lower() for a in hub_aliases} | {hub_name.lower()}
        self.retry_after = retry_after
        self.enrollments = {}  # (kind, id) -> Enrollment
        self.add_enrollment(Enrollment("group", group_id, group_key))
        self.registrations = {}  # registration id -> Registration
        self.operations = {}  # operation id -> Operation
        self.devices = {}  # device id -> Device
        self.events = Events(log)
        self.faults = Faults()
        self.internal_errors = 0
        self.started = time.time()

    def add_enrollment(self, e):
        self.enrollments[(e.kind, e.id)] = e
        return e

    def groups(self, x509=False):
        return [e for e in self.enrollments.values()
                if e.kind == "group" and e.enabled and e.x509 == x509]

    def individual(self, registration_id):
        e = self.enrollments.get(("individual", registration_id))
        return e if e and e.enabled else None

    def device_for_hub(self, device_id):
        """The device the hub knows: registered through DPS, or individually enrolled."""
        dev = self.devices.get(device_id)
        if dev is None:
            e = self.individual(device_id)
            if e is not None:
                dev = self.devices[device_id] = Device(device_id, e.key)
                if e.x509:
                    dev.x509 = ((), e.thumbprints)
        return dev

    def internal_error(self, where, exc):
        self.internal_errors += 1
        self.events.add("internal_error", where=where, error=repr(exc))


def load_or_create_group_key(state_dir):
    """The default group's key: generated once, kept in the state folder."""
    path = os.path.join(state_dir, "group_key.txt")
    try:
        with open(path) as f:
            key = f.read().strip()
        base64.b64decode(key, validate=True)
        if key:
            return key
    except (OSError, ValueError):
        pass
    key = new_key()
    os.makedirs(state_dir, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(key + "\n")
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)
    return key
