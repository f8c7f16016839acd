"""Write the package descriptions (mip's package.json, the freezing manifests) from iotc/.

iotc ships as one namespace split into packages, as micropython-lib splits aioble: every file
lives in iotc/, the core package `iotc` is every file that no extra claims, and each optional
layer is a package of its own (packages/<name>/) that installs or freezes a few more iotc/*.py
on top of the core. The one table is EXTRAS below; everything else is generated from it:

  package.json                      mip: the core (`mip.install("github:OWNER/REPO")`)
  packages/iotc/manifest.py         freezing: the core (root manifest.py includes it)
  packages/<extra>/package.json     mip: the extra's files, with a dependency on the core
  packages/<extra>/manifest.py      freezing: require("iotc") + package("iotc", files=...)

mip has no globbing, so the lists are derived from the tree: adding a module is create it,
run `make package`, commit. Adding an extra is one row in EXTRAS, then `make package`.
The GitHub slug (OWNER/REPO) lives in ONE place, the IOTC_REPO line of the Makefile.

  python tools/gen_package.py            write every file above
  python tools/gen_package.py --check    exit 1 if any of them is not what would be written
  python tools/gen_package.py --sizes build/mpy    .mpy bytes per package (`make mpy`)
"""

import argparse
import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "iotc"
PACKAGES_DIR = "packages"
# Installed on top of the core by mip from the MicroPython package index (as .mpy for the device).
DEPS = (("umqtt.simple", "latest"),)

Extra = collections.namedtuple("Extra", "name files description requires")

# The optional packages. One row each: mip/manifest name, its files in iotc/, what it is, and
# the packages it needs besides the core (names of other rows, or of the MicroPython index).
# A file no row names belongs to the core. Enable a row once its module is in iotc/ (the
# generator refuses a row whose file is missing), then run `make package`.
EXTRAS = (
    Extra("iotc-legacy", ("legacy.py",), "the old iotc SDK's camelCase Device API", ()),
    Extra("iotc-aio", ("aio.py",), "asyncio API: await connect() and sends", ()),
    Extra("iotc-x509", ("x509.py",), "X.509 device certificates for DPS and the hub", ()),
    Extra("iotc-rate", ("rate.py",), "telemetry send interval, set in code or from IoT Central",
          ()),
    Extra("iotc-stop", ("stop.py",), "the cloud's stop command, kept across reboots", ()),
    Extra("iotc-spool", ("spool.py", "spoolio.py", "spoolfs.py"),
          "telemetry kept on flash while offline, replayed in order", ()),
    Extra("iotc-ota", ("ota.py", "otaboot.py", "otacmd.py", "otafs.py", "otaget.py",
                       "otapart.py", "otarun.py"),
          "updates over the air: files over HTTPS, ESP32 firmware images, rollback", ()),
)

CORE_DESCRIPTION = "Azure IoT Central device client."


def repo_from_makefile(root=ROOT):
    with open(os.path.join(root, "Makefile")) as f:
        m = re.search(r"^IOTC_REPO\s*[:?]?=\s*(\S+)\s*$", f.read(), re.M)
    if not m:
        raise SystemExit("Makefile has no IOTC_REPO line")
    return m.group(1)


def all_files(root=ROOT):
    """Every .py file of the namespace, as POSIX paths relative to the repo root, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def check_extras(root=ROOT, extras=None):
    """The table, checked against the tree: -> extras. Raises SystemExit with the reason."""
    extras = EXTRAS if extras is None else extras
    have = set(all_files(root))
    seen = {}
    for e in extras:
        if not re.match(r"^iotc-[a-z0-9-]+$", e.name):
            raise SystemExit("extra {!r}: name it iotc-<something>".format(e.name))
        for f in e.files:
            path = PACKAGE + "/" + f
            if path not in have:
                raise SystemExit("extra {}: {} does not exist (a row is enabled once its module "
                                 "is in {}/)".format(e.name, path, PACKAGE))
            if f == "__init__.py" or path in seen:
                raise SystemExit("extra {}: {} already belongs to {}".format(
                    e.name, path, seen.get(path, PACKAGE)))
            seen[path] = e.name
    return extras


def extra_files(extra):
    return sorted(PACKAGE + "/" + f for f in extra.files)


def library_files(root=ROOT, extras=None):
    """The core package's files: every iotc/*.py that no extra claims."""
    claimed = set()
    for e in check_extras(root, extras):
        claimed.update(extra_files(e))
    return [f for f in all_files(root) if f not in claimed]


core_files = library_files


def packages(root=ROOT, extras=None):
    """-> [(package name, [files])], the core first, then each extra in table order."""
    out = [(PACKAGE, library_files(root, extras))]
    for e in check_extras(root, extras):
        out.append((e.name, extra_files(e)))
    return out


def package_of(root=ROOT, extras=None):
    """-> {iotc/x.py: package name}."""
    return {f: name for name, files in packages(root, extras) for f in files}


def library_version(root=ROOT):
    with open(os.path.join(root, PACKAGE, "__init__.py")) as f:
        m = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", f.read(), re.M)
    if not m:
        raise SystemExit("iotc/__init__.py defines no __version__")
    return m.group(1)


def _json_list(items):
    # One entry per line: diffs stay readable when a module is added.
    return [
        "    [{}]{}".format(", ".join('"{}"'.format(x) for x in item),
                           "," if i < len(items) - 1 else "")
        for i, item in enumerate(items)
    ]


def render(repo, files, version, deps=DEPS):
    lines = ["{", '  "urls": [']
    lines += _json_list([(path, "github:{}/{}".format(repo, path)) for path in files])
    lines.append("  ],")
    lines.append('  "deps": [')
    lines += _json_list(list(deps))
    lines.append("  ],")
    lines.append('  "version": "{}"'.format(version))
    lines.append("}")
    return "\n".join(lines) + "\n"


