"""make bench, the report: how each figure is taken (METHODS), the terminal table, the Latest
figures of bench/README.md, README's short Performance table and bench/footprint.png, all from the report dict that bench/run.py
builds (also written as bench/out/bench.json)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

METHODS = {
    "import": "gc.collect() twice then gc.mem_alloc(), in a fresh interpreter that has loaded "
              "nothing else (bench/mp/benchimport.py), minus the value taken the same way just "
              "before the import (the old client's bridges already installed). Includes the "
              "heap pools of interned names (qstrs) the import opens; bench.json lists them.",
    "heap": "bisection on -X heapsize over the whole scenario: connect with the cached "
            "assignment (warm) or through DPS (cold), telemetry x200 at QoS 0, a reported "
            "property, a desired property acknowledged (ac 200, checked in the emulator's "
            "twin), a command answered 200 (checked in its call log); steps of 512 B. On this "
            "unix port, as on ESP32, mbedTLS takes its record buffers from the C heap, not "
            "from MicroPython's: the figure is the Python-side need (an SSLContext object, "
            "~3.2 KB, is on it).",
    "alloc": "gc.disable(), gc.mem_alloc() before and after 1,000 send_telemetry() calls "
             "(QoS 1: each followed by listen(), then listen() until every PUBACK), divided "
             "by 1,000; with the collector off every byte allocated and not explicitly freed "
             "stays counted (16-byte blocks). requested_per_msg is micropython.mem_total()'s "
             "delta (bytes requested, reallocations included).",
    "cpu": "valgrind --tool=callgrind total instructions for connect + 500 messages + "
           "disconnect, minus the same run with 0 messages, divided by 500 (cancels the CPython "
           "wrapper, start-up, TLS handshake). Wall time: time.ticks_us() around 1,000 sends "
           "inside MicroPython, collector on, best of 3 (QoS 1: until every PUBACK is in, so "
           "it includes the round trips through the proxy and the emulator).",
    "bytes": "MQTT: bytes written into the TLS socket (bench_count wraps every TLS socket) over "
             "n messages / n. TCP: bytes the loopback proxy between client and hub forwarded "
             "client->hub over the same n messages / n (TLS record headers and tags included).",
    "flash": ".mpy from mpy-cross (default options) of every file; core = modules the warm "
             "scenario loads at any time (an import hook records those dropped after use), "
             "optional = the rest, each with when it loads (first boot = only with DPS); "
             "total on ESP32 = the core package (what the core install puts on a board; each "
             "optional package is a choice, in its own row) plus the dependencies stock ESP32 "
             "firmware lacks. Per package: the .mpy of the files each package ships (the core "
             "`iotc` and each optional package in packages/, tools/gen_package.py's table).",
    "connect": "time.ticks_ms() from constructing the client to connect() returning; cold = "
               "no cached assignment (DPS answers 202 with Retry-After: 1 first), warm = "
               "cached; median of 3.",
    "listen": "n listen() calls with nothing to receive: ticks_us and gc.mem_alloc (collector "
              "off) per call.",
}


# ---------------------------------------------------------------- the terminal table
def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v != int(v):
        v = round(v, 1) if abs(v) < 100 else round(v)
    return "{:,}{}".format(int(v) if float(v).is_integer() else v, unit)


ROWS = [
    ("1 Heap after `import iotc`, .py (B)", ("import", "py", "import_iotc")),
    ("  Heap after `import iotc`, .mpy (B)", ("import", "mpy", "import_iotc")),
    ("  ... + `from iotc import IoTCClient`, .py (B)", ("import", "py", "import_client")),
    ("  ... + `from iotc import IoTCClient`, .mpy (B)", ("import", "mpy", "import_client")),
    ("2 Smallest -X heapsize, scenario, warm (B)", ("heap", "warm")),
    ("  Smallest -X heapsize, scenario, cold (B)", ("heap", "cold")),
    ("  ... warm, ours with verify=False (B)", ("heap", "warm_noverify")),
    ("3 Heap allocated per message, QoS 0 (B)", ("telemetry", "qos0", "alloc_per_msg")),
    ("  Heap allocated per message, QoS 1 (B)", ("telemetry", "qos1", "alloc_per_msg")),
    ("4 Instructions per message (callgrind)", ("cpu", "per_msg")),
    ("  Wall time per message, QoS 0 (us)*", ("telemetry", "qos0", "us_per_msg")),
    ("  Wall time per message, QoS 1 (us)*", ("telemetry", "qos1", "us_per_msg")),
    ("5 MQTT bytes written per message", ("bytes", "mqtt")),
    ("  TCP bytes per message (TLS records)", ("bytes", "tcp")),
    ("6 Flash: core .mpy (B)", ("flash", "core_total")),
    ("  Flash: optional .mpy (B)", ("flash", "optional_total")),
    ("  Flash: all client .mpy (B)", ("flash", "client_total")),
    ("  Flash: deps beyond ESP32 defaults (B)", ("flash", "deps_beyond_esp32_defaults")),
    ("  Flash: total on ESP32 (B)", ("flash", "total_on_esp32")),
    ("7 Time to connected, cold (ms)*", ("connect", "cold")),
    ("  Time to connected, warm (ms)*", ("connect", "warm")),
    ("8 Idle listen(): time per call (us)*", ("listen", "us")),
    ("  Idle listen(): heap per call (B)", ("listen", "alloc")),
]


def rows(report):
    """ROWS, with one flash row per package (the core `iotc` and each extra, packages/)."""
    names = []
    for c in report["clients"]:
        for n in sorted(_get(report["figures"].get(c, {}), "flash", "packages") or {}):
            if n not in names:
                names.append(n)
    names.sort(key=lambda n: (n != "iotc", n))
    out = []
    for label, path in ROWS:
        out.append((label, path))
        if path == ("flash", "client_total"):
            out += [("  Flash: package {} .mpy (B)".format(n), ("flash", "packages", n))
                    for n in names]
    return out


def _cell(figs, client, path):
    v = _get(figs.get(client, {}), *path)
    if v is None and path[0] == "telemetry" and _get(figs.get(client, {}), path[0], path[1],
                                                      "supported") is False:
        return "QoS 0 only"
    if v is None and path[0] == "cpu":
        return _get(figs.get(client, {}), "cpu", "skipped")
    return v


def table(report):
    figs = report["figures"]
    cl = list(report["clients"])
    labels = [report["clients"][c]["label"] for c in cl]
    w0 = max(len(r[0]) for r in rows(report)) + 2
    head = "{:<{w}}".format("figure", w=w0) + "".join("{:>24}".format(l) for l in labels)
    if len(cl) == 2:
        head += "{:>12}".format("old/ours")
    lines = [head, "-" * len(head)]
    for label, path in rows(report):
        vals = [_cell(figs, c, path) for c in cl]
        row = "{:<{w}}".format(label, w=w0) + "".join("{:>24}".format(_fmt(v)) for v in vals)
        if len(cl) == 2:
            a, b = vals
            ratio = ""
            if all(isinstance(x, (int, float)) and round(x) for x in (a, b)):
                ratio = ("{:,.0f}x" if a / b >= 100 else "{:.2f}x").format(a / b)
            row += "{:>12}".format(ratio)
        lines.append(row)
    m = report["machine"]
    lines.append("ours: {}".format(report.get("ours_source")))
    lines.append("old/ours above 1: ours is smaller or faster by that factor.")
    lines.append("* absolute times are this machine's ({}, {} cores; unix port {}); compare "
                 "the ratios.".format(m["cpu"], m["cores"], m["micropython"]))
    for c in cl:
        lines.append("\nHow {} was run here:".format(report["clients"][c]["label"]))
        for b in report["clients"][c]["bridges"]:
            lines.append("  - " + b)
    if report["errors"]:
        lines.append("\nFAILED figures:")
        for k, v in report["errors"].items():
            lines.append("  {}: {}".format(k, v.splitlines()[0] if v else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------- bench/README.md, README.md
def performance_md(report):
    figs = report["figures"]
    cl = list(report["clients"])
    m = report["machine"]
    out = [
        "Measured by `make bench` ({}, {} s): this repo's `iotc` ({}) beside "
        "micropython-iotc 1.1.0, the client on PyPI, under the same MicroPython unix port "
        "({}, 64-bit), against the same emulator, through the same counting proxy, on the "
        "same scenario. Lower is better everywhere; the last column is old / ours, so above 1 "
        "means ours is smaller or faster. Times marked * are this machine's ({}); read them "
        "as ratios.".format(
            report["generated"][:10], int(report["seconds"]), report.get("ours_source", "?"),
            m["micropython"], m["cpu"]),
        "",
        "![footprint: heap after import, smallest heap for the scenario, heap per message, flash]"
        "(footprint.png)",
        "",
        "| figure | " + " | ".join(report["clients"][c]["label"] for c in cl) + " | old/ours |",
        "|---|" + "---:|" * (len(cl) + 1),
    ]
    for label, path in rows(report):
        vals = [_cell(figs, c, path) for c in cl]
        ratio = ""
        if len(vals) == 2 and all(isinstance(x, (int, float)) and round(x) for x in vals):
            r = vals[0] / vals[1]
            ratio = ("{:,.0f}x" if r >= 100 else "{:.2f}x").format(r)
        out.append("| {} | {} | {} |".format(label.strip().replace("*", "\\*"),
                                             " | ".join(_fmt(v) for v in vals), ratio))
    old = figs.get("old", {})
    if _get(old, "bytes", "mqtt") is not None:
        out += ["", "Issue 5 quotes, for micropython-iotc 1.1.0 and this payload, 105 MQTT bytes, "
                "221 TCP bytes and 480 B of heap per message; this run measured {}, {} and {} B "
                "(the heap figure counts with the collector off, see below).".format(
                    _fmt(_get(old, "bytes", "mqtt")), _fmt(_get(old, "bytes", "tcp")),
                    _fmt(_get(old, "telemetry", "qos0", "alloc_per_msg")))]
    out += ["", "How each figure is taken:", ""]
    for k in METHODS:
        out.append("- **{}**: {}".format(k, report["methods"][k]))
    for c in cl:
        out += ["", "How {} runs here:".format(report["clients"][c]["label"]), ""]
        out += ["- " + b for b in report["clients"][c]["bridges"]]
    out += [
        "",
        "To regenerate (about two minutes here; fetches micropython-iotc 1.1.0, umqtt.robust 1.0 "
        "and itertools 0.3 from PyPI by sha256 into `bench/out/`, never committed; uses "
        "valgrind when it is installed):",
        "",
        "```sh",
        "make bench",
        "```",
        "",
        "It prints the table, writes every figure to `bench/out/bench.json` and redraws "
        "`bench/footprint.png`; `make bench BENCH_ARGS=\"--ours-rev HEAD --update-readme\"` "
        "benches the committed `iotc/` and rewrites this section and README's short table. "
        "`tests_host/test_bench.py` runs a reduced bench in `make test` and checks that every "
        "figure is there for both clients (no timing is asserted).",
    ]
    return "\n".join(out) + "\n"


# The rows README's short table keeps (the rest is in bench/README.md), by label prefix.
SHORT = ("Heap after `import iotc`, .mpy", "... + `from iotc import IoTCClient`, .mpy",
         "Smallest -X heapsize, scenario, warm", "Heap allocated per message, QoS 0",
         "Wall time per message, QoS 0", "Flash: package iotc ", "Flash: total on ESP32",
         "Time to connected, warm")


def performance_short_md(report):
    """README's Performance section: a few rows, and where the rest is."""
    full = performance_md(report).split("\n")
    first = full.index("| figure | " + " | ".join(
        report["clients"][c]["label"] for c in report["clients"]) + " | old/ours |")
    out = ["Measured by `make bench` ({}) under the MicroPython unix port (64-bit), against "
           "the emulator: lower is better, old/ours above 1 means ours is smaller or faster, "
           "times (*) are ratios on this machine. Every figure, how each is taken and how to "
           "rerun: [bench/README.md](bench/README.md#latest-figures).".format(
               report["generated"][:10]), "", full[first], full[first + 1]]
    for line in full[first + 2:]:
        if not line.startswith("| "):
            break
        label = line[2:].lstrip("0123456789 ")
        if label.startswith(SHORT):
            out.append("| " + label)
    return "\n".join(out) + "\n"


