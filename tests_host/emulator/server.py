"""The emulator as one object: state, the four listeners, the ready info, start and stop."""

import asyncio
import asyncio.sslproto
import errno
import ipaddress
import json
import os
import random
import ssl
import sys
import time

from . import certs, tcpfault
from .app import format_event
from .control import Control
from .dps import Dps
from .dps_http import DpsHttp
from .dps_mqtt import DpsMqtt
from .files import Files
from .hub import Hub
from .limits import Limits
from .state import Enrollment, State, load_or_create_group_key

DEFAULT_STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".state")
TLS_HANDSHAKE_TIMEOUT = 10.0
HUB_PORT = 8883  # MQTT over TLS, the only port IoT Hub offers devices for MQTT


class _AlertingSSLProtocol(asyncio.sslproto.SSLProtocol):
    """asyncio drops the alert OpenSSL writes when a handshake fails (no shared suite, TLS 1.1)
    and just closes; Azure sends it, so a device sees the refusal it would see there."""

    def _on_handshake_complete(self, handshake_exc):
        if handshake_exc is not None:
            try:
                self._process_outgoing()
            except Exception:  # the alert is a courtesy; the close follows anyway
                pass
        super()._on_handshake_complete(handshake_exc)


# loop.start_tls() builds its protocol from this module attribute; in the emulator's process only.
asyncio.sslproto.SSLProtocol = _AlertingSSLProtocol


class Config:
    host = "127.0.0.1"
    dps_mqtt_host = None  # default: host
    hub_host = None  # default: host
    control_host = "127.0.0.1"
    public_name = None  # default: the hub's bind host (127.0.0.1 for a wildcard bind)
    dps_port = 8443
    dps_mqtt_port = 8884
    hub_port = None  # None: 8883 on the hub's own loopback address (see _listen_hub)
    control_port = 8080
    files_port = 8446  # update files over HTTPS (files.py); taken: any free port
    state_dir = DEFAULT_STATE
    ready_file = None
    cert_names = ()
    retry_after = 1
    id_scope = "0ne0000EMU"
    group_id = "SAS-IoT-Devices"
    x509_group_id = "X509-IoT-Devices"  # the X.509 enrollment group, CA = the device CA
    verbose = True
    limits = {}  # name -> value, over limits.DEFAULTS

    def __init__(self, **kw):
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("unknown option " + k)
            setattr(self, k, v)


def _is_wildcard(host):
    return host in ("0.0.0.0", "::", "")


def _is_loopback(host):
    try:
        a = ipaddress.ip_address(host)
    except ValueError:
        return False
    return a.version == 4 and a.is_loopback


def _hub_addresses(path, tries=20):
    """The hub's address of the last start (if any), then random ones of 127/8."""
    try:
        with open(path) as f:
            last = f.read().strip()
        if _is_loopback(last):
            yield last
    except OSError:
        pass
    rnd = random.SystemRandom()
    for _ in range(tries):
        yield "127.{}.{}.{}".format(rnd.randint(64, 250), rnd.randint(0, 255), rnd.randint(2, 254))


def _hostport(host, port):
    try:
        if ipaddress.ip_address(host).version == 6:
            return "[{}]:{}".format(host, port)
    except ValueError:
        pass
    return "{}:{}".format(host, port)


