# The OTA tests' stand-ins for the parts of a board this machine has not (tests_host/test_ota.py):
#  FlashStandin      the flash chip: a file of 4 KB blocks under a real littlefs (vfs.VfsLfs2),
#                    counting blocks programmed and erased; a seeded kill point stops the board
#                    at its Nth program (the test SIGKILLs the process there: a power cut)
#  PartitionStandin  esp32.Partition's app slots (iotc.otapart.Slots' methods), files in a folder,
#                    with the ESP-IDF bootloader's rollback played at each start (bootloader())
#  reset()           machine.reset: on the unix port the reboot is this process ending (exit 3)
#                    and the test starting a new one over the same flash image
# Everything else in these tests is real: littlefs, iotc, TLS, the emulator.
import gc
import json
import os
import sys
import time

BLOCK = 4096
REBOOT = 3  # the exit status that means "reset me"
heap = {"peak": 0, "samples": 0, "on": False}
FLASH = SLOTS = None  # this start's stand-ins (otaboard.py)


def sample():
    # The live heap now (after a collection): the OTA tests' heap figure.
    if heap["on"]:
        gc.collect()
        a = gc.mem_alloc()
        heap["samples"] += 1
        if a > heap["peak"]:
            heap["peak"] = a
            heap["mods"] = " ".join(k for k in sys.modules if k.startswith("iotc"))
        # apart: while the core handles the command (iotc.inbox, iotc.command: any command's
        # cost) and the rest (the download, the switch)
        key = "cmd" if "iotc.command" in sys.modules else "dl"
        if a > heap.get(key, 0):
            heap[key] = a


class FlashStandin:
    def __init__(self, path, blocks, kill_at=0):
        self.blocks = blocks
        self.programs = self.erases = 0
        self.kill_at = kill_at
        try:
            self.f = open(path, "r+b")
        except OSError:
            self.f = open(path, "w+b")
            self.f.write(b"\xff" * (BLOCK * blocks))
            self.f.flush()

    def step(self, n=None, buf=None, off=None):
        # The seeded kill point: the board stops at its Nth program (of the flash, or of the
        # partition stand-in's), before it (even N) or halfway through it (odd N: a torn
        # program of the flash), and waits for the test's SIGKILL.
        self.programs += 1
        if self.kill_at and self.programs == self.kill_at:
            if self.kill_at % 2 and buf is not None:
                self.f.seek(n * BLOCK + (off or 0))
                self.f.write(bytes(buf[:len(buf) // 2]))
                self.f.flush()
            print("KILLPOINT", self.programs)
            while True:  # the test SIGKILLs this process now
                time.sleep(1)

    def readblocks(self, n, buf, off=0):
        sample()
        self.f.seek(n * BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        sample()
        self.step(n, buf, off)
        self.f.seek(n * BLOCK + (off or 0))
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:  # erase
            self.erases += 1
            self.f.seek(arg * BLOCK)
            self.f.write(b"\xff" * BLOCK)
            self.f.flush()
            return 0
        return None


class PartitionStandin:
    # Two app slots, ota_0 and ota_1, and the otadata the bootloader reads, in a folder.
    def __init__(self, folder, blocks=64, rollback=True, step=None):
        self.folder = folder
        self.step = step or (lambda: None)  # the flash stand-in's count of programs
        self.rollback = rollback  # a bootloader built without rollback boots what it is told
        self.nblocks = blocks
        self.t = None
        self.writes = 0
        try:
            with open(folder + "/otadata.json") as f:
                self.data = json.load(f)
        except OSError:
            self.data = {"boot": "ota_0", "running": "ota_0", "state": "valid", "prev": None}
            for label in ("ota_0", "ota_1"):
                with open(folder + "/" + label, "wb") as f:
                    f.write(b"\xff" * (BLOCK * blocks))
            self._save()

    def _save(self):
        self.step()
        with open(self.folder + "/otadata.json.tmp", "w") as f:
            json.dump(self.data, f)
        os.rename(self.folder + "/otadata.json.tmp", self.folder + "/otadata.json")

    def bootloader(self):
        # At each start, as ESP-IDF's bootloader with rollback: a new image boots once as
        # "pending"; a second start while still pending goes back to the previous one.
        d = self.data
        if d["state"] == "new":
            d["state"] = "pending"
        elif d["state"] == "pending" and self.rollback:
            d["boot"], d["state"] = d["prev"], "valid"
        d["running"] = d["boot"]
        self._save()
        return d["running"]

    # iotc.otapart.Slots' methods
    def running(self):
        return self.data["running"]

    def target(self):
        self.t = "ota_1" if self.data["running"] == "ota_0" else "ota_0"
        return self.t, self.nblocks

    def write(self, block, buf):
        self.step()
        self.writes += 1
        with open(self.folder + "/" + self.t, "r+b") as f:
            f.seek(block * BLOCK)
            f.write(buf)

    def read(self, block, buf):
        with open(self.folder + "/" + self.t, "rb") as f:
            f.seek(block * BLOCK)
            f.readinto(buf)

    def set_boot(self, label):
        d = self.data
        if label != d["running"]:
            d["prev"], d["state"] = d["running"], "new"
        d["boot"] = label
        self._save()

    def mark_valid(self):
        self.data["state"] = "valid"
        self._save()

    def reset(self):
        reset()


def reset():
    print("REBOOT", FLASH.programs if FLASH else 0, "IDLE", heap.get("idle"), "PEAK",
          heap["peak"], "SAMPLES", heap["samples"])
    print("PEAKMODS", heap.get("mods"))
    print("PEAKS CMD", heap.get("cmd", 0), "DL", heap.get("dl", 0))
    raise SystemExit(REBOOT)