def _replace_section(path, head, md):
    with open(path) as f:
        text = f.read()
    if head not in text:
        text = text.rstrip("\n") + "\n" + head
    start = text.index(head) + len(head)
    nxt = text.find("\n## ", start)
    rest = text[nxt:] if nxt >= 0 else ""
    text = text[:start] + "\n" + md + rest
    with open(path, "w") as f:
        f.write(text)


def update_readme(report):
    """The full section into bench/README.md (Latest figures), a short one into README.md."""
    _replace_section(os.path.join(ROOT, "bench", "README.md"), "\n## Latest figures\n",
                     performance_md(report))
    _replace_section(os.path.join(ROOT, "README.md"), "\n## Performance\n",
                     performance_short_md(report))


# ---------------------------------------------------------------- the chart
def chart(report, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figs = report["figures"]
    cl = list(report["clients"])
    panels = [
        ("Heap after importing IoTCClient (.mpy)", ("import", "mpy", "import_client"), "bytes"),
        ("Smallest -X heapsize, scenario", ("heap", "warm"), "bytes"),
        ("Heap allocated per message (QoS 0)", ("telemetry", "qos0", "alloc_per_msg"),
         "bytes"),
        ("Flash (.mpy, total on ESP32)", ("flash", "total_on_esp32"), "bytes"),
    ]
    colors = {"old": "#b0b0b0", "ours": "#2a7ab9"}
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.6))
    for ax, (title, p, unit) in zip(axes, panels):
        vals = [_get(figs.get(c, {}), *p) or 0 for c in cl]
        bars = ax.bar([report["clients"][c]["label"].replace(" (this repo)", "\n(this repo)")
                       .replace(" 1.1.0", "\n1.1.0") for c in cl], vals,
                      color=[colors[c] for c in cl])
        for b, v in zip(bars, vals):
            ax.annotate("{:,}".format(int(round(v))), (b.get_x() + b.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_ylim(0, max(vals + [1]) * 1.18)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
    fig.suptitle("iotc footprint beside micropython-iotc 1.1.0 (make bench, unix port, "
                 "64-bit; lower is better)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
