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
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gen_package  # noqa: E402

sys.path.insert(0, HERE)
import shipfixture  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
BOARDS = ("ESP32_GENERIC", "ESP8266_GENERIC")


class _Options:
    def __init__(self, kw):
        self._kw = kw

    def __getattr__(self, name):
        return self._kw.get(name)


class Manifest:
    """Runs a manifest.py with the functions manifestfile.py offers, recording what it asks.

    As manifestfile.py does: include() of a file already run is skipped, require() of one of
    our packages (a library registered with add_library) runs its manifest with a metadata of
    its own, and metadata() twice for one package is an error."""

    def __init__(self):
        self.calls = []  # (function, first argument) in order, across includes
        self.files = []  # repo-relative .py paths frozen from this repo
        self.external = []  # includes/requires resolved by the MicroPython tree, not here
        self.metadata = {}  # the top-level package's
        self.required = {}  # package name -> its metadata, for require()d packages of ours
        self.namespaces = {}
        self._libraries = {}
        self._visited = set()
        self._frames = [self.metadata]

    def run(self, path, **options):
        path = os.path.abspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if path in self._visited:
            return self
        self._visited.add(path)
        here = os.path.dirname(path)

        def metadata(**kw):
            self.calls.append(("metadata", path))
            if self._frames[-1]:
                raise AssertionError("duplicate metadata() in " + path)
            self._frames[-1].update(kw)

        def add_library(name, p):
            self.calls.append(("add_library", name))
            self._libraries[name] = os.path.join(here, p)

        def require(name, library=None, **kw):
            self.calls.append(("require", name))
            if library is None:
                self.external.append(("require", name))
                return
            found = os.path.join(self._libraries[library], name, "manifest.py")
            assert os.path.isfile(found), "require({!r}): no {}".format(name, found)
            if os.path.abspath(found) in self._visited:
                return
            self.required[name] = {}
            self._frames.append(self.required[name])
            try:
                self.run(found, **kw)
            finally:
                self._frames.pop()

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
                self.files.append(os.path.relpath(f, self.root).replace(os.sep, "/"))

        def module(name, base_path=".", opt=None):
            self.calls.append(("module", name))
            f = os.path.join(here, base_path, name)
            assert os.path.isfile(f), f
            self.files.append(os.path.relpath(f, self.root).replace(os.sep, "/"))

        def freeze(p, script=None, opt=None):
            self.calls.append(("freeze", p))
            self.external.append(("freeze", p))

        g = {"metadata": metadata, "require": require, "include": include, "package": package,
             "module": module, "freeze": freeze, "add_library": add_library,
             "options": _Options(options)}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), g)
        self.namespaces[path] = g
        return self

    root = ROOT


def load_package_json(root=ROOT, rel="package.json"):
    with open(os.path.join(root, rel)) as f:
        return json.load(f)


def library_version():
    return gen_package.library_version()


def test_ship_package_files_up_to_date():
    assert gen_package.check() == [], "package files are stale: run `make package`"
    with open(os.path.join(ROOT, "package.json")) as f:
        assert f.read() == gen_package.expected()


def test_ship_package_json_names_every_core_module():
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


def _check_split(root, extras):
    """The core package.json lists no extra's file; each extra's lists exactly its files and
    depends on the core; core + extras = every iotc/*.py, each once."""
    slug = gen_package.repo_from_makefile(root)
    core = [t for t, _ in load_package_json(root)["urls"]]
    seen = list(core)
    for e in extras:
        pkg = load_package_json(root, "packages/{}/package.json".format(e.name))
        targets = [t for t, _ in pkg["urls"]]
        assert targets == gen_package.extra_files(e) and targets
        assert not set(targets) & set(core), (e.name, "in the core package.json")
        for target, url in pkg["urls"]:
            assert url == "github:{}/{}".format(slug, target)
        assert pkg["deps"][0] == ["github:{}/package.json".format(slug), "HEAD"]
        assert pkg["version"] == gen_package.library_version(root)
        seen += targets
    assert sorted(seen) == gen_package.all_files(root)
    assert len(set(seen)) == len(seen)


def test_ship_core_and_extras_split():
    _check_split(ROOT, gen_package.EXTRAS)
    names = sorted(os.listdir(os.path.join(ROOT, "packages")))
    assert names == sorted(["iotc"] + [e.name for e in gen_package.EXTRAS])


def test_ship_fixture_extra_split(tmp_path):
    root = shipfixture.build(tmp_path)
    _check_split(root, shipfixture.extras())
    assert "iotc/fixture.py" not in gen_package.library_files(root, shipfixture.extras())
    assert gen_package.check(root, extras=shipfixture.extras()) == []
    # A row dropped from the table takes its generated files with it.
    gen_package.write(root, extras=gen_package.EXTRAS)
    assert not os.path.exists(os.path.join(root, "packages", "iotc-fixture"))
    assert "iotc/fixture.py" in [t for t, _ in load_package_json(root)["urls"]]


