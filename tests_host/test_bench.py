"""The bench's own machinery (bench/, `make bench`): a reduced run of both clients through every
figure, checked for completeness, not for speed. No timing is asserted; two byte counts are,
because they are exact: micropython-iotc 1.1.0 writes 105 MQTT bytes per message for the
issue's payload, 221 with its TLS records, and the bench must reproduce that to be trusted.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FETCHED = os.path.join(ROOT, "bench", "out", "old", ".fetched")

# (path in bench.json figures[client], clients it applies to)
FIGURES = [
    (("import", "py", "import_iotc"), ("old", "ours")),
    (("import", "mpy", "import_iotc"), ("old", "ours")),
    (("import", "py", "import_client"), ("old", "ours")),
    (("import", "mpy", "import_client"), ("old", "ours")),
    (("heap", "warm"), ("old", "ours")),
    (("heap", "warm_noverify"), ("ours",)),
    (("telemetry", "qos0", "alloc_per_msg"), ("old", "ours")),
    (("telemetry", "qos0", "us_per_msg"), ("old", "ours")),
    (("telemetry", "qos1", "alloc_per_msg"), ("ours",)),
    (("bytes", "mqtt"), ("old", "ours")),
    (("bytes", "tcp"), ("old", "ours")),
    (("flash", "core_total"), ("old", "ours")),
    (("flash", "client_total"), ("old", "ours")),
    (("flash", "packages", "iotc"), ("old", "ours")),
    (("flash", "total_on_esp32"), ("old", "ours")),
    (("connect", "cold"), ("old", "ours")),
    (("connect", "warm"), ("old", "ours")),
    (("listen", "us"), ("old", "ours")),
    (("listen", "alloc"), ("old", "ours")),
]


def _get(d, path):
    for p in path:
        assert isinstance(d, dict) and p in d, "missing {}".format("/".join(path))
        d = d[p]
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not os.path.exists(FETCHED):
        p = subprocess.run(["make", "-s", "bench/out/old/.fetched"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            pytest.skip("micropython-iotc 1.1.0 could not be fetched from the package index:\n"
                        + p.stdout + p.stderr)
    out = tmp_path_factory.mktemp("bench")
    # Own loopback addresses, so a `make bench` running at the same time does not collide.
    p = subprocess.run([sys.executable, "-m", "bench", "--quick", "--no-chart", "--out", str(out),
                        "--emu-host", "127.77.1.2", "--hub-name", "127.77.1.3"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    path = out / "bench.json"
    assert path.exists(), p.stdout[-4000:] + p.stderr[-4000:]
    with open(path) as f:
        rep = json.load(f)
    rep["_stdout"] = p.stdout
    rep["_rc"] = p.returncode
    return rep


def test_bench_completes_without_errors(report):
    assert report["errors"] == {}, report["_stdout"][-4000:]
    assert report["_rc"] == 0


@pytest.mark.parametrize("path,clients", FIGURES, ids=["/".join(f[0]) for f in FIGURES])
def test_every_figure_for_both_clients(report, path, clients):
    for c in clients:
        v = _get(report["figures"][c], path)
        assert isinstance(v, (int, float)) and v >= 0, (c, path, v)


def test_cpu_figure_or_reason(report):
    for c in ("old", "ours"):
        cpu = report["figures"][c]["cpu"]
        assert cpu.get("skipped") == "skipped: no valgrind" or cpu["per_msg"] > 0, cpu


def test_old_client_has_no_qos1_and_says_so(report):
    assert report["figures"]["old"]["telemetry"]["qos1"] == {"qos": 1, "supported": False}
    assert "QoS 0 only" in report["_stdout"]


def test_byte_counts_reproduce_the_reference(report):
    # micropython-iotc 1.1.0, {"temperature": 21.5, "humidity": 40} from dev1 (issue 5).
    old = report["figures"]["old"]["bytes"]
    assert (old["mqtt"], old["tcp"]) == (105, 221)
    ours = report["figures"]["ours"]["bytes"]
    assert 0 < ours["mqtt"] < ours["tcp"]


def test_bridges_and_methods_are_reported(report):
    assert report["clients"]["old"]["bridges"] and report["clients"]["ours"]["bridges"]
    assert "How micropython-iotc 1.1.0 was run here:" in report["_stdout"]
    for key in ("import", "heap", "alloc", "cpu", "bytes", "flash", "connect", "listen"):
        assert report["methods"][key]


def test_import_budget_from_mpy(report):
    # Issue 3: `import iotc` from .mpy holds less than 4 KB of heap.
    assert report["figures"]["ours"]["import"]["mpy"]["import_iotc"] < 4096


def test_flash_per_package(report):
    # Every package of this repo is listed (the core and each extra of tools/gen_package.py
    # with its files present), and they add up to the client's flash.
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import gen_package

    from bench.report import performance_short_md, table

    flash = report["figures"]["ours"]["flash"]
    assert sorted(flash["packages"]) == sorted(n for n, _ in gen_package.packages())
    assert sum(flash["packages"].values()) == flash["client_total"]
    assert "Flash: package iotc .mpy (B)" in table(report)
    assert "| Flash: package iotc .mpy (B) |" in performance_short_md(report)
