"""Write package.json (the mip package description) from the files in iotc/.

mip has no globbing, so package.json lists every library file; this script derives that list
from the tree, so adding a module is: create it, run `make package`, commit both.

The GitHub slug (OWNER/REPO) lives in ONE place, the IOTC_REPO line of the Makefile.
A fork edits that line (or runs `make package IOTC_REPO=me/my-fork`) and regenerates.

  python tools/gen_package.py            write package.json
  python tools/gen_package.py --check    exit 1 if package.json is not what would be written
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "iotc"
# Installed on top of iotc by mip from the MicroPython package index (as .mpy for the device).
DEPS = (("umqtt.simple", "latest"),)


def repo_from_makefile(root=ROOT):
    with open(os.path.join(root, "Makefile")) as f:
        m = re.search(r"^IOTC_REPO\s*[:?]?=\s*(\S+)\s*$", f.read(), re.M)
    if not m:
        raise SystemExit("Makefile has no IOTC_REPO line")
    return m.group(1)


def library_files(root=ROOT):
    """Every .py file of the package, as POSIX paths relative to the repo root, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, PACKAGE)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def library_version(root=ROOT):
    with open(os.path.join(root, PACKAGE, "__init__.py")) as f:
        m = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", f.read(), re.M)
    if not m:
        raise SystemExit("iotc/__init__.py defines no __version__")
    return m.group(1)


def manifest_version(root=ROOT):
    with open(os.path.join(root, "manifest.py")) as f:
        m = re.search(r"^metadata\(.*?version=[\"']([^\"']+)[\"']", f.read(), re.M | re.S)
    return m.group(1) if m else None


def render(repo, files, version):
    # One entry per line: diffs stay readable when a module is added.
    lines = ["{", '  "urls": [']
    for i, path in enumerate(files):
        sep = "," if i < len(files) - 1 else ""
        lines.append('    ["{0}", "github:{1}/{0}"]{2}'.format(path, repo, sep))
    lines.append("  ],")
    lines.append('  "deps": [')
    for i, (name, ver) in enumerate(DEPS):
        sep = "," if i < len(DEPS) - 1 else ""
        lines.append('    ["{}", "{}"]{}'.format(name, ver, sep))
    lines.append("  ],")
    lines.append('  "version": "{}"'.format(version))
    lines.append("}")
    return "\n".join(lines) + "\n"


def expected(root=ROOT, repo=None):
    return render(repo or repo_from_makefile(root), library_files(root), library_version(root))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare, do not write")
    ap.add_argument("--repo", help="OWNER/REPO (default: IOTC_REPO in the Makefile)")
    args = ap.parse_args(argv)
    text = expected(repo=args.repo)
    path = os.path.join(ROOT, "package.json")
    version = library_version()
    mversion = manifest_version()
    if mversion != version:
        print("manifest.py metadata version {!r} != iotc.__version__ {!r}: fix manifest.py".format(
            mversion, version), file=sys.stderr)
        return 1
    if args.check:
        try:
            with open(path) as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            print("package.json is out of date: run `make package`", file=sys.stderr)
            return 1
        print("package.json is up to date ({} files, version {})".format(
            len(library_files()), version))
        return 0
    with open(path, "w") as f:
        f.write(text)
    print("wrote package.json: {} files, version {}, github:{}".format(
        len(library_files()), version, args.repo or repo_from_makefile()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
