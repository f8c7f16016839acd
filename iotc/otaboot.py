# iotc otaboot: the boot-time half of iotc-ota. Finishes or undoes an update's switch, and
# rolls back a version that did not reach the hub, before any application file is imported:
#     from iotc.otaboot import boot
#     boot()
# in boot.py (docs/ota.md). The update's record is .ota/state (iotc.otafs); every step below is
# idempotent, so a reset between any two of them is completed or undone at the next boot.
# MIT license; Copyright (c) 2026 the iotc authors

import os

from iotc.otafs import exists, join, load, mkdirs, report, rmtree, save


def switch(root, st):
    # Each file: live -> .ota/old, then staged -> live. A file's states go (live, staged) ->
    # (old, staged) -> (old, live'), so wherever a reset stops this, a second run goes on.
    for e in st["files"]:
        rel = e["path"]
        new, live = join(root, ".ota", "new", rel), join(root, rel)
        old = join(root, ".ota", "old", rel)
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
