"""README.md stays true, and short: every code block is checked here.

README.md is the newcomer's page (at most 12 KB); the deep notes moved next to what they
describe (DOCS below), and their code blocks are checked the same way:

- A block preceded by `<!-- sample: samples/X -->` must equal that sample file byte for byte
  (the sample itself is run against the emulator by test_samples.py).
- Every ```python block compiles with mpy-cross (MicroPython's grammar), and the iotc names it
  uses (IoTCEvents.X, IoTCConnectType.X, IoTCLogLevel.X, client.method) exist in the library.
- ```json blocks parse; ```sh blocks only use make targets the Makefile has and the GitHub slug
  package.json uses.
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
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
README = os.path.join(ROOT, "README.md")
README_MAX = 12288
# README and the pages it hands the details to (other pages under docs/ are their authors').
DOCS = [README] + [os.path.join(ROOT, p) for p in (
    "docs/api.md", "docs/install.md", "docs/packages.md", "docs/boards.md", "docs/memory.md",
    "docs/troubleshooting.md", "docs/development.md", "bench/README.md",
    "tests_host/emulator/README.md")]
MP_PATH = ":".join([ROOT, os.path.join(ROOT, ".deps", "lib"), os.path.join(HERE, "mplib"),
                    ".frozen"])

_BLOCK = re.compile(r"(?:<!-- sample: (\S+) -->\n)?```(\w*)\n(.*?)```", re.S)


def blocks(paths=DOCS):
    """-> [(where, sample, language, body)] of every fenced block, where = "file:line"."""
    out = []
    for path in paths:
        with open(path) as f:
            text = f.read()
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            where = "{}:{}".format(os.path.relpath(path, ROOT), line)
            out.append((where, m.group(1), m.group(2), m.group(3)))
    return out


def _ids(kind):
    return [b for b in blocks() if b[2] == kind]


def test_ship_readme_quickstart_first():
    with open(README) as f:
        text = f.read()
    first_section = text.split("\n## ")[1]
    assert first_section.startswith("Quickstart")
    quick = _BLOCK.search(first_section)
    assert quick.group(3).split() == ["make", "demo", "make", "test"]
    assert "\n## Performance\n" in text  # the bench helper's section


def test_ship_readme_every_block_has_a_known_language():
    for line, sample, lang, body in blocks():
        assert lang in ("python", "sh", "json", "text"), \
            "{} block without a language".format(line)


def test_ship_readme_sample_copies_are_exact():
    copies = [b for b in blocks() if b[1]]
    assert copies, "README shows no sample"
    for line, sample, lang, body in copies:
        with open(os.path.join(ROOT, sample)) as f:
            assert body == f.read(), "{} differs from {}".format(line, sample)


def test_ship_readme_python_blocks_compile(tmp_path):
    for i, (line, sample, lang, body) in enumerate(_ids("python")):
        src = tmp_path / "block{}.py".format(i)
        src.write_text(body)
        p = subprocess.run([MPY_CROSS, "-o", str(tmp_path / "out.mpy"), str(src)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "{}: {}".format(line, p.stderr)


def _library_names():
    code = (
        "import iotc\n"
        "from iotc import IoTCClient\n"
        "for c in ('IoTCEvents', 'IoTCConnectType', 'IoTCLogLevel'):\n"
        "    for n in dir(getattr(iotc, c)):\n"
        "        print(c + '.' + n)\n"
        "for n in dir(IoTCClient):\n"
        "    print('client.' + n)\n"
    )
    p = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, MICROPYPATH=MP_PATH))
    assert p.returncode == 0, p.stdout + p.stderr
    return set(p.stdout.split())


def test_ship_readme_api_names_exist():
    names = _library_names()
    used = set()
    for line, sample, lang, body in _ids("python"):
        used |= set(re.findall(r"\b(IoTC(?:Events|ConnectType|LogLevel)\.[A-Z_]+)", body))
        used |= set("client." + n for n in re.findall(r"\bclient\.(\w+)\(", body))
    assert used, "README shows no API"
    missing = sorted(used - names)
    assert not missing, "README uses names the library lacks: {}".format(missing)


def test_ship_readme_json_blocks_parse():
    for line, sample, lang, body in _ids("json"):
        json.loads(body)


def test_ship_readme_shell_blocks():
    with open(os.path.join(ROOT, "Makefile")) as f:
        targets = set(re.findall(r"^([\w-]+):", f.read(), re.M))
    slug = gen_package.repo_from_makefile()
    seen_slug = False
    for line, sample, lang, body in _ids("sh"):
        for cmd in body.splitlines():
            m = re.match(r"\s*make\s+([\w-]+)", cmd)
            if m:
                assert m.group(1) in targets, "{}: no make target {}".format(
                    line, m.group(1))
            for s in re.findall(r"github:([\w.-]+/[\w.-]+)", cmd):
                assert s == slug, "{}: github:{} but the Makefile says {}".format(
                    line, s, slug)
                seen_slug = True
    for line, sample, lang, body in _ids("python"):
        for s in re.findall(r"github:([\w.-]+/[\w.-]+)", body):
            assert s == slug, "{}: github:{} but the Makefile says {}".format(line, s, slug)
            seen_slug = True
    assert seen_slug, "README does not show the mip install line"


def _api_block():
    # The full API example lives in docs/api.md; README shows a short one.
    found = [b for b in blocks([os.path.join(ROOT, "docs", "api.md")])
             if "client = IoTCClient(" in b[3] and not b[1]]
    assert len(found) == 1, "docs/api.md should have one API block"
    return found[0][3]


def test_ship_readme_api_block_runs(emulator, tmp_path):
    # The API block, run for real on the unix port against the emulator: only its placeholders
    # (scope, device id, key, DPS endpoint, CA, storage path) are replaced.
    i = emulator.info
    dev = "readme-api-" + os.path.basename(str(tmp_path))[-6:].strip("_-")
    code = _api_block()
    subs = [
        ('"0ne00000000",', '"{}",'.format(i["id_scope"])),
        ('"my-device-1",', '"{}",'.format(dev)),
        ('"group-or-device-key-base64",', '"{}",'.format(i["group_key"])),
        ("endpoint=None,", 'endpoint="{}",'.format(i["dps"])),
        ("ca_file=None,", 'ca_file="{}",'.format(i["ca_der"])),
        ('FileStorage("/iotc.json")', 'FileStorage("{}")'.format(tmp_path / "iotc.json")),
    ]
    for old, new in subs:
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    script = tmp_path / "api.py"
    script.write_text(code)
    p = subprocess.run([MICROPYTHON, str(script)], capture_output=True, text=True, timeout=60,
                       cwd=str(tmp_path), env=dict(os.environ, MICROPYPATH=MP_PATH))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "connected" in p.stdout and "True" in p.stdout
    got = emulator.app.telemetry(dev)
    assert [json.loads(t["body"]) for t in got] == [{"temperature": 21.5}, {"speed": 3}]
    assert got[0]["properties"].get("alert") == "1"
    assert got[1]["system"].get("$.sub") == "motor" or got[1]["properties"].get("$.sub") == "motor"
    assert emulator.app.twin(dev)["reported"]["firmware"] == "1.0.0"
    with open(str(tmp_path / "iotc.json")) as f:
        cached = json.load(f)
    assert cached["device_id"] == dev and "key" not in json.dumps(cached).lower()


def test_ship_readme_quoted_errors_exist():
    # Error messages README and its pages quote (`IoTCError("...")`, `IoTCError: ...`) are the
    # library's own.
    text = ""
    for path in DOCS:
        with open(path) as f:
            text += f.read()
    quoted = re.findall(r'IoTCError\("([^"]+?)(?: \.\.\.)?"\)', text)
    quoted += re.findall(r"IoTCError: ([^`]+?)(?: \.\.\.)?`", text)
    assert quoted
    src = ""
    for name in gen_package.library_files():
        with open(os.path.join(ROOT, name)) as f:
            src += f.read()
    for q in quoted:
        assert q in src, "README quotes an error the library does not raise: " + q


def test_ship_readme_emulator_commands_exist():
    # Each `python -m tests_host.emulator SUB --opt ...` line names a real subcommand and options,
    # and each file a command line mentions (samples/..., tests_host/...) exists.
    import shlex

    checked = 0
    for line, sample, lang, body in _ids("sh"):
        for cmd in body.splitlines():
            words = shlex.split(cmd)
            for w in words:
                if w.startswith(("samples/", "tests_host/", "tools/")) and "." in w:
                    assert os.path.exists(os.path.join(ROOT, w)) or w.endswith(".der"), w
            if "tests_host.emulator" not in words:
                continue
            sub = words[words.index("tests_host.emulator") + 1]
            p = subprocess.run([sys.executable, "-m", "tests_host.emulator", sub, "--help"],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, "{}: {}".format(line, p.stderr)
            for w in words:
                if w.startswith("--"):
                    assert w in p.stdout, "{}: {} {} has no {}".format(
                        line, "tests_host.emulator", sub, w)
            checked += 1
    assert checked >= 3


def test_ship_readme_is_short():
    # The page a newcomer reads top to bottom: deep notes go to docs/ and the READMEs beside
    # what they describe.
    size = os.path.getsize(README)
    assert size <= README_MAX, "README.md is {} bytes, more than {}: move details to docs/".format(
        size, README_MAX)


def test_ship_readme_sections_in_order():
    with open(README) as f:
        heads = re.findall(r"^## (.+)$", f.read(), re.M)
    want = ["Quickstart", "Install", "A first program", "API", "Migrating from another client",
            "Boards", "Troubleshooting", "Performance"]
    assert [h for h in heads if h in want] == want, heads


def test_ship_readme_links_resolve():
    # Every relative link of README and its pages names a file or folder that exists, and an
    # anchor into a markdown page names one of its headings.
    def anchors(path):
        with open(path) as f:
            heads = re.findall(r"^#+ (.+)$", f.read(), re.M)
        return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in heads}

    checked = 0
    for path in DOCS:
        with open(path) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            rel, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(path), rel)) if rel else path
            assert os.path.exists(full), "{}: broken link {}".format(path, target)
            if anchor and full.endswith(".md"):
                assert anchor in anchors(full), "{}: no heading for #{}".format(path, anchor)
            checked += 1
    assert checked >= 10
