# iotc otafs: the update's record and the filesystem helpers of iotc-ota: .ota/state, one
# small JSON file replaced by write-temp-then-rename, and the folders .ota/new (staged) and
# .ota/old (replaced). Phases of .ota/state (docs/ota.md):
#  get    a manifest was accepted; files are downloading into .ota/new
#  apply  all staged and verified: the next boot switches them in (or a firmware is set to boot)
#  trial  switched: the new version runs until it reaches the hub (good) or the board restarts
#  good   it reached the hub: the old files go
#  report the outcome, kept until the Updater has reported it to the hub
# MIT license; Copyright (c) 2026 the iotc authors

import json
import os


def join(root, *parts):
    return "/".join((root.rstrip("/"),) + parts) if root else "/".join(parts)


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def load(root):
    # -> the state, or None. On FAT a rename cannot replace a file: save() removes the old
    # state first, so a state.tmp alone is the whole new state.
    p = join(root, ".ota", "state")
    for q in (p, p + ".tmp"):
        try:
            with open(q) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    return None


def save(root, st):
    p = join(root, ".ota", "state")
    with open(p + ".tmp", "w") as f:
        json.dump(st, f)
    try:
        os.rename(p + ".tmp", p)  # littlefs, and the unix port: atomic, replacing the old one
    except OSError:
        os.remove(p)  # FAT: no rename over a file
        os.rename(p + ".tmp", p)


def drop(root):
    for q in ("state", "state.tmp"):
        try:
            os.remove(join(root, ".ota", q))
        except OSError:
            pass


def mkdirs(p):
    # The folders above file p.
    i = p.find("/", 1)
    while i > 0:
        try:
            os.mkdir(p[:i])
        except OSError:
            pass
        i = p.find("/", i + 1)


def rmtree(p):
    try:
        names = [(e[0], e[1]) for e in os.ilistdir(p)]
    except OSError:
        return
    for name, kind in names:
        q = p + "/" + name
        if kind == 0x4000:
            rmtree(q)
        else:
            os.remove(q)
    os.rmdir(p)


def report(root, st, state, reason=None):
    # -> the outcome's state: kept until the Updater has sent it, then removed.
    status = {"state": state, "version": st.get("version")}
    if reason:
        status["reason"] = reason
    out = {"phase": "report", "status": status}
    # The leftovers first: until the outcome is saved, a reset comes back here.
    rmtree(join(root, ".ota", "new"))
    rmtree(join(root, ".ota", "old"))
    save(root, out)
    return out
