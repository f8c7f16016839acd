# iotc tests: make fwcheck up to the build
# MIT license; Copyright (c) 2026 the iotc authors
"""`make fwcheck` (tools/fwcheck.py) up to the build: what it extracts, what it refuses, and the
pytest plugin that makes the emulator hand out a host name. The build and the test run on a
MicroPython tag need a MicroPython tree and minutes: README's Development section gives the
command and each generation's result."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import fwcheck  # noqa: E402


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", "-C", str(repo)] + list(args), check=True, env=env,
                          capture_output=True, text=True).stdout.strip()


def repo(path, files):
    os.makedirs(str(path))
    git(path, "init", "-q")
    for name, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(str(path), name)), exist_ok=True)
        with open(os.path.join(str(path), name), "w") as f:
            f.write(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "files")
    return git(path, "rev-parse", "HEAD")


@pytest.fixture
def trees(tmp_path):
    # A stand-in MicroPython tree: a tag pinning lib/mbedtls at a commit of another repository
    # (a gitlink, as a submodule is), and no lib/micropython-lib at that tag.
    tls = repo(tmp_path / "mbedtls", {"include/mbedtls/ssl.h": "h", "library/ssl.c": "c",
                                     "tests/big.data": "not read by the build"})
    mp = tmp_path / "micropython"
    repo(mp, {"ports/unix/Makefile": "all:\n", "lib/berkeley-db-1.xx/README": "in tree"})
    git(mp, "update-index", "--add", "--cacheinfo", "160000,{},lib/mbedtls".format(tls))
    git(mp, "commit", "-q", "-m", "pin mbedtls")
    git(mp, "tag", "v9.0.0")
    git(mp, "rm", "-q", "--cached", "lib/mbedtls")
    git(mp, "commit", "-q", "-m", "later")  # the tag, not the tip, is what is built
    return tmp_path, tls


def args(tmp_path, **kw):
    a = dict(micropy_dir=str(tmp_path / "micropython"), tag="v9.0.0", mbedtls_dir=None,
             micropy_lib_dir=None, berkeley_db_dir=None)
    a.update(kw)
    return type("Args", (), a)


def test_prepare_extracts_the_tag_and_the_pinned_submodule(trees):
    tmp_path, _ = trees
    tree = str(tmp_path / "build" / "v9.0.0" / "micropython")
    fwcheck.prepare(args(tmp_path, mbedtls_dir=str(tmp_path / "mbedtls")), tree)
    got = sorted(os.path.relpath(os.path.join(d, f), tree)
                 for d, _, fs in os.walk(tree) for f in fs)
    assert got == [".extracted", "lib/berkeley-db-1.xx/README",
                   "lib/mbedtls/include/mbedtls/ssl.h", "lib/mbedtls/library/ssl.c",
                   "ports/unix/Makefile"]
    assert git(tmp_path / "micropython", "status", "--porcelain") == ""  # only read


def test_prepare_names_the_variable_when_a_pinned_commit_is_missing(trees):
    tmp_path, tls = trees
    with pytest.raises(fwcheck.Stop) as e:
        fwcheck.prepare(args(tmp_path), str(tmp_path / "build" / "x"))  # the tree's own lib/
    assert tls in str(e.value) and "MBEDTLS_DIR" in str(e.value)
    with pytest.raises(fwcheck.Stop) as e:
        fwcheck.prepare(args(tmp_path, tag="v0.1"), str(tmp_path / "build" / "y"))
    assert "no tag v0.1" in str(e.value)
    assert not os.path.exists(str(tmp_path / "build"))


def test_make_fwcheck_says_what_it_needs():
    p = subprocess.run(["make", "fwcheck", "MICROPY_DIR="], cwd=ROOT, capture_output=True,
                       text=True)
    assert p.returncode == 2
    assert "set MICROPY_DIR" in p.stdout and "TAG" in p.stdout


def test_plugin_has_the_emulator_hand_out_a_host_name(monkeypatch, emulator_factory):
    import emufixture

    # Restored after the test: the plugin patches the class for a whole pytest run.
    monkeypatch.setattr(emufixture.RunningEmulator, "__init__",
                        emufixture.RunningEmulator.__init__)
    monkeypatch.setenv("IOTC_FWCHECK_NAME", "localhost")
    fwcheck.pytest_configure(None)
    info = emulator_factory().info
    assert info["dps"].startswith("localhost:") and info["hub_name"].startswith("localhost")
