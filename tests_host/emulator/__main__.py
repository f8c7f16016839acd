"""python -m tests_host.emulator serve|watch|invoke|set|send|devices|twin|fault|limits
(README.md here)"""

import argparse
import asyncio
import json
import os
import signal
import sys

from .app import AppClient, AppError, watch
from .limits import Limits, LimitError, parse_assignment
from .server import DEFAULT_STATE, Config, Emulator

DEFAULT_CONTROL = "127.0.0.1:8080"


def _serve(a, p):
    try:
        limits = dict(parse_assignment(x) for x in a.limit)
        Limits(**limits)
    except LimitError as e:
        p.error(str(e))
    cfg = Config(host=a.host, dps_mqtt_host=a.dps_mqtt_host, hub_host=a.hub_host,
                 public_name=a.public_name, dps_port=a.dps_port, dps_mqtt_port=a.dps_mqtt_port,
                 hub_port=a.hub_port, control_port=a.control_port,
                 files_port=a.files_port, state_dir=a.state,
                 ready_file=a.ready_file, cert_names=tuple(a.cert_name),
                 retry_after=a.retry_after, id_scope=a.id_scope, verbose=not a.quiet,
                 limits=limits)

    async def main():
        # Handlers first: a Ctrl-C that comes as soon as the ready file exists still stops cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        emu = Emulator(cfg)
        try:
            await emu.start()
        except OSError as e:
            print("emulator: cannot listen: {}".format(e), file=sys.stderr)
            await emu.stop()
            return 2
        print(emu.banner(), flush=True)
        await stop.wait()
        print("stopping", flush=True)
        await emu.stop()
        errors = emu.state.internal_errors
        if errors:
            print("emulator: {} internal error(s) during the run".format(errors), file=sys.stderr)
        return 0

    return asyncio.run(main())


def _json_arg(text):
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word is a JSON string