def test_ship_table_refuses_what_it_cannot_ship(tmp_path):
    root = shipfixture.build(tmp_path)
    bad = [gen_package.Extra("iotc-nothere", ("nothere.py",), "x", ()),
           gen_package.Extra("iotc-core", ("__init__.py",), "x", ()),
           gen_package.Extra("aio", ("fixture.py",), "x", ())]
    for e in bad:
        with pytest.raises(SystemExit):
            gen_package.expected_files(root, extras=(e,))
    with pytest.raises(SystemExit):
        gen_package.expected_files(root, extras=(shipfixture.FIXTURE, shipfixture.FIXTURE))


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
    core = os.path.join(ROOT, "packages", "iotc", "manifest.py")
    mine = [c for c in m.calls if c[0] != "include"]
    assert mine[0] == ("metadata", core), "metadata() must be the first command (manifestfile.py)"
    assert m.metadata.get("description") and m.metadata.get("license") == "MIT"
    assert ("require", "umqtt.simple") in m.calls
    assert sorted(m.files) == gen_package.library_files()


def test_ship_extra_manifests_freeze_core_plus_their_files(tmp_path):
    root = shipfixture.build(tmp_path)
    for e in shipfixture.extras():
        m = Manifest()
        m.root = root
        m.run(os.path.join(root, "packages", e.name, "manifest.py"))
        assert m.calls[0][0] == "metadata"
        assert m.metadata["version"] == m.required["iotc"]["version"] == library_version()
        want = gen_package.library_files(root, shipfixture.extras()) + gen_package.extra_files(e)
        assert sorted(m.files) == sorted(want)


def _board(root, board):
    m = Manifest()
    m.root = root
    path = os.path.join(root, "boards", board, "manifest.py")
    m.run(path)
    return m, m.namespaces[path]


def test_ship_esp32_manifest_freezes_the_core():
    m, ns = _board(ROOT, "ESP32_GENERIC")
    assert ("include", "$(PORT_DIR)/boards/manifest.py") in m.external
    names = {e.name: e for e in gen_package.EXTRAS}
    assert all(n in names for n in ns["EXTRAS"])
    want = gen_package.library_files()
    for n in ns["EXTRAS"]:
        want += gen_package.extra_files(names[n])
    assert sorted(m.files) == sorted(want)
    assert m.metadata["version"] == library_version()


def test_ship_esp8266_manifest_subset_is_declared():
    m, ns = _board(ROOT, "ESP8266_GENERIC")
    # Builds on the board's 2MiB manifest so frozen umqtt.simple and asyncio stay.
    assert ("include", "$(BOARD_DIR)/manifest_2MiB.py") in m.external
    left_out = ["iotc/" + f for f in ns["LEFT_OUT"]]
    names = {e.name: e for e in gen_package.EXTRAS}
    extra = []
    for n in ns["EXTRAS"]:
        extra += gen_package.extra_files(names[n])
    frozen = sorted(f for f in m.files if f not in extra)
    assert len(set(frozen)) == len(frozen)
    assert not set(frozen) & set(left_out), "a module is both frozen and left out"
    # Every core module is either frozen or deliberately left out: nothing drifts silently.
    assert sorted(frozen + left_out) == gen_package.library_files()


def test_ship_boards_freeze_an_extra_they_name(tmp_path):
    # What a board gets when its EXTRAS names one: the core and that extra, nothing twice.
    root = shipfixture.build(tmp_path)
    core = gen_package.library_files(root, shipfixture.extras())
    for board in BOARDS:
        m, ns = _board(root, board)
        assert ns["EXTRAS"] == ("iotc-fixture",)
        assert "iotc/fixture.py" in m.files and len(set(m.files)) == len(m.files)
        assert set(m.files) - {"iotc/fixture.py"} <= set(core)
        assert m.required["iotc-fixture"]["version"] == library_version()


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


def _frozen_iotc(out):
    return sorted(set(re.findall(r"'(iotc/[\w/]+\.py)'", out)))


def test_ship_manifests_with_real_manifestfile():
    top, lib = _real_manifestfile()
    out = _manifestfile(top, lib, "--compile", os.path.join(ROOT, "manifest.py"))
    assert "version={} ".format(library_version()) in out
    assert _frozen_iotc(out) == gen_package.library_files(), out
    assert "umqtt/simple.py" in out
    for port, board in (("esp32", "ESP32_GENERIC"), ("esp8266", "ESP8266_GENERIC")):
        manifest = os.path.join(ROOT, "boards", board, "manifest.py")
        out = _manifestfile(top, lib, "--freeze", manifest, port, board)
        want = sorted(Manifest().run(manifest).files)
        assert _frozen_iotc(out) == want, out
        for needed in ("umqtt/simple.py", "asyncio/core.py", "ntptime.py"):
            assert needed in out, (board, needed)


