"""Fetch a pinned source archive from the package index pip is configured with.

Some MicroPython packages on PyPI (micropython-umqtt.simple, micropython-iotc) ship sdists
without setup.py, so `pip download` cannot take them. This asks the same index pip uses
(PEP 691 JSON), checks the archive's sha256 against the pin, and unpacks only the files named.

    python tools/fetch_sdist.py NAME==VERSION SHA256 DEST [MEMBER ...]

MEMBER is a path inside the archive below its top folder; it is written under DEST as is.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.request


def index_url():
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
    )
    url = os.environ.get("PIP_INDEX_URL") or out.stdout.strip()
    if not url:
        from pip._internal.models.index import PyPI

        url = PyPI.simple_url
    return url.rstrip("/")


def find_archive(name, version):
    norm = name.lower().replace(".", "-").replace("_", "-")
    req = urllib.request.Request(
        "{}/{}/".format(index_url(), norm),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    for f in files:
        if f["filename"].endswith("-{}.tar.gz".format(version)):
            return f["url"]
    raise SystemExit("fetch_sdist: no sdist {}=={} on the index".format(name, version))


def main(argv):
    if len(argv) < 4 or "==" not in argv[1]:
        raise SystemExit(__doc__)
    name, version = argv[1].split("==")
    want, dest, members = argv[2], argv[3], argv[4:]
    with urllib.request.urlopen(find_archive(name, version), timeout=60) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise SystemExit("fetch_sdist: {} sha256 {} != pinned {}".format(name, got, want))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        by_path = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        for path in members or sorted(by_path):
            if path not in by_path:
                raise SystemExit("fetch_sdist: {} has no {}".format(argv[1], path))
            out = os.path.join(dest, path)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(tar.extractfile(by_path[path]).read())
    print("fetch_sdist: {}=={} sha256 ok -> {}".format(name, version, dest))


if __name__ == "__main__":
    main(sys.argv)