def extra_deps(repo, extra, extras):
    """mip deps of an extra: the core (the repo's package.json, from the default branch, as
    `mip.install("github:OWNER/REPO")` installs it), then what its row names."""
    names = {e.name for e in extras}
    deps = [("github:{}/package.json".format(repo), "HEAD")]
    for r in extra.requires:
        if r in names:
            deps.append(("github:{}/{}/{}/package.json".format(repo, PACKAGES_DIR, r), "HEAD"))
        else:
            deps.append((r, "latest"))
    return deps


_HEADER = ("# {name}: {what}\n"
           "# MIT license; Copyright (c) 2026 the iotc authors\n"
           "# Generated by tools/gen_package.py (`make package`) from its EXTRAS table: edit that.\n")


def render_core_manifest(files, version):
    names = [f[len(PACKAGE) + 1:] for f in files]
    out = [_HEADER.format(name=PACKAGE, what="the core package, for freezing into firmware"),
           'metadata(description="{}", version="{}", license="MIT")'.format(
               CORE_DESCRIPTION, version),
           "",
           'require("umqtt.simple")',
           "",
           "# The core files (the extras in packages/iotc-*/ add theirs). A board manifest that",
           "# must stay small passes files=(...) to freeze only those; opt= goes to mpy-cross.",
           "CORE = ("]
    out += ['    "{}",'.format(n) for n in names]
    out += [")",
            'package("{}", files=options.files or CORE, base_path="../..", opt=options.opt)'
            .format(PACKAGE)]
    return "\n".join(out) + "\n"


def render_extra_manifest(extra, extras, version):
    names = {e.name for e in extras}
    out = [_HEADER.format(name=extra.name, what=extra.description),
           'metadata(description="{}", version="{}", license="MIT")'.format(
               extra.description, version),
           "",
           "# packages/ holds the core and every extra: require() finds them there by name",
           "# (add_library: MicroPython v1.22+).",
           'add_library("iotc", "..")',
           'require("iotc", library="iotc")']
    for r in extra.requires:
        out.append('require("{}"{})'.format(r, ', library="iotc"' if r in names else ""))
    out.append('package("{}", files=({}), base_path="../..", opt=options.opt)'.format(
        PACKAGE, "".join('"{}", '.format(f) for f in sorted(extra.files)).rstrip(" ")))
    return "\n".join(out) + "\n"


def expected_files(root=ROOT, repo=None, extras=None):
    """-> {repo-relative path: text} of every generated file."""
    repo = repo or repo_from_makefile(root)
    extras = check_extras(root, extras)
    version = library_version(root)
    core = library_files(root, extras)
    out = {
        "package.json": render(repo, core, version),
        PACKAGES_DIR + "/iotc/manifest.py": render_core_manifest(core, version),
    }
    for e in extras:
        d = PACKAGES_DIR + "/" + e.name + "/"
        out[d + "package.json"] = render(repo, extra_files(e), version,
                                         extra_deps(repo, e, extras))
        out[d + "manifest.py"] = render_extra_manifest(e, extras, version)
    return out


def expected(root=ROOT, repo=None, extras=None):
    """The core package.json's text."""
    return expected_files(root, repo, extras)["package.json"]


def stale_generated(root=ROOT, want=None):
    """Generated files under packages/ that the table no longer names."""
    want = want or expected_files(root)
    out = []
    base = os.path.join(root, PACKAGES_DIR)
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else ():
        for f in ("package.json", "manifest.py"):
            rel = "{}/{}/{}".format(PACKAGES_DIR, name, f)
            if os.path.exists(os.path.join(root, rel)) and rel not in want:
                out.append(rel)
    return out


def write(root=ROOT, repo=None, extras=None):
    want = expected_files(root, repo, extras)
    for rel, text in want.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    for rel in stale_generated(root, want):
        os.remove(os.path.join(root, rel))
        d = os.path.dirname(os.path.join(root, rel))
        if not os.listdir(d):
            os.rmdir(d)
    return want


def check(root=ROOT, repo=None, extras=None):
    """-> list of problems (empty: every generated file is up to date)."""
    want = expected_files(root, repo, extras)
    bad = []
    for rel, text in want.items():
        try:
            with open(os.path.join(root, rel)) as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            bad.append(rel)
    return bad + stale_generated(root, want)


def sizes(mpy_dir, root=ROOT, extras=None):
    """-> [(package, .mpy bytes, files)] for the .mpy files `make mpy` wrote into mpy_dir."""
    out = []
    for name, files in packages(root, extras):
        total = 0
        for f in files:
            p = os.path.join(mpy_dir, f[:-3] + ".mpy")
            total += os.path.getsize(p) if os.path.exists(p) else 0
        out.append((name, total, len(files)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare, do not write")
    ap.add_argument("--repo", help="OWNER/REPO (default: IOTC_REPO in the Makefile)")
    ap.add_argument("--sizes", metavar="MPY_DIR", help="print .mpy bytes per package")
    args = ap.parse_args(argv)
    if args.sizes:
        for name, total, n in sizes(args.sizes):
            print("{:7d}  package {} ({} file{})".format(total, name, n, "" if n == 1 else "s"))
        return 0
    version = library_version()
    names = ", ".join(name for name, _ in packages())
    if args.check:
        bad = check(repo=args.repo)
        if bad:
            print("out of date: {}: run `make package`".format(" ".join(bad)), file=sys.stderr)
            return 1
        print("package files are up to date ({}; version {})".format(names, version))
        return 0
    write(repo=args.repo)
    print("wrote package.json and packages/: {}; version {}, github:{}".format(
        names, version, args.repo or repo_from_makefile()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
