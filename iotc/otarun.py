# iotc otarun: an update of iotc-ota under way: the download (a generator that the Updater
# advances a few pieces each listen() call), its failure, the reboot into the new version; and
# after that reboot, the new version kept (the first connection) or sent back (the time limit).
# Loaded while there is such work, and freed after.
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

from iotc.otafs import drop, join, load, mkdirs, report, save

_BUF = const(1024)  # one piece of a download


def steps(up):
    st = up._state
    root = up.root
    buf = bytearray(_BUF)
    total = st["fw"]["size"] if st.get("fw") else sum(e["size"] for e in st["files"])
    prog = [0, 25, total]  # bytes done, next percent to report, total

    def progress(n):
        prog[0] += n
        pct = prog[0] * 100 // (prog[2] or 1)
        if pct >= prog[1] and pct < 100:
            up.report("downloading", st["version"], pct)
            prog[1] = pct - pct % 25 + 25

    if st.get("fw"):
        from iotc.otapart import Slots, write

        up.slots = up.slots or Slots()
        yield from write(up.client, st, up.slots, buf, progress)
    else:
        from iotc.otaget import get

        for e in st["files"]:
            p = join(root, ".ota", "new", e["path"])
            mkdirs(p)
            with open(p, "wb") as f:
                digest = yield from get(up.client, e["url"], e["size"],
                                        lambda mv: (f.write(mv), progress(len(mv))), buf)
            if digest != e["sha256"]:
                raise ValueError("{}: its SHA-256 is not the manifest's".format(e["url"]))
    up.report("verifying", st["version"], 100)
    st["phase"] = "apply"
    save(root, st)
    if st.get("fw"):
        up.slots.set_boot(st["fw"]["target"])
    up.report("applying", st["version"], 100)


def run(up, pieces):
    # Advance the download by pieces (-1: to its end). Its end: the reboot; a failure: the
    # board goes on as it was, and says why.
    job = up._job
    if job is True:  # just accepted (iotc.otacmd)
        job = up._job = steps(up)
    try:
        while pieces:
            next(job)
            pieces -= 1
    except StopIteration:
        up._job = None
        up.reboot()
    except Exception as e:  # OSError, ValueError, MemoryError
        up._job = None
        job.close()
        reason = "filesystem full" if isinstance(e, OSError) and e.args[:1] == (28,) \
            else str(e) or repr(e)
        try:
            up._state = report(up.root, up._state, "failed", reason)
        except OSError:
            pass
        up._pending = True
        outcome(up)


def expire(up):
    # The new version did not reach the hub in time: noted, and the reboot rolls it back.
    st = load(up.root)
    if st and st.get("phase") == "trial":
        st["why"] = "version {} did not reach the hub within {} s".format(
            st.get("version"), up.trial_ms // 1000)
        save(up.root, st)
        up.reboot()


def connected(up):
    # The first connection after an update: a version on trial is kept; an outcome is sent.
    root = up.root
    st = load(root)
    if st is not None and st.get("phase") == "trial":
        if st.get("fw"):
            from iotc.otapart import Slots

            (up.slots or Slots()).mark_valid()
        st["phase"] = "good"
        save(root, st)
        st = report(root, st, "done")
    up._trial = False
    up._state = st
    outcome(up)


def outcome(up):
    # Report the outcome kept in .ota/state; forgotten once the link has it.
    st = up._state
    if st is None or st.get("phase") != "report":
        up._pending = False
        return
    s = st["status"]
    if up.report(s["state"], s.get("version"), None, s.get("reason")):
        drop(up.root)
        up._pending = False