class Emulator:
    def __init__(self, cfg):
        self.cfg = cfg
        self.limits = Limits(**cfg.limits)
        self.servers = []
        self.tasks = set()
        self.info = None
        self.state = None
        self.tls = None

    def log(self, msg):
        if self.cfg.verbose:
            t = time.strftime("%H:%M:%S", time.localtime())
            try:
                print("{} {}".format(t, msg), file=sys.stdout, flush=True)
            except (OSError, ValueError):  # stdout gone (closed pipe): keep serving
                pass

    # Events worth a line in the serve window (connections and DPS requests log themselves).
    SHOWN = {"telemetry", "reported", "desired", "method_call", "method_result", "c2d_queued",
             "c2d_ack", "dps_assigned", "fault", "enrollment", "internal_error", "limits"}

    def _show_event(self, ev):
        if self.cfg.verbose and ev["type"] in self.SHOWN:
            self.log("event " + format_event(ev, with_time=False))

    def _loop_exception(self, loop, context):
        exc = context.get("exception")
        msg = context.get("message", "")
        if isinstance(exc, (ssl.SSLError, ConnectionError, OSError)) or "SSL" in msg:
            peer = ""
            t = context.get("transport")
            if t is not None:
                try:
                    peer = t.get_extra_info("peername")
                except Exception:
                    pass
            self.log("tls: {} {} {}".format(msg, peer or "", exc or "").strip())
            return
        if self.state:
            self.state.internal_error("loop", exc or msg)
        self.log("INTERNAL ERROR (loop): {} {!r}".format(msg, exc))

    async def _listen(self, handler, host, port, service):
        """Serve handler on host:port: over TLS for a service ("hub", "dps", "dps_mqtt"), plain
        HTTP for None (the control API). -> the port."""
        async def accept(reader, writer):
            task = asyncio.current_task()
            self.tasks.add(task)
            relay = None
            try:
                if service:
                    reader, writer, relay = await self._tcp_faults(service, reader, writer)
                    if not await self._handshake(writer, service):
                        return
                await handler(reader, writer)
            except asyncio.CancelledError:
                pass
            except Exception as e:  # belt and braces: the handlers catch their own
                self.state.internal_error(handler.__qualname__, e)
                self.log("INTERNAL ERROR in {}: {!r}".format(handler.__qualname__, e))
            finally:
                if relay:
                    relay.close()
                self.tasks.discard(task)

        srv = await asyncio.start_server(accept, host or None, port, reuse_address=True,
                                         limit=1 << 20)
        self.servers.append(srv)
        return srv.sockets[0].getsockname()[1]

    async def _tcp_faults(self, service, reader, writer):
        """Apply a half_open or cut_after armed for the next connection to this service (and
        relay the hub's connections while a device has a cut_after armed) -> reader, writer, relay
        or None. tcpfault.py says how."""
        faults, events = self.state.faults, self.state.events
        spec = faults.take_tcp(service)
        if spec and spec["kind"] == "half_open":
            hold = tcpfault.Hold(spec.get("seconds"))
            faults.holds.add(hold)
            events.add("fault", kind="half_open", target=service, seconds=spec.get("seconds"))
            try:
                await tcpfault.hold_raw(writer, hold)
            finally:
                faults.holds.discard(hold)
            spec = None
        if not spec and not (service == "hub" and faults.cut_device):
            return reader, writer, None
        relay = tcpfault.Relay(self.state, service)
        reader, writer = await relay.start(reader, writer)
        if spec:
            relay.arm(spec.get("received"), spec.get("sent"))
        return reader, writer, relay

    async def _handshake(self, writer, service):
        """TLS inside the connection's task, so a failed handshake is logged like other faults."""
        peer = writer.get_extra_info("peername") or "(relayed)"
        try:
            await writer.start_tls(self.tls, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
            return True
        except (ssl.SSLError, ConnectionError, OSError, asyncio.TimeoutError) as e:
            self.log("tls: {} handshake from {} failed: {}".format(
                service, peer, e.__class__.__name__ + " " + str(e)))
            writer.transport.abort()
            return False

    async def start(self):
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        group_key = load_or_create_group_key(cfg.state_dir)
        self.state = State(cfg.id_scope, "", (), cfg.group_id, group_key, cfg.retry_after,
                           log=self._show_event, limits=self.limits)
        self.hub = Hub(self.state, self.log)
        dps = Dps(self.state)

        # The hub first: its address decides its name, and the certificate must cover both.
        hub_host, hub_port = await self._listen_hub()
        dps_mqtt_host = cfg.dps_mqtt_host or cfg.host
        hosts = {cfg.host, dps_mqtt_host, hub_host}
        public = cfg.public_name or ("127.0.0.1" if _is_wildcard(hub_host) else hub_host)
        names = {h for h in hosts if not _is_wildcard(h)} | {public} | set(cfg.cert_names)
        if any(_is_wildcard(h) for h in hosts):
            names |= certs.local_addresses()
        paths = certs.ensure(cfg.state_dir, names)
        if paths["issued"]:
            self.log("certificates: issued {} in {}".format(" and ".join(paths["issued"]),
                                                           cfg.state_dir))
        self.tls = certs.server_context(paths)
        # X.509 attestation: the TLS services ask for a client certificate (never requiring
        # one) and an enrollment group trusts the device CA (docs/x509.md).
        self.client_certs = certs.request_client_certs(self.tls)
        if not self.client_certs:
            self.log("tls: cannot take client certificates here; X.509 devices will fail")
        self.device_ca = certs.ensure_device_ca(cfg.state_dir)
        device_ca_pem = os.path.abspath(os.path.join(cfg.state_dir, "device-ca.pem"))
        self.state.add_enrollment(Enrollment("group", cfg.x509_group_id, None,
                                             ca=self.device_ca[0]))
        hub_name = public if hub_port == 8883 else "{}:{}".format(public, hub_port)
        self.state.hub_name = hub_name
        self.state.hub_aliases = {hub_name.lower(), public.lower(),
                                  "{}:{}".format(public, hub_port).lower()}
        dps_port = await self._listen(DpsHttp(self.state, dps, self.log).serve, cfg.host,
                                      cfg.dps_port, "dps")
        dps_mqtt_port = await self._listen(DpsMqtt(self.state, dps, self.log).serve,
                                           dps_mqtt_host, cfg.dps_mqtt_port, "dps_mqtt")
        control_port = await self._listen(Control(self).serve, cfg.control_host,
                                          cfg.control_port, None)
        self.files = Files(self.state, self.log)
        try:
            files_port = await self._listen(self.files.serve, cfg.host, cfg.files_port, "files")
        except OSError as e:  # the default port taken (another emulator): any free one, as
            if e.errno != errno.EADDRINUSE or cfg.files_port != Config.files_port:  # said
                raise
            files_port = await self._listen(self.files.serve, cfg.host, 0, "files")

        def adv(h):
            return public if _is_wildcard(h) else h

        self.info = {
            "dps": _hostport(adv(cfg.host) if cfg.public_name is None else public, dps_port),
            "dps_mqtt": _hostport(adv(dps_mqtt_host), dps_mqtt_port),
            "hub": _hostport(adv(hub_host) if cfg.public_name is None else public, hub_port),
            "hub_name": hub_name,
            "control": _hostport(cfg.control_host, control_port),
            "files": _hostport(adv(cfg.host) if cfg.public_name is None else public, files_port),
            "ca_pem": paths["ca_pem"],
            "ca_der": paths["ca_der"],
            "id_scope": cfg.id_scope,
            "group_id": cfg.group_id,
            "group_key": group_key,
            "x509_group_id": cfg.x509_group_id,
            "device_ca_pem": device_ca_pem,
            "retry_after": cfg.retry_after,
            "limits": self.limits.public(),
            "pid": os.getpid(),
        }
        self.files.base = "https://" + self.info["files"]
        if cfg.ready_file:
            tmp = cfg.ready_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.info, f, indent=1)
            os.replace(tmp, cfg.ready_file)
        return self.info

    async def _listen_hub(self):
        """Bind the hub -> (host, port). As on Azure, by default the hub is a name on 8883: its
        own loopback address (kept in the state folder for the next start), so that several
        emulators on one machine do not collide. --hub-host, --hub-port, --public-name or a
        --host that is not loopback bind where they say instead."""
        cfg = self.cfg
        explicit = cfg.hub_host or cfg.hub_port is not None or cfg.public_name
        if explicit or not _is_loopback(cfg.host):
            host = cfg.hub_host or cfg.host
            port = HUB_PORT if cfg.hub_port is None else cfg.hub_port
            return host, await self._listen(self.hub.serve, host, port, "hub")
        path = os.path.join(cfg.state_dir, "hub_address.txt")
        errors = []
        for addr in _hub_addresses(path):
            try:
                port = await self._listen(self.hub.serve, addr, HUB_PORT, "hub")
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                errors.append(addr)
                continue
            os.makedirs(cfg.state_dir, exist_ok=True)
            with open(path, "w") as f:
                f.write(addr + "\n")
            return addr, port
        raise OSError(errno.EADDRINUSE, "port {} is taken on {} loopback addresses ({}...); "
                      "give the hub a port with --hub-port".format(
                          HUB_PORT, len(errors), ", ".join(errors[:3])))

    def status(self):
        st = self.state
        return dict(self.info, internal_errors=st.internal_errors, faults=st.faults.public(),
                    devices=len(st.devices), events=st.events.seq,
                    uptime=round(time.time() - st.started, 3))

    def banner(self):
        i = self.info
        lines = [
            "IoT Central emulator ready (DPS + IoT Hub stand-in; not Azure)",
            "  DPS over HTTPS   https://{}/".format(i["dps"]),
            "  DPS over MQTT    mqtts://{}".format(i["dps_mqtt"]),
            "  IoT Hub (MQTT)   mqtts://{}   assignedHub = {}".format(i["hub"], i["hub_name"]),
            "  Control API      http://{}/   (python -m tests_host.emulator watch)".format(
                i["control"]),
            "  Update files     https://{}/f/NAME   (PUT /files/NAME on the control API)".format(
                i["files"]),
            "  ID scope         {}".format(i["id_scope"]),
            "  Group enrollment {}".format(i["group_id"]),
            "  Group key        {}   (the emulator's own test key)".format(i["group_key"]),
            "  X.509 group      {}   (CA {}; device certificates: `cert DEVICE_ID`)".format(
                i["x509_group_id"], i["device_ca_pem"]),
            "  Trust this CA    {}".format(i["ca_pem"]),
            "                   {}   (DER, for a board)".format(i["ca_der"]),
            "Ctrl-C stops it.",
        ]
        return "\n".join(lines)

    async def stop(self):
        for s in self.servers:
            s.close()
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)
        for s in self.servers:
            try:
                await asyncio.wait_for(s.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass
