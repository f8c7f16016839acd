# iotc otacmd: the iotcUpdate command of iotc-ota: the manifest checked (nothing is touched
# when it is refused), the update's state written, the download begun. Loaded for a command.
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

from iotc.otafs import exists, join, load, mkdirs, rmtree, save

_MAX_FILES = const(32)


def run(up, command, ack):
    try:
        st = check(up, command.value)
    except ValueError as e:
        return ack and ack(command, {"error": str(e)}, 400)
    root = up.root
    old = load(root)
    if up._job or old and old.get("phase") != "report":
        return ack and ack(command, {"error": "an update is under way"}, 409)
    try:
        rmtree(join(root, ".ota", "new"))
        rmtree(join(root, ".ota", "old"))
        mkdirs(join(root, ".ota", "new", "x"))
        for e in st.get("files", ()):
            if not exists(join(root, e["path"])):
                st["new"].append(e["path"])
        save(root, st)
    except OSError as e:
        return ack and ack(command, {"error": "cannot stage the update: {}".format(e)}, 500)
    up._state = st
    up._job = True  # iotc.otarun makes it a generator at the first tick
    up._pending = up._trial = False
    if ack:
        ack(command, {"accepted": st["version"]}, 202)
    up.report("downloading", st["version"], 0)


def check(up, m):
    # -> the state of a new update from manifest m; ValueError with the reason.
    if isinstance(m, str):
        import json

        m = json.loads(m)
    if not isinstance(m, dict):
        raise ValueError("the manifest is a JSON object")
    v = m.get("version")
    if not isinstance(v, str) or not v:
        raise ValueError("the manifest has no version (a string)")
    files, fw = m.get("files"), m.get("firmware")
    if (files is None) == (fw is None):
        raise ValueError("the manifest has files or a firmware, one of the two")
    if fw is not None:
        return {"phase": "get", "version": v, "old": up.version, "fw": _entry(up, fw, False)}
    if not isinstance(files, list) or not files or len(files) > _MAX_FILES:
        raise ValueError("files: a list of 1 to {} entries".format(_MAX_FILES))
    out = []
    seen = set()
    for e in files:
        e = _entry(up, e, True)
        if e["path"] in seen:
            raise ValueError("{} is twice in the manifest".format(e["path"]))
        seen.add(e["path"])
        out.append(e)
    return {"phase": "get", "version": v, "old": up.version, "files": out, "new": []}


def _entry(up, e, is_file):
    if not isinstance(e, dict):
        raise ValueError("each entry is a JSON object")
    url, size, sha = e.get("url"), e.get("size"), e.get("sha256")
    host, port = split(url)
    if host not in up.hosts and "{}:{}".format(host, port) not in up.hosts:
        raise ValueError("{} is not an allowed host".format(host))
    if not isinstance(size, int) or size < 0:
        raise ValueError("{}: size is a number of bytes".format(url))
    if not isinstance(sha, str) or len(sha) != 64 or sha.strip("0123456789abcdefABCDEF"):
        raise ValueError("{}: sha256 is 64 hex digits".format(url))
    out = {"url": url, "size": size, "sha256": sha.lower()}
    if is_file:
        p = e.get("path")
        if (not isinstance(p, str) or not p or p[0] == "/" or p[-1] == "/" or "\\" in p
                or ".." in p.split("/") or p.split("/")[0] == ".ota" or "//" in p):
            raise ValueError("path {!r}: a file's path under the root".format(p))
        out["path"] = p
    return out


def split(url):
    # "https://host[:port]/path" -> (host, port); ValueError for anything else.
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError("not an https:// URL: {}".format(url))
    hp = url[8:].partition("/")[0]
    host, _, port = hp.partition(":")
    if not host or "@" in hp or " " in url or (port and not port.isdigit()):
        raise ValueError("not a URL this client reads: {}".format(url))
    return host.lower(), int(port or 443)