def test_ship_extras_with_real_manifestfile(tmp_path):
    # Each extra's manifest compiles on its own (metadata first, the core require()d by name)
    # and freezes the core plus its files; a board naming it freezes both, each file once.
    top, lib = _real_manifestfile()
    root = shipfixture.build(tmp_path)
    extras = shipfixture.extras()
    core = gen_package.library_files(root, extras)
    for e in extras:
        out = _manifestfile(top, lib, "--compile",
                            os.path.join(root, "packages", e.name, "manifest.py"))
        assert "version={} ".format(library_version()) in out, out
        assert _frozen_iotc(out) == sorted(core + gen_package.extra_files(e)), out
    for port, board in (("esp32", "ESP32_GENERIC"), ("esp8266", "ESP8266_GENERIC")):
        manifest = os.path.join(root, "boards", board, "manifest.py")
        out = _manifestfile(top, lib, "--freeze", manifest, port, board)
        m = Manifest()
        m.root = root
        assert "iotc/fixture.py" in _frozen_iotc(out)
        assert _frozen_iotc(out) == sorted(m.run(manifest).files), out


def _make(*args, timeout=120):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def test_ship_firmware_without_micropython_dir_says_why():
    p = _make("firmware", "BOARD=ESP32_GENERIC", "MICROPY_DIR=")
    assert p.returncode != 0
    assert "MICROPY_DIR is not set" in p.stdout + p.stderr


def _path_without(tmp_path, *prefixes):
    """A PATH holding every command of this one but those whose names start with a prefix:
    a machine without that toolchain, whatever this one has installed."""
    bindir = tmp_path / "path-without"
    bindir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            target = os.path.join(d, name)
            if (name.startswith(prefixes) or (bindir / name).exists()
                    or not (os.path.isfile(target) and os.access(target, os.X_OK))):
                continue
            (bindir / name).symlink_to(target)
    return str(bindir)


def test_ship_firmware_without_toolchain_says_why(tmp_path):
    for port in ("esp32", "esp8266"):
        (tmp_path / "ports" / port).mkdir(parents=True)
        (tmp_path / "ports" / port / "Makefile").write_text("all:\n\tfalse\n")
    env_path = _path_without(tmp_path, "idf.py", "xtensa-lx106-elf-")
    assert shutil.which("make", path=env_path) and not shutil.which("idf.py", path=env_path)
    assert not shutil.which("xtensa-lx106-elf-gcc", path=env_path)
    for board, needle in (("ESP32_GENERIC", "ESP-IDF not found"),
                          ("ESP8266_GENERIC", "cross compiler is not on PATH (no xtensa-lx106-elf-gcc)")):
        p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "firmware",
                            "BOARD=" + board, "MICROPY_DIR=" + str(tmp_path)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PATH=env_path))
        assert p.returncode != 0 and needle in p.stdout + p.stderr, p.stdout + p.stderr
        if board == "ESP8266_GENERIC":  # and what to install
            assert "apt-get install gcc-xtensa-lx106 binutils-xtensa-lx106" in p.stdout
    p = _make("firmware", "BOARD=NO_SUCH_BOARD", "MICROPY_DIR=" + str(tmp_path))
    assert p.returncode != 0 and "no boards/NO_SUCH_BOARD/manifest.py" in p.stdout


