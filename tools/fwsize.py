# iotc: the size table of an ESP8266 firmware (make firmware prints it after a build)
# MIT license; Copyright (c) 2026 the iotc authors
"""python3 tools/fwsize.py BUILD_DIR [--readelf xtensa-lx106-elf-readelf]

Reads BUILD_DIR/firmware.elf (section and symbol tables, with the toolchain's readelf) and
BUILD_DIR/firmware.map (the linker's memory regions) and prints, per region, what the firmware
uses and what is left:

  irom0  code and constants in flash (MicroPython, the frozen modules, the SDK's flash code)
  IRAM   code that must run from RAM (interrupts, flash access): 32 KiB
  DRAM   .data + .rodata + .bss; what is left is the SDK's own heap (WiFi, lwIP, TLS records)
  GC heap  the MicroPython heap, a static array in .bss (the port's `heap`)

Exit status 1 if a file is missing or the tables cannot be read."""

import os
import re
import subprocess
import sys

REGIONS = (  # linker region, label, what it holds
    ("irom0_0_seg", "irom0", "flash: code, constants, frozen .mpy"),
    ("iram1_0_seg", "IRAM", "code run from RAM"),
    ("dram0_0_seg", "DRAM", "data + rodata + bss; left = SDK heap"),
)


def memory_regions(map_text):
    """{region name: (origin, length)} from the map's "Memory Configuration"."""
    part = map_text.split("Memory Configuration", 1)[1].split("Linker script", 1)[0]
    found = {}
    for name, origin, length in re.findall(r"^(\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", part, re.M):
        found[name] = (int(origin, 16), int(length, 16))
    return found


def alloc_sections(readelf_s):
    """[(name, address, size)] of the sections loaded in memory (flag A), from readelf -S -W."""
    out = []
    for line in readelf_s.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)\s+"
                     r"\S+\s+(\S*)", line)
        if m and "A" in m.group(4):
            out.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
    return out


def symbol_size(readelf_syms, name):
    for line in readelf_syms.splitlines():
        f = line.split()
        if len(f) >= 8 and f[7] == name and f[3] == "OBJECT":
            return int(f[2], 0)
    return None


def table(build, readelf="xtensa-lx106-elf-readelf"):
    """The table's lines, and the figures as a dict (for tests)."""
    elf = os.path.join(build, "firmware.elf")
    with open(os.path.join(build, "firmware.map")) as f:
        regions = memory_regions(f.read())
    sections = alloc_sections(subprocess.check_output([readelf, "-S", "-W", elf], text=True))
    syms = subprocess.check_output([readelf, "-s", "-W", elf], text=True)
    figures = {}
    lines = ["{:<8} {:>9} {:>9} {:>9} {:>6}  {}".format(
        "region", "used", "left", "size", "used%", "sections")]
    for region, label, _ in REGIONS:
        origin, length = regions[region]
        inside = [(n, s) for n, a, s in sections if origin <= a < origin + length and s]
        used = sum(s for _, s in inside)
        figures[label] = (used, length - used, length)
        lines.append("{:<8} {:>9,} {:>9,} {:>9,} {:>5.1f}%  {}".format(
            label, used, length - used, length, 100.0 * used / length,
            " ".join("{} {:,}".format(n, s) for n, s in inside)))
    heap = symbol_size(syms, "heap")
    figures["GC heap"] = heap
    lines.append("{:<8} {:>9}  (the port's static heap[] in .bss, part of DRAM above)".format(
        "GC heap", "{:,}".format(heap) if heap is not None else "?"))
    return lines, figures


def main(argv):
    args = list(argv)
    readelf = "xtensa-lx106-elf-readelf"
    if "--readelf" in args:
        i = args.index("--readelf")
        readelf = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        return 2
    build = args[0]
    for name in ("firmware.elf", "firmware.map"):
        if not os.path.isfile(os.path.join(build, name)):
            print("fwsize: no {} in {}".format(name, build))
            return 1
    lines, _ = table(build, readelf)
    print("Size of {} (bytes):".format(os.path.join(build, "firmware.elf")))
    for line in lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
