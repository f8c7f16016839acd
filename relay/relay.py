#!/usr/bin/env python3
# iotc relay: lets an ESP8266 (axTLS: RSA key exchange only, no certificate checks) reach Azure
# IoT through a small always-on machine on its LAN. nginx's stream module does the work; this
# script makes the relay's CA and certificate (openssl), writes nginx's configuration from
# relay/nginx.conf.in into a state folder and runs nginx in the foreground. Python 3 standard
# library only. docs/esp8266.md, "The relay", says how and when to use it.
# MIT license; Copyright (c) 2026 the iotc authors
"""Run the iotc relay (nginx) in the foreground.

  python3 relay/relay.py                      # to Azure: DPS and *.azure-devices.net
  python3 relay/relay.py --check              # write the configuration, test it, exit

A device dials the relay (IoTCClient(..., relay="192.168.1.5")) and keeps the real host names
everywhere else; the relay picks the upstream by the name the device sends in SNI, among the
routes only, and checks the upstream's certificate against that name.
"""

import argparse
import base64
import ipaddress
import os
import re
import runpy
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "nginx.conf.in")
CERTS_PY = os.path.join(os.path.dirname(HERE), "iotc", "certs.py")  # the client's Azure roots

# Azure: DPS's global endpoint on 443 and every IoT hub on 8883, each under its own name (the
# one the device sends in SNI: "*" in an upstream).
AZURE_ROUTES = ["global.azure-devices-provisioning.net=*:443", "*.azure-devices.net=*:8883"]
# axTLS's suites (ESP8266 port): TLS_RSA_WITH_AES_128_CBC_SHA, ..._256_CBC_SHA,
# ..._128_CBC_SHA256, ..._256_CBC_SHA256, in OpenSSL's names.
DEVICE_CIPHERS = "AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA"
DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".iotc-relay")
DEFAULT_LISTEN = "0.0.0.0:8883"
CA_DAYS = 3650
CERT_DAYS = 825
INSTALL_HINT = "Debian, Raspberry Pi OS: sudo apt-get install nginx libnginx-mod-stream"


class RelayError(Exception):
    pass


def find_nginx(nginx="nginx"):
    """-> (path of nginx, the load_module line its stream module needs or "").
    Raises RelayError saying what is missing."""
    # /usr/sbin too: where Debian puts it, and not on a user's PATH
    path = shutil.which(nginx) or shutil.which(nginx, path="/usr/sbin:/usr/local/sbin")
    if not path:
        raise RelayError("nginx not found ({})".format(INSTALL_HINT))
    info = subprocess.run([path, "-V"], capture_output=True, text=True).stderr
    if "--with-stream_ssl_module" not in info:
        raise RelayError("{} has no stream SSL module ({})".format(path, INSTALL_HINT))
    if "--with-stream=dynamic" not in info:
        if re.search(r"--with-stream(\s|$)", info):
            return path, ""  # built in
        raise RelayError("{} has no stream module ({})".format(path, INSTALL_HINT))
    m = re.search(r"--modules-path=(\S+)", info)
    mod = os.path.join(m.group(1) if m else "/usr/lib/nginx/modules", "ngx_stream_module.so")
    if not os.path.exists(mod):
        raise RelayError("nginx's stream module is not installed: no {} ({})".format(
            mod, INSTALL_HINT))
    return path, "load_module {};".format(mod)


def parse_route(text):
    # "NAME=HOST:PORT" -> (name, host, port); NAME exact or "*.domain", HOST "*": the SNI name.
    name, sep, up = text.partition("=")
    host, _, port = up.rpartition(":")
    name = name.strip().lower()
    label = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
    if not sep or not host or not port.isdigit() or not re.fullmatch(
            r"(\*\.)?{0}(\.{0})*".format(label), name):
        raise RelayError("route {!r}: NAME=HOST:PORT, NAME a host name or *.domain, HOST a host "
                         "name, an address or * (the name the device sent)".format(text))
    return name, host, int(port)


def map_lines(routes):
    # nginx map entries: exact names as they are, *.domain as a regex of one more label.
    out = []
    for name, host, port in routes:
        up = "{}:{}".format("$ssl_server_name" if host == "*" else _bracket(host), port)
        if name.startswith("*."):
            key = "~*^[a-z0-9-]+{}$".format(re.escape(name[1:]).replace("\\-", "-"))
        else:
            key = name
        out.append("        {} {};".format(_quote(key), up))
    return "\n".join(out)


def _bracket(host):
    return "[{}]".format(host) if ":" in host else host


def _quote(s):
    return '"{}"'.format(s) if re.search(r"[\s;{}$\\]", s) else s


def _is_address(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def resolvers():
    # The name servers of /etc/resolv.conf (nginx resolves upstream names at run time itself).
    out = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    out.append(_bracket(parts[1].split("%")[0]))
    except OSError:
        pass
    return out


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True)
    if r.returncode:
        raise RelayError("openssl {} failed:\n{}".format(args[0], r.stderr.strip()))