def test_ship_make_mpy_lists_every_module():
    p = _make("mpy", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    sizes = dict((path, int(n)) for n, path in re.findall(r"^\s*(\d+)\s+(build/mpy/\S+\.mpy)$",
                                                         p.stdout, re.M))
    want = ["build/mpy/" + f[:-3] + ".mpy" for f in gen_package.all_files()]
    assert sorted(sizes) == sorted(want), p.stdout
    total = int(re.search(r"^\s*(\d+)\s+total \(", p.stdout, re.M).group(1))
    assert total == sum(sizes.values())
    per_package = dict((name, int(n)) for n, name in re.findall(
        r"^\s*(\d+)\s+package (\S+) \(", p.stdout, re.M))
    assert sorted(per_package) == sorted(name for name, _ in gen_package.packages())
    assert sum(per_package.values()) == total
    for path, n in sizes.items():
        assert os.path.getsize(os.path.join(ROOT, path)) == n


def _stand_in_tree(tmp_path):
    """A stand-in MicroPython tree whose Makefiles record how they were called -> the log."""
    log = tmp_path / "calls.log"
    for d in ("mpy-cross", "ports/esp32", "ports/esp8266"):
        (tmp_path / d).mkdir(parents=True)
        rec = ("\t@echo '{} $@ BOARD=$(BOARD) FROZEN_MANIFEST=$(FROZEN_MANIFEST) PORT=$(PORT)"
               " BOARD_VARIANT=$(BOARD_VARIANT) ESP_SDK=$(ESP_SDK) CFLAGS_EXTRA=$(CFLAGS_EXTRA)"
               " ESPTOOL=$(ESPTOOL)' >> {}\n").format(d, log)
        (tmp_path / d / "Makefile").write_text("all:\n" + rec + "%:\n" + rec)
    return log


def _stand_in_tools(bindir, sysroot=""):
    """idf.py, esptool and an xtensa-lx106-elf-gcc whose -print-sysroot says sysroot."""
    bindir.mkdir()
    for tool, body in (("idf.py", "exit 0"), ("esptool", "exit 0"),
                       ("xtensa-lx106-elf-gcc",
                        '[ "$1" = -print-sysroot ] && echo "{}"; exit 0'.format(sysroot))):
        (bindir / tool).write_text("#!/bin/sh\n" + body + "\n")
        (bindir / tool).chmod(0o755)
    return dict(os.environ, PATH="{}:{}".format(bindir, os.environ["PATH"]))


def test_ship_firmware_recipe_reaches_the_port_make(tmp_path):
    # The plumbing only: a stand-in MicroPython tree, and stand-in idf.py and an esp-open-sdk
    # compiler (the SDK in its sysroot) on PATH. What a real build gets is the same.
    log = _stand_in_tree(tmp_path)
    sysroot = tmp_path / "esp-open-sdk-sysroot"
    (sysroot / "usr" / "lib").mkdir(parents=True)
    (sysroot / "usr" / "lib" / "libmain.a").write_text("")
    env = _stand_in_tools(tmp_path / "bin", sysroot)
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
        # esp-open-sdk's compiler, and ESP-IDF, are used as they are: nothing more is passed
        assert "ESP_SDK= CFLAGS_EXTRA= ESPTOOL=" in last, last
        if goal == "deploy":
            assert last.startswith("ports/esp8266 deploy") and "PORT=/dev/ttyUSB9" in last


def _toolchain_mk(name):
    with open(os.path.join(ROOT, "boards", "ESP8266_GENERIC", "toolchain.mk")) as f:
        return re.search(r"^{} :?= (\S+)$".format(name), f.read(), re.M).group(1)


def test_ship_firmware_esp8266_with_debians_compiler_gets_the_sdk(tmp_path):
    # Debian's compiler (no SDK in its sysroot): the port's make is given the sysroot that
    # sdk.sh prepared (here: one marked done for the pinned commits) and the flags that make
    # gcc 12 + picolibc build it; submodules already checked out are not fetched again.
    log = _stand_in_tree(tmp_path)
    for d in ("lib/axtls", "lib/berkeley-db-1.xx", "lib/micropython-lib"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "README").write_text("")
    out = tmp_path / "sdk"
    (out / "sysroot").mkdir(parents=True)
    (out / "sysroot" / ".done-{}-{}".format(_toolchain_mk("ESP_NONOS_SDK_COMMIT"),
                                            _toolchain_mk("ESP_OPEN_LWIP_COMMIT"))).write_text("")
    env = _stand_in_tools(tmp_path / "bin")
    p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "firmware",
                        "BOARD=ESP8266_GENERIC", "BOARD_VARIANT=FLASH_1M",
                        "MICROPY_DIR=" + str(tmp_path), "ESP8266_SDK_OUT=" + str(out),
                        "FIRMWARE_GOAL=deploy"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "submodules already checked out" in p.stdout
    assert "ESP8266 SDK sysroot: {}/sysroot (ready)".format(out) in p.stdout
    calls = log.read_text().splitlines()
    assert calls[0].startswith("mpy-cross all") and len(calls) == 2, calls
    last = calls[1]
    assert last.startswith("ports/esp8266 deploy BOARD=ESP8266_GENERIC"), last
    assert "BOARD_VARIANT=FLASH_1M" in last
    assert "ESP_SDK={}/sysroot/usr ".format(out) in last
    for flag in ("-isystem {}/sysroot/usr/include".format(out), "-fcommon",
                 "-D__PICOLIBC_ERRNO_FUNCTION=__errno", "-Wno-array-bounds"):
        assert flag in last, (flag, last)
    assert "ESPTOOL= " in last + " "  # the stand-in esptool on PATH is the port's own choice
