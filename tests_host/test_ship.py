"""Shipping checks with no device: manifests, package.json, versions, make firmware / mpy.

The three lists of library files must agree: the iotc/ tree, package.json (what mip installs)
and the manifests (what firmware freezes). A module added to iotc/ and forgotten in either
list fails here. The manifests are evaluated with a small recorder of the manifestfile.py API;
with MICROPY_DIR=<micropython clone> (and its lib/micropython-lib) set, the real
tools/manifestfile.py is run on them as well.
"""

import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gen_package  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
BOARDS = ("ESP32_GENERIC", "ESP8266_GENERIC")


class _Options:
    def __init__(self, kw):
        self._kw = kw

    def __getattr__(self, name):
        return self._kw.get(name)


class Manifest:
    """Runs a manifest.py with the functions manifestfile.py offers, recording what it asks."""

    def __init__(self):
        self.calls = []  # (function, first argument) in order, across includes
        self.files = []  # repo-relative .py paths frozen from this repo
        self.external = []  # includes/requires resolved by the MicroPython tree, not here
        self.metadata = {}
        self.namespaces = {}

    def run(self, path, **options):
        path = os.path.abspath(path)
        here = os.path.dirname(path)

        def metadata(**kw):
            self.calls.append(("metadata", path))
            if self.metadata:
                raise AssertionError("duplicate metadata() in " + path)
            self.metadata = kw

        def require(name, **kw):
            self.calls.append(("require", name))
            self.external.append(("require", name))

        def include(p, **kw):
            self.calls.append(("include", p))
            if p.startswith("$("):
                self.external.append(("include", p))
            else:
                self.run(os.path.join(here, p), **kw)

        def package(name, files=None, base_path=".", opt=None):
            self.calls.append(("package", name))
            base = os.path.join(here, base_path)
            if files is None:
                found = []
                for dirpath, _, names in os.walk(os.path.join(base, name)):
                    found += [os.path.join(dirpath, n) for n in names if n.endswith(".py")]
            else:
                found = [os.path.join(base, name, f) for f in files]
            for f in found:
                assert os.path.isfile(f), "manifest {} names a missing file {}".format(path, f)
                self.files.append(os.path.relpath(f, ROOT).replace(os.sep, "/"))

        def module(name, base_path=".", opt=None):
            self.calls.append(("module", name))
            f = os.path.join(here, base_path, name)
            assert os.path.isfile(f), f
            self.files.append(os.path.relpath(f, ROOT).replace(os.sep, "/"))

        def freeze(p, script=None, opt=None):
            self.calls.append(("freeze", p))
            self.external.append(("freeze", p))

        g = {"metadata": metadata, "require": require, "include": include, "package": package,
             "module": module, "freeze": freeze, "options": _Options(options)}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), g)
        self.namespaces[path] = g
        return self


def load_package_json():
    with open(os.path.join(ROOT, "package.json")) as f:
        return json.load(f)


def library_version():
    return gen_package.library_version()


def test_ship_package_json_up_to_date():
    with open(os.path.join(ROOT, "package.json")) as f:
        assert f.read() == gen_package.expected(), "package.json is stale: run `make package`"


def test_ship_package_json_names_every_module():
    pkg = load_package_json()
    files = gen_package.library_files()
    assert files, "no iotc/*.py found"
    assert [t for t, _ in pkg["urls"]] == files
    slug = gen_package.repo_from_makefile()
    for target, url in pkg["urls"]:
        # Absolute github: URLs work with every on-device mip (STYLE.md section 6).
        assert url == "github:{}/{}".format(slug, target)
    assert pkg["deps"] == [["umqtt.simple", "latest"]]
    assert set(pkg) == {"urls", "deps", "version"}


