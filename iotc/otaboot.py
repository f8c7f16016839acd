# iotc otaboot: the boot-time half of iotc-ota. Finishes or undoes an update's switch, and
# rolls back a version that did not reach the hub, before any application file is imported:
#     from iotc.otaboot import boot
#     boot()
# in boot.py (docs/ota.md). The update's state is one small JSON file, .ota/state, replaced by
# write-temp-then-rename; every step below is idempotent, so a reset between any two of them
# is completed or undone at the next boot.
# MIT license; Copyright (c) 2026 the iotc authors

import json
import os

# phases of .ota/state (docs/ota.md):
#  get    a manifest was accepted; files are downloading into .ota/new
#  apply  all staged and verified: the next boot switches them in (or a firmware is set to boot)
#  trial  switched: the new version runs until it reaches the hub (good) or the board restarts
#  good   it reached the hub: the old files go
#  report the outcome, kept until the Updater has reported it to the hub


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


def switch(root, st):
    # Each file: live -> .ota/old, then staged -> live. A file's states go (live, staged) ->
    # (old, staged) -> (old, live'), so wherever a reset stops this, a second run goes on.
    for e in st["files"]:
        rel = e["path"]
        new, live, old = join(root, ".ota", "new", rel), join(root, rel), join(root, ".ota", "old", rel)
        if not exists(new):
            continue
        if exists(live) and not exists(old) and rel not in st["new"]:
            mkdirs(old)
            os.rename(live, old)
        if exists(live):
            os.remove(live)
        mkdirs(live)
        os.rename(new, live)


def undo(root, st):
    # The old files back, files the update added removed; again file by file, idempotent.
    for e in st.get("files", ()):
        rel = e["path"]
        live, old = join(root, rel), join(root, ".ota", "old", rel)
        if exists(old):
            if exists(live):
                os.remove(live)
            os.rename(old, live)
        elif rel in st.get("new", ()) and exists(live):
            os.remove(live)


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


def boot(root="/", slots=None):
    # -> the phase the update is in after this boot (None: no update). slots: the firmware
    # partitions (iotc.otapart.Slots; a stand-in in tests).
    st = load(root)
    if st is None:  # no update; what a reset left of one that had not begun goes
        rmtree(join(root, ".ota"))
        return None
    phase = st.get("phase")
    fw = st.get("fw")
    try:
        if phase == "get":
            st = report(root, st, "failed", "restarted during the download")
        elif phase == "apply":
            if fw:
                from iotc.otapart import started

                if not started(st, slots):
                    st = report(root, st, "failed", "the new firmware did not start")
                    return "report"
            else:
                switch(root, st)
            st["phase"] = "trial"
            save(root, st)
        elif phase == "trial":  # a restart before the new version reached the hub
            why = st.get("why") or "version {} restarted before it reached the hub".format(
                st.get("version"))
            if fw:
                from iotc.otapart import back

                again = back(st, slots)  # the bootloader went back, or the old is set to boot
                st = report(root, st, "rolled back", why)
                if again:
                    slots.reset()  # into the old firmware, which reports it
            else:
                undo(root, st)
                st = report(root, st, "rolled back", why)
        elif phase == "good":
            st = report(root, st, "done")
    except OSError as e:  # a filesystem that refuses: the old files, whatever can be had
        try:
            undo(root, st)
        except OSError:
            pass
        st = report(root, st, "failed", "at boot: {}".format(e))
    return st["phase"]
