# One start of the OTA tests' board (tests_host/test_ota.py), on the unix port:
#   micropython otaboard.py FOLDER [init]
# FOLDER holds flash.img (the flash stand-in), the partition stand-in's files and board.json:
# {"blocks": n, "kill_at": n, "firmware": bool}. init: format the flash and copy FOLDER/src/*
# onto it. Else: the bootloader stand-in, boot.py's lines, then main.py from the flash.
import json
import os
import sys

import vfs

import otastandin

folder = sys.argv[1]
with open(folder + "/board.json") as f:
    board = json.load(f)
flash = otastandin.FlashStandin(folder + "/flash.img", board.get("blocks", 64),
                                board.get("kill_at", 0))
if sys.argv[2:] == ["init"]:
    vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), "/flash")
    for name in os.listdir(folder + "/src"):
        with open(folder + "/src/" + name, "rb") as f, open("/flash/" + name, "wb") as g:
            g.write(f.read())
    print("INIT", os.listdir("/flash"))
    sys.exit(0)

vfs.mount(vfs.VfsLfs2(flash), "/flash")
slots = None
if board.get("firmware"):
    slots = otastandin.PartitionStandin(folder, rollback=board.get("rollback", True),
                                        step=flash.step)
    print("FIRMWARE", slots.bootloader())
otastandin.SLOTS, otastandin.FLASH = slots, flash

# boot.py's lines (docs/ota.md)
from iotc.otaboot import boot  # noqa: E402

print("BOOT", boot("/flash", slots))

sys.path.insert(0, "/flash")
import main  # noqa: E402,F401  the application, from the flash
