"""The ESP8266 firmware, built for real: make firmware BOARD=ESP8266_GENERIC and its size table.

Needs a MicroPython clone with the port's submodules checked out (lib/axtls,
lib/berkeley-db-1.xx, lib/micropython-lib), the ESP8266 cross compiler on PATH (Debian:
gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf) and clones of the NONOS SDK
and esp-open-lwip holding the commits esp-open-sdk pins (boards/ESP8266_GENERIC/toolchain.mk):

    MICROPY_DIR=~/micropython ESP_NONOS_SDK=~/ESP8266_NONOS_SDK ESP_OPEN_LWIP=~/esp-open-lwip \\
        .venv/bin/python -m pytest -rs tests_host/test_ship_esp8266.py

Skipped, with the reason, when one is missing (GitHub sources: not in CI). The build goes to
MICROPY_DIR/ports/esp8266/build-ESP8266_GENERIC, as `make firmware` does; the SDK's sysroot
is prepared afresh in a temporary folder.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import fwsize  # noqa: E402

NEEDS = ("MICROPY_DIR", "ESP_NONOS_SDK", "ESP_OPEN_LWIP")
IROM0_2MIB = 1024 * 1024 - 36 * 1024  # the port's esp8266_2MiB.ld: irom0_0_seg
GC_HEAP = 38 * 1024  # the port's main.c: static char heap[38 * 1024]


def _sources():
    missing = [n for n in NEEDS if not os.environ.get(n)]
    if missing:
        pytest.skip("set {} (a MicroPython clone and the SDK clones) to build the ESP8266 "
                    "firmware".format(", ".join(missing)))
    if not shutil.which("xtensa-lx106-elf-gcc"):
        pytest.skip("no xtensa-lx106-elf-gcc on PATH: apt-get install gcc-xtensa-lx106 "
                    "binutils-xtensa-lx106 picolibc-xtensa-lx106-elf")
    return ["{}={}".format(n, os.environ[n]) for n in NEEDS]


def _table(text):
    """{label: (used, left, size)} and the GC heap, from the table make firmware prints."""
    rows = dict((label, tuple(int(n.replace(",", "")) for n in nums))
                for label, *nums in re.findall(
                    r"^\s+(irom0|IRAM|DRAM)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s", text, re.M))
    heap = re.search(r"^\s+GC heap\s+([\d,]+)", text, re.M)
    return rows, int(heap.group(1).replace(",", "")) if heap else None


def test_esp8266_firmware_builds_with_iotc_frozen_and_prints_its_size_table(tmp_path):
    args = _sources()
    jobs = os.environ.get("FWCHECK_JOBS", "2")
    p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "-j" + jobs, "firmware",
                        "BOARD=ESP8266_GENERIC", "ESP8266_SDK_OUT=" + str(tmp_path / "sdk")]
                       + args, capture_output=True, text=True, timeout=1800)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert "fetching nonos-sdk at " in out and "fetching open-lwip at " in out
    rows, heap = _table(p.stdout)
    assert sorted(rows) == ["DRAM", "IRAM", "irom0"], p.stdout[-2000:]
    used, left, size = rows["irom0"]
    assert size == IROM0_2MIB and used + left == size and left > 0
    assert rows["IRAM"][2] == 32 * 1024 and rows["IRAM"][1] >= 0
    assert rows["DRAM"][2] == 80 * 1024 and rows["DRAM"][1] > 0
    assert heap == GC_HEAP

    build = os.path.join(os.environ["MICROPY_DIR"], "ports", "esp8266", "build-ESP8266_GENERIC")
    assert os.path.getsize(os.path.join(build, "firmware.bin")) > used
    # the table is the ELF's own: the same figures from tools/fwsize.py on it
    lines, figures = fwsize.table(build)
    assert figures["irom0"] == rows["irom0"] and figures["GC heap"] == heap
    # and iotc is in it, frozen with its requirement
    with open(os.path.join(build, "frozen_content.c")) as f:
        frozen = f.read()
    for name in ("iotc/client.py", "iotc/__init__.py", "umqtt/simple.py"):
        assert name in frozen, name
