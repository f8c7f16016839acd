"""Device Provisioning Service logic, shared by the HTTPS (dps_http) and MQTT (dps_mqtt) fronts.

handle() takes one request (register, poll or status lookup) and returns a Reply: the HTTP status,
the JSON body and an optional retry-after. Errors follow PROTOCOL.md §1.1: a JSON body with
errorCode = status*1000 + n, trackingId, message, timestampUtc.

Authentication (PROTOCOL.md §2): the token's sr must decode to {idScope}/registrations/{regId}
(case-insensitive, as DPS lower-cases it), se must lie in the future, skn may be absent, empty or
"registration", and the signature must be made with the device key of an enrollment: the
individual enrollment of this registration id if there is one, else the key derived from an
enrollment group's key. No enrollment at all gives 404; a key matching none gives 401.

X.509 (docs/x509.md): a request with no Authorization header is authenticated by the TLS client
certificate. Its subject CN must be the registration id; the individual enrollment of that id
(if any) must list its SHA-1 or SHA-256 thumbprint; else it must be issued by the CA of an X.509
enrollment group. Any failure is 401 (401002), as DPS answers; no certificate and no token, 401.
"""

import json
import re
import time

from . import sas
from .errors import error_body
from .limits import Window
from .state import Device, Operation, Registration, model_id_of

_REG_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9:._-]{0,126}[A-Za-z0-9])?$")

# error codes (status*1000 + n)
BAD_JSON, BAD_BODY, BAD_REG_ID, BAD_ARGUMENT = 400004, 400001, 400002, 400004
UNAUTHORIZED = 401002
UNKNOWN_SCOPE, NO_ENROLLMENT, NO_OPERATION, NO_REGISTRATION = 404001, 404002, 404003, 404004
THROTTLED = 429001
MAX_BODY = 96 * 1024  # DPS message size limit
# The versions devices are seen using (PROTOCOL.md §1.1, README: Limits); any other is answered
# 400 400004, as DPS answers one it does not know.
API_VERSIONS = ("2018-09-01-preview", "2019-01-15", "2019-03-31", "2021-06-01", "2021-10-01",
                "2025-07-01-preview")


def api_version_error(version):
    """None when DPS knows this api-version; else the DpsError it answers with."""
    if version is None:
        return DpsError(400, BAD_ARGUMENT, "api-version is required.")
    if version not in API_VERSIONS:
        return DpsError(400, BAD_ARGUMENT, "Unsupported API version {}.".format(version))
    return None


class Reply:
    def __init__(self, status, body, retry_after=None):
        self.status = status
        self.body = body
        self.retry_after = retry_after

    def json(self):
        return json.dumps(self.body, separators=(",", ":")).encode()


class DpsError(Exception):
    def __init__(self, status, code, message, retry_after=None):
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


