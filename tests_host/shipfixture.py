"""A copy of this repo's shipping files with one more optional package, for the shipping tests.

The EXTRAS table of tools/gen_package.py may be empty (rows are enabled as their modules land),
so the machinery for extras is tested on a test-only extra, `iotc-fixture` (iotc/fixture.py),
in a temporary tree: the core files, the Makefile (for IOTC_REPO), the board manifests and the
generated package files, with the real table's rows plus the fixture's.
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gen_package  # noqa: E402

FIXTURE = gen_package.Extra("iotc-fixture", ("fixture.py",), "a test-only extra", ())
FIXTURE_SRC = '''# iotc-fixture: a test-only extra (tests_host/shipfixture.py)
def hello():
    import iotc

    return "fixture on iotc " + iotc.__version__
'''


def extras():
    return tuple(gen_package.EXTRAS) + (FIXTURE,)


def build(dest, board_extras=("iotc-fixture",)):
    """A tree at dest (a pathlib.Path or str) holding the fixture extra. Board manifests there
    freeze board_extras. -> dest as str."""
    dest = str(dest)
    shutil.copytree(os.path.join(ROOT, "iotc"), os.path.join(dest, "iotc"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(dest, "iotc", "fixture.py"), "w") as f:
        f.write(FIXTURE_SRC)
    for name in ("Makefile", "manifest.py"):
        shutil.copy(os.path.join(ROOT, name), os.path.join(dest, name))
    shutil.copytree(os.path.join(ROOT, "boards"), os.path.join(dest, "boards"))
    for board in os.listdir(os.path.join(dest, "boards")):
        path = os.path.join(dest, "boards", board, "manifest.py")
        with open(path) as f:
            text = f.read()
        assert text.count("\nEXTRAS = ()\n") == 1, path
        text = text.replace("\nEXTRAS = ()\n", "\nEXTRAS = {!r}\n".format(tuple(board_extras)))
        with open(path, "w") as f:
            f.write(text)
    gen_package.write(root=dest, extras=extras())
    return dest