def _show(obj):
    print(json.dumps(obj, indent=2, sort_keys=True))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests_host.emulator",
                                description="Local stand-in for Azure DPS + IoT Hub.")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the emulator")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--dps-mqtt-host", help="bind address of DPS over MQTT (default --host)")
    s.add_argument("--hub-host", help="bind address of the hub (default: its own loopback "
                   "address, 127.x.y.z, when --host is loopback; else --host)")
    s.add_argument("--public-name", help="name devices dial (default: the bind address)")
    s.add_argument("--dps-port", type=int, default=8443)
    s.add_argument("--dps-mqtt-port", type=int, default=8884)
    s.add_argument("--hub-port", type=int, help="hub port (default 8883, assignedHub a bare "
                   "name as on Azure); another port binds --host and hands out NAME:PORT")
    s.add_argument("--control-port", type=int, default=8080)
    s.add_argument("--files-port", type=int, default=8446, help="update files over HTTPS")
    s.add_argument("--state", default=DEFAULT_STATE, help="folder for certificates and keys")
    s.add_argument("--ready-file", help="write the ready info here as JSON")
    s.add_argument("--cert-name", action="append", default=[],
                   help="extra name or address for the server certificate (repeatable)")
    s.add_argument("--retry-after", type=int, default=1, help="DPS Retry-After seconds (0 ok)")
    s.add_argument("--id-scope", default="0ne0000EMU")
    s.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                   help="set one of Azure's limits (repeatable; `limits` lists them)")
    s.add_argument("-q", "--quiet", action="store_true", help="no per-request log lines")

    def ctl(name, help_):
        c = sub.add_parser(name, help=help_)
        c.add_argument("--control", default=os.environ.get("IOTC_EMU_CONTROL", DEFAULT_CONTROL),
                       help="control API host:port (default $IOTC_EMU_CONTROL or 127.0.0.1:8080)")
        return c

    c = ctl("watch", "print telemetry and connection events as they happen")
    c.add_argument("--type", action="append", help="only these event types (repeatable)")
    c = ctl("invoke", "call a direct method (IoT Central command)")
    c.add_argument("device")
    c.add_argument("name")
    c.add_argument("payload", nargs="?", default=None, help="JSON (default: none)")
    c.add_argument("--timeout", type=float, default=30)
    c = ctl("set", "send a desired-properties patch")
    c.add_argument("device")
    c.add_argument("patch", help='JSON object, e.g. \'{"targetTemperature": 21}\'')
    c = ctl("send", "send a cloud-to-device message")
    c.add_argument("device")
    c.add_argument("body")
    c.add_argument("--prop", action="append", default=[], help="application property k=v")
    ctl("devices", "list devices")
    c = ctl("twin", "show a device twin")
    c.add_argument("device")
    c = ctl("fault", "arm a fault knob (README: Control API), or `fault clear`")
    c.add_argument("kind")
    c.add_argument("fields", nargs="*", metavar="NAME=VALUE", help="e.g. device=dev1 seconds=5")
    c = ctl("cert", "issue a device certificate and key (X.509; docs/x509.md)")
    c.add_argument("device")
    c.add_argument("--issuer", default="group", choices=("group", "self", "untrusted"),
                   help="group: the device CA of the X.509 enrollment group (default); self: "
                   "self-signed, for an individual enrollment (added with --enroll)")
    c.add_argument("--enroll", action="store_true",
                   help="with --issuer self: enroll it individually by its thumbprint")
    c.add_argument("--rsa", action="store_true", help="an RSA 2048 key (default EC P-256)")
    c.add_argument("--out", default=".", help="folder for DEVICE.crt and DEVICE.key")
    c = ctl("limits", "show Azure's limits as the emulator applies them, or set some")
    c.add_argument("set", nargs="*", metavar="NAME=VALUE")

    a = p.parse_args(argv)
    if a.cmd == "serve":
        return _serve(a, p)
    app = AppClient(a.control)
    try:
        if a.cmd == "watch":
            try:
                watch(app, a.type)
            except KeyboardInterrupt:
                return 0
        elif a.cmd == "invoke":
            payload = None if a.payload is None else _json_arg(a.payload)
            _show(app.invoke(a.device, a.name, payload, timeout=a.timeout))
        elif a.cmd == "set":
            patch = _json_arg(a.patch)
            if not isinstance(patch, dict):
                p.error("the patch must be a JSON object")
            print("desired $version is now", app.set_desired(a.device, patch))
        elif a.cmd == "send":
            props = dict(kv.partition("=")[::2] for kv in a.prop)
            print("queued", app.send_c2d(a.device, a.body, props))
        elif a.cmd == "devices":
            for d in app.devices():
                print("{:<24} {:<12} connects={} model={}".format(
                    d["id"], "connected" if d["connected"] else "offline", d["connects"],
                    d["model_id"] or (d["registration"] or {}).get("model_id")))
        elif a.cmd == "twin":
            _show(app.twin(a.device))
        elif a.cmd == "fault":
            if a.kind == "clear":
                _show(app.clear_faults())
            else:
                fields = dict(kv.partition("=")[::2] for kv in a.fields)
                _show(app.fault(kind=a.kind, **{k: _json_arg(v) for k, v in fields.items()}))
        elif a.cmd == "cert":
            doc = app.post("/certs", {"device_id": a.device, "issuer": a.issuer, "rsa": a.rsa})
            base = os.path.join(a.out, a.device)
            with open(base + ".crt", "w") as f:
                f.write(doc["cert"])
            with open(base + ".key", "w") as f:
                f.write(doc["key"])
            os.chmod(base + ".key", 0o600)
            if a.enroll:
                app.post("/enrollments", {"kind": "individual", "registration_id": a.device,
                                          "attestation": "x509", "cert": doc["cert"]})
            print("wrote {0}.crt and {0}.key (SHA-1 {1}, SHA-256 {2}){3}".format(
                base, doc["sha1"], doc["sha256"], "; enrolled" if a.enroll else ""))
        elif a.cmd == "limits":
            try:
                values = dict(parse_assignment(x) for x in a.set)
            except LimitError as e:
                p.error(str(e))
            _show(app.set_limits(**values) if values else app.limits())
    except AppError as e:
        print("emulator answered {}: {}".format(e.status, json.dumps(e.body)), file=sys.stderr)
        return 1
    except OSError as e:
        print("cannot reach the emulator at {}: {}".format(a.control, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
