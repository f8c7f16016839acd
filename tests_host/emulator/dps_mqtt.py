"""DPS over MQTT (PROTOCOL.md §1.2), so the official SDKs can provision against the emulator.

CONNECT: client id = registration id, user name
`{idScope}/registrations/{regId}/api-version=..[&ClientVersion=..]`, password = the DPS SAS token
(checked at CONNECT: refused with 5 when DPS would answer 401/404, with 1 for an api-version DPS
does not know). Then:
  subscribe $dps/registrations/res/#
  publish   $dps/registrations/PUT/iotdps-register/?$rid={rid}                      (register)
  publish   $dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={op}
  reply     $dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]
The answers are those of the HTTPS front (same Dps object).
"""

from urllib.parse import quote

from . import mqttcodec as m
from .dps import API_VERSIONS, DpsError
from .hubtopics import parse_query, topic_query
from .mqttconn import Close, MqttConnection

RES_FILTER = "$dps/registrations/res/#"
REGISTER = "$dps/registrations/PUT/iotdps-register/"
POLL = "$dps/registrations/GET/iotdps-get-operationstatus/"


class DpsMqttConnection(MqttConnection):
    service = "dps-mqtt"
    max_packet = 96 * 1024 + 1024

    def __init__(self, dps, reader, writer, state, log):
        super().__init__(reader, writer, state, log)
        self.dps = dps
        self.scope = self.reg_id = self.token = None

    def _refuse(self, code, why):
        self.state.events.add("connect_refused", device=self.client_id, code=code, reason=why,
                              service="dps")
        self.log("dps-mqtt {}: CONNECT refused with {}: {}".format(self.client_id, code, why))
        return code, False

    def on_connect(self, c):
        parts = (c.username or "").split("/", 3)
        if (len(parts) != 4 or parts[1] != "registrations"
                or not parts[3].startswith("api-version=")):
            return self._refuse(m.BAD_USER_PASS,
                                "user name is not {idScope}/registrations/{regId}/api-version=..")
        scope, reg_id = parts[0], parts[2]
        version = parse_query(parts[3]).get("api-version")
        if version not in API_VERSIONS:
            return self._refuse(m.BAD_PROTOCOL, "unsupported api-version {}".format(version))
        if not c.client_id or reg_id != c.client_id:
            return self._refuse(m.ID_REJECTED, "client id is not the registration id")
        try:
            token = (c.password or b"").decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(m.BAD_USER_PASS, "password is not UTF-8")
        if not token:
            return self._refuse(m.BAD_USER_PASS, "no password")
        # The same checks as an HTTPS request, without consuming a fault or recording anything.
        if scope.lower() != self.state.id_scope.lower():
            return self._refuse(m.NOT_AUTHORIZED, "unknown ID scope")
        try:
            self.dps.authenticate(scope, reg_id, token)
        except DpsError as e:
            return self._refuse(m.NOT_AUTHORIZED, str(e))
        self.scope, self.reg_id, self.token = scope, reg_id, token
        self.log("dps-mqtt {}: connected".format(reg_id))
        return m.ACCEPTED, False

    subscribed = False

    def on_subscribe(self, pid, subs):
        if any(f == RES_FILTER for f, q in subs):
            self.subscribed = True
        return [min(q, 1) if f == RES_FILTER else m.SUBACK_FAILURE for f, q in subs]

    def on_publish(self, topic, payload, qos, pid, retain, dup):
        q = topic_query(topic)
        rid = q.get("$rid", "")
        if topic.startswith(REGISTER):
            reply = self.dps.handle("register", self.scope, self.reg_id, self.token, payload,
                                    transport="mqtt")
        elif topic.startswith(POLL):
            reply = self.dps.handle("poll", self.scope, self.reg_id, self.token,
                                    op_id=q.get("operationId"), transport="mqtt")
        else:
            raise Close("PUBLISH to a topic DPS does not accept: {!r}".format(topic[:200]))
        out = "$dps/registrations/res/{}/?$rid={}".format(reply.status, quote(rid, safe=""))
        if reply.retry_after is not None:
            out += "&retry-after={}".format(int(reply.retry_after))
        self.log("dps-mqtt {}: {} -> {}".format(self.reg_id, topic.split("/")[3], reply.status))
        if self.subscribed:
            self.send(m.publish(out, reply.json()))
        else:
            self.state.events.add("not_delivered", device=self.reg_id, topic=out,
                                  reason="not subscribed to " + RES_FILTER)


class DpsMqtt:
    def __init__(self, state, dps, log):
        self.state, self.dps, self.log = state, dps, log

    async def serve(self, reader, writer):
        await DpsMqttConnection(self.dps, reader, writer, self.state, self.log).run()