def test_ship_versions_agree():
    m = Manifest().run(os.path.join(ROOT, "manifest.py"))
    assert load_package_json()["version"] == m.metadata["version"] == library_version()
    # And the interpreter sees the same __version__ when it imports the package.
    p = subprocess.run([MICROPYTHON, "-c", "import iotc; print(iotc.__version__)"],
                       capture_output=True, text=True, timeout=30, cwd=ROOT,
                       env=dict(os.environ, MICROPYPATH=ROOT + ":.frozen"))
    assert p.stdout.strip() == library_version(), p.stdout + p.stderr


def test_ship_root_manifest():
    m = Manifest().run(os.path.join(ROOT, "manifest.py"))
    assert m.calls[0][0] == "metadata", "metadata() must be the first command (manifestfile.py)"
    assert m.metadata.get("description") and m.metadata.get("license") == "MIT"
    assert ("require", "umqtt.simple") in m.calls
    assert sorted(m.files) == gen_package.library_files()


def test_ship_esp32_manifest_freezes_everything():
    m = Manifest().run(os.path.join(ROOT, "boards", "ESP32_GENERIC", "manifest.py"))
    assert ("include", "$(PORT_DIR)/boards/manifest.py") in m.external
    assert sorted(m.files) == gen_package.library_files()
    assert m.metadata["version"] == library_version()


def test_ship_esp8266_manifest_subset_is_declared():
    path = os.path.join(ROOT, "boards", "ESP8266_GENERIC", "manifest.py")
    m = Manifest().run(path)
    # Builds on the board's 2MiB manifest so frozen umqtt.simple and asyncio stay.
    assert ("include", "$(BOARD_DIR)/manifest_2MiB.py") in m.external
    left_out = ["iotc/" + f for f in m.namespaces[path]["LEFT_OUT"]]
    frozen = sorted(m.files)
    assert len(set(frozen)) == len(frozen)
    assert not set(frozen) & set(left_out), "a module is both frozen and left out"
    # Every module is either frozen or deliberately left out: nothing drifts silently.
    assert sorted(frozen + left_out) == gen_package.library_files()


def _real_manifestfile():
    top = os.environ.get("MICROPY_DIR")
    if not top or not os.path.isfile(os.path.join(top, "tools", "manifestfile.py")):
        pytest.skip("set MICROPY_DIR to a MicroPython clone to run its tools/manifestfile.py")
    lib = os.environ.get("MICROPY_LIB_DIR") or os.path.join(top, "lib", "micropython-lib")
    return top, lib


def _manifestfile(top, lib, mode, manifest, port=None, board=None):
    cmd = [sys.executable, os.path.join(top, "tools", "manifestfile.py"), mode, "--lib", lib,
           "--top", top]
    if port:
        cmd += ["--port", os.path.join(top, "ports", port)]
        cmd += ["--board", os.path.join(top, "ports", port, "boards", board)]
    p = subprocess.run(cmd + [manifest], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_ship_manifests_with_real_manifestfile():
    top, lib = _real_manifestfile()
    out = _manifestfile(top, lib, "--compile", os.path.join(ROOT, "manifest.py"))
    assert "version={} ".format(library_version()) in out
    ours = sorted(set(re.findall(r"'(iotc/[\w/]+\.py)'", out)))
    assert ours == gen_package.library_files(), out
    assert "umqtt/simple.py" in out
    for port, board in (("esp32", "ESP32_GENERIC"), ("esp8266", "ESP8266_GENERIC")):
        manifest = os.path.join(ROOT, "boards", board, "manifest.py")
        out = _manifestfile(top, lib, "--freeze", manifest, port, board)
        want = sorted(Manifest().run(manifest).files)
        assert sorted(set(re.findall(r"'(iotc/[\w/]+\.py)'", out))) == want, out
        for needed in ("umqtt/simple.py", "asyncio/core.py", "ntptime.py"):
            assert needed in out, (board, needed)


def _make(*args, timeout=120):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_ship_firmware_without_micropython_dir_says_why():
    p = _make("firmware", "BOARD=ESP32_GENERIC", "MICROPY_DIR=")
    assert p.returncode != 0
    assert "MICROPY_DIR is not set" in p.stdout + p.stderr


def test_ship_firmware_without_toolchain_says_why(tmp_path):
    for port in ("esp32", "esp8266"):
        (tmp_path / "ports" / port).mkdir(parents=True)
        (tmp_path / "ports" / port / "Makefile").write_text("all:\n\tfalse\n")
    env_path = "/usr/bin:/bin"  # no idf.py, no xtensa-lx106-elf-gcc
    for board, needle in (("ESP32_GENERIC", "ESP-IDF not found"),
                          ("ESP8266_GENERIC", "esp-open-sdk toolchain is not on PATH")):
        p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "firmware",
                            "BOARD=" + board, "MICROPY_DIR=" + str(tmp_path)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PATH=env_path))
        assert p.returncode != 0 and needle in p.stdout + p.stderr, p.stdout + p.stderr
    p = _make("firmware", "BOARD=NO_SUCH_BOARD", "MICROPY_DIR=" + str(tmp_path))
    assert p.returncode != 0 and "no boards/NO_SUCH_BOARD/manifest.py" in p.stdout


def test_ship_make_mpy_lists_every_module():
    p = _make("mpy", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    sizes = dict((path, int(n)) for n, path in re.findall(r"^\s*(\d+)\s+(build/mpy/\S+\.mpy)$",
                                                         p.stdout, re.M))
    want = ["build/mpy/" + f[:-3] + ".mpy" for f in gen_package.library_files()]
    assert sorted(sizes) == sorted(want), p.stdout
    total = int(re.search(r"^\s*(\d+)\s+total \(", p.stdout, re.M).group(1))
    assert total == sum(sizes.values())
    for path, n in sizes.items():
        assert os.path.getsize(os.path.join(ROOT, path)) == n


def test_ship_firmware_recipe_reaches_the_port_make(tmp_path):
    # The plumbing only (no ESP-IDF here): a stand-in MicroPython tree whose Makefiles record
    # how they were called, and a stand-in idf.py on PATH. What a real build gets is the same.
    log = tmp_path / "calls.log"
    for d in ("mpy-cross", "ports/esp32", "ports/esp8266"):
        (tmp_path / d).mkdir(parents=True)
        rec = "\t@echo '{} $@ BOARD=$(BOARD) FROZEN_MANIFEST=$(FROZEN_MANIFEST) PORT=$(PORT)'" \
              " >> {}\n".format(d, log)
        (tmp_path / d / "Makefile").write_text("all:\n" + rec + "%:\n" + rec)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("idf.py", "xtensa-lx106-elf-gcc"):
        (bindir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bindir / tool).chmod(0o755)
    env = dict(os.environ, PATH="{}:{}".format(bindir, os.environ["PATH"]))
    for board, port, goal in (("ESP32_GENERIC", "esp32", "build"),
                              ("ESP8266_GENERIC", "esp8266", "deploy")):
        if log.exists():
            log.unlink()
        args = ["make", "--no-print-directory", "-C", ROOT, "firmware", "BOARD=" + board,
                "MICROPY_DIR=" + str(tmp_path)]
        if goal == "deploy":
            args += ["FIRMWARE_GOAL=deploy", "PORT=/dev/ttyUSB9"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        calls = log.read_text().splitlines()
        manifest = os.path.join(ROOT, "boards", board, "manifest.py")
        assert calls[0].startswith("mpy-cross all")
        assert calls[1].startswith("ports/{} submodules BOARD={}".format(port, board))
        last = calls[2]
        assert last.startswith("ports/{} ".format(port)) and "BOARD=" + board in last
        assert "FROZEN_MANIFEST=" + manifest in last
        if goal == "deploy":
            assert last.startswith("ports/esp8266 deploy") and "PORT=/dev/ttyUSB9" in last