def ensure_certs(d, names):
    """The relay's CA (made once: relay-ca.pem to give to devices that can check, relay-ca.key
    kept here) and its certificate for `names` (made again when the names change)."""
    ca, ca_key = os.path.join(d, "relay-ca.pem"), os.path.join(d, "relay-ca.key")
    made = []
    if not (os.path.exists(ca) and os.path.exists(ca_key)):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
                "-days", str(CA_DAYS), "-sha256", "-subj", "/CN=iotc relay CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(ca_key, 0o600)
        made.append("CA")
    key, cert, names_file = (os.path.join(d, n) for n in ("relay.key", "relay.pem", "names.txt"))
    want = "\n".join(sorted(names)) + "\n"
    have = open(names_file).read() if os.path.exists(names_file) else None
    if made or have != want or not os.path.exists(cert):
        # RSA 2048: what axTLS's RSA key exchange and an ESP8266's time can take.
        csr, ext = os.path.join(d, "relay.csr"), os.path.join(d, "relay.ext")
        san = ",".join(("IP:" if _is_address(n) else "DNS:") + n for n in sorted(names))
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
                    "keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=" + san + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                "-subj", "/CN=iotc relay")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", cert, "-days", str(CERT_DAYS), "-sha256", "-extfile", ext)
        os.chmod(key, 0o600)
        os.remove(csr)
        with open(names_file, "w") as f:
            f.write(want)
        made.append("certificate")
    return made


def azure_roots(d):
    # The roots the client itself trusts (iotc/certs.py), as PEM for nginx.
    path = os.path.join(d, "azure-roots.pem")
    roots = runpy.run_path(CERTS_PY)["AZURE_ROOTS"]
    with open(path, "w") as f:
        for der in roots:
            b = base64.b64encode(der).decode()
            f.write("-----BEGIN CERTIFICATE-----\n")
            f.write("".join(b[i:i + 64] + "\n" for i in range(0, len(b), 64)))
            f.write("-----END CERTIFICATE-----\n")
    return path


def listen_lines(listens):
    out = []
    for text in listens:
        host, _, port = text.rpartition(":")
        if not port.isdigit():
            raise RelayError("--listen {!r}: ADDRESS:PORT or PORT".format(text))
        out.append("        listen {}:{} ssl;".format(_bracket(host.strip("[]")), port)
                   if host else "        listen {} ssl;".format(port))
    return "\n".join(out)


def write_config(args, load_module):
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    routes = [parse_route(r) for r in (args.route or AZURE_ROUTES)]
    names = {r[0] for r in routes} | {n.lower() for n in args.cert_name}
    made = ensure_certs(d, names)
    trust = os.path.abspath(args.trust) if args.trust else azure_roots(d)
    if not os.path.exists(trust):
        raise RelayError("--trust {}: no such file".format(trust))
    resolver = ""
    if any(host == "*" or not _is_address(host) for _, host, _ in routes):
        servers = args.resolver or resolvers()
        if not servers:
            raise RelayError("no name server in /etc/resolv.conf: give --resolver ADDRESS")
        resolver = "        resolver {} valid=300s;\n        resolver_timeout 10s;".format(
            " ".join(servers))
    text = open(TEMPLATE).read()
    for k, v in (("@LOAD_MODULE@", load_module), ("@DIR@", d), ("@ROUTES@", map_lines(routes)),
                 ("@LISTEN@", listen_lines(args.listen or [DEFAULT_LISTEN])),
                 ("@DEVICE_CIPHERS@", DEVICE_CIPHERS), ("@TRUST@", trust),
                 ("@RESOLVER@", resolver)):
        text = text.replace(k, v)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(text)
    return conf, made, routes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split(
        "\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=DEFAULT_DIR,
                   help="state folder: CA, certificate, nginx.conf, access.log "
                   "(default %(default)s)")
    p.add_argument("--listen", action="append", metavar="[ADDRESS:]PORT",
                   help="where devices connect (repeatable; default {})".format(DEFAULT_LISTEN))
    p.add_argument("--route", action="append", metavar="NAME=HOST:PORT",
                   help="an SNI name (or *.domain) and its upstream (HOST *: that name). "
                   "Repeatable; replaces the Azure routes: {}".format(" ".join(AZURE_ROUTES)))
    p.add_argument("--trust", metavar="PEM",
                   help="CA certificates the upstreams must chain to (default: Azure's roots, "
                   "from iotc/certs.py; the emulator: its ca.pem)")
    p.add_argument("--cert-name", action="append", default=[], metavar="NAME",
                   help="one more name for the relay's certificate (the routes' are in it)")
    p.add_argument("--resolver", action="append", metavar="ADDRESS",
                   help="DNS server for upstream names (default: those of /etc/resolv.conf)")
    p.add_argument("--nginx", default="nginx", help="the nginx to run (default: from PATH)")
    p.add_argument("--check", action="store_true", help="write and test the configuration, exit")
    args = p.parse_args(argv)
    try:
        nginx, load_module = find_nginx(args.nginx)
        conf, made, routes = write_config(args, load_module)
    except RelayError as e:
        print("iotc relay: {}".format(e), file=sys.stderr)
        return 2
    d = os.path.dirname(conf)
    if made:
        print("iotc relay: made the {} in {}".format(" and ".join(made), d))
    for name, host, port in routes:
        print("iotc relay: {} -> {}:{}".format(name, "(that name)" if host == "*" else host, port))
    print("iotc relay: devices that can check certificates trust {}".format(
        os.path.join(d, "relay-ca.pem")))
    cmd = [nginx, "-e", "stderr", "-p", d, "-c", conf]
    if args.check:
        return subprocess.run(cmd + ["-t"]).returncode
    sys.stdout.flush()
    os.execv(nginx, cmd)  # nginx in the foreground, in this process: a signal stops it


if __name__ == "__main__":
    sys.exit(main())