class Dps:
    def __init__(self, state):
        self.state = state
        self.registrations = Window(60.0)  # per ID scope: the emulator has one
        self.polls = {}  # registration id -> Window

    def handle(self, op, scope, reg_id, token, body=b"", op_id=None, transport="https",
               cert=None):
        """op: "register", "poll" or "lookup". Never raises for bad input; returns a Reply."""
        st = self.state
        try:
            f = st.faults.take_dps_status()
            if f:
                st.events.add("fault", device=reg_id, kind="dps_status", status=f["status"])
                status = f["status"]
                raise DpsError(status, status * 1000 + 999, "fault injected by the emulator",
                               f.get("retry_after"))
            if scope.lower() != st.id_scope.lower():
                raise DpsError(404, UNKNOWN_SCOPE, "ID scope not found")
            if not _REG_ID.match(reg_id or ""):
                raise DpsError(400, BAD_REG_ID, "registration id is invalid")
            if cert and not token:
                enrollment = self.authenticate_x509(reg_id, cert)
            else:
                enrollment = self.authenticate(scope, reg_id, token)
            self.throttle(op, reg_id)
            if op == "register":
                return self.register(reg_id, enrollment, body, transport)
            if op == "poll":
                return self.poll(reg_id, op_id)
            return self.lookup(reg_id, body)
        except DpsError as e:
            st.events.add("dps_error", device=reg_id, op=op, status=e.status, code=e.code,
                          message=str(e), transport=transport)
            return Reply(e.status, error_body(e.code, str(e)), e.retry_after)

    def throttle(self, op, reg_id):
        """DPS's rate limits (README: Limits): 429 with the Retry-After that frees a slot."""
        lim = self.state.limits
        if op == "register":
            wait = self.registrations.take(lim.dps_registrations_per_min)
            what = "{} registrations a minute".format(lim.dps_registrations_per_min)
        elif op == "poll":
            window = self.polls.setdefault(reg_id.lower(), Window(10.0))
            wait = window.take(lim.dps_polls_per_10s)
            what = "{} operation status polls in 10 s".format(lim.dps_polls_per_10s)
        else:
            return
        if wait:
            raise DpsError(429, THROTTLED, "ThrottlingException: more than " + what, wait)

    def authenticate(self, scope, reg_id, token):
        try:
            tok = sas.Token(token or "")
            uri = "{}/registrations/{}".format(scope, reg_id).lower()
            tok.check_resource(lambda r: r.lower() == uri)
            tok.check_expiry()
        except sas.SasError as e:
            raise DpsError(401, UNAUTHORIZED, "unauthorized: " + str(e)) from None
        if tok.skn not in (None, "", "registration"):
            raise DpsError(401, UNAUTHORIZED, "unauthorized: unknown key name")
        e = self.state.individual(reg_id)
        if e is not None and e.x509:
            raise DpsError(401, UNAUTHORIZED, "unauthorized: this enrollment takes an X.509 "
                           "certificate, not a token")
        candidates = [e] if e else self.state.groups()
        if not candidates:
            raise DpsError(404, NO_ENROLLMENT, "no enrollment for this registration")
        for e in candidates:
            if tok.signed_by(e.device_key(reg_id)):
                return e
        raise DpsError(401, UNAUTHORIZED, "unauthorized: signature does not match")

    def authenticate_x509(self, reg_id, der):
        """The TLS client certificate (DER) -> the enrollment it matches, or DpsError 401."""
        from . import certs

        def refuse(why):
            return DpsError(401, UNAUTHORIZED, "unauthorized: " + why)

        try:
            cn = certs.common_name(certs.x509.load_der_x509_certificate(der))
        except ValueError:
            raise refuse("the client certificate cannot be read") from None
        if (cn or "").lower() != reg_id.lower():
            raise refuse("the certificate's subject CN ({}) is not the registration id "
                         "({})".format(cn, reg_id))
        e = self.state.individual(reg_id)
        if e is not None:
            if not e.x509:
                raise refuse("this enrollment takes a symmetric key, not a certificate")
            try:
                certs.check_device(der, (), e.thumbprints)
            except ValueError as err:
                raise refuse(str(err)) from None
            return e
        groups = self.state.groups(x509=True)
        if not groups and not self.state.groups():
            raise DpsError(404, NO_ENROLLMENT, "no enrollment for this registration")
        why = "the certificate does not chain to an enrolled, verified CA"
        for g in groups:
            try:
                certs.check_device(der, (g.ca,))
                return g
            except ValueError as err:
                why = str(err)
        raise refuse(why)

    def register(self, reg_id, enrollment, body, transport):
        st = self.state
        try:
            obj = json.loads(body) if body and body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise DpsError(400, BAD_JSON, "request body is not JSON") from None
        if not isinstance(obj, dict):
            raise DpsError(400, BAD_BODY, "request body must be a JSON object")
        rid = obj.get("registrationId")
        if rid is not None and (not isinstance(rid, str) or rid.lower() != reg_id.lower()):
            raise DpsError(400, BAD_BODY, "registrationId does not match the URI")
        payload = obj.get("payload", obj.get("data"))
        reg = Registration(reg_id, enrollment, payload, st.hub_name)
        reg.key = enrollment.device_key(reg_id)
        if enrollment.x509:  # what the hub will check the device's certificate against
            reg.x509 = ((enrollment.ca,) if enrollment.ca else (), enrollment.thumbprints)
        reg.legacy_data = "data" in obj and "payload" not in obj
        extra = st.faults.dps_assigning
        if st.faults.dps_assigning_count:
            st.faults.dps_assigning_count -= 1
            if not st.faults.dps_assigning_count:
                st.faults.dps_assigning = 0
        op = Operation(reg, extra)
        st.operations[op.id] = op
        st.events.add("dps_register", device=reg_id, transport=transport, payload=payload,
                      model_id=model_id_of(payload), legacy_data="data" in obj,
                      enrollment=enrollment.public(), operation=op.id)
        return Reply(202, {"operationId": op.id, "status": "assigning"}, st.retry_after)

    def poll(self, reg_id, op_id):
        st = self.state
        op = st.operations.get(op_id or "")
        if op is None or op.registration.registration_id.lower() != reg_id.lower():
            raise DpsError(404, NO_OPERATION, "operation not found")
        reg = op.registration
        if op.polls_left > 0:
            op.polls_left -= 1
            body = {"operationId": op.id, "status": "assigning",
                    "registrationState": {"registrationId": reg_id, "status": "assigning"}}
            return Reply(202, body, st.retry_after)
        if reg.status != "assigned":
            reg.status = "assigned"
            reg.updated = time.time()
            st.registrations[reg_id] = reg
            dev = st.devices.get(reg.device_id)
            if dev is None:
                dev = st.devices[reg.device_id] = Device(reg.device_id, reg.key)
            dev.key = reg.key
            dev.x509 = reg.x509
            dev.registration = reg
            st.events.add("dps_assigned", device=reg.device_id, hub=reg.hub,
                          payload=reg.payload, model_id=model_id_of(reg.payload))
        return Reply(200, {"operationId": op.id, "status": "assigned",
                           "registrationState": reg.state()})

    def lookup(self, reg_id, body):
        if body and body.strip():
            try:
                json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise DpsError(400, BAD_JSON, "request body is not JSON") from None
        reg = self.state.registrations.get(reg_id)
        if reg is None:
            raise DpsError(404, NO_REGISTRATION, "registration not found")
        return Reply(200, reg.state())
