# Tests: a stand-in for a board's flash chip (the one boundary here that cannot be real), under
# a real littlefs (vfs.VfsLfs2, as ESP32 and ESP8266 firmware mount it): a block device backed
# by a file, so that what was programmed survives a killed process as flash survives a reset.
# It counts what a chip would wear: bytes programmed and blocks erased.
#
# A power cut at the Nth write (IOTC_FLASH_CUT=N, IOTC_FLASH_SEED=S): that write (a program or
# an erase) lands only in part, a seeded number of bytes, as when power fails mid-operation;
# then "POWERCUT" is printed and the process waits for the host to kill it (nothing after the
# cut may reach the chip). Writes are plain file writes (the unix port's files are unbuffered).
import os

BLOCK = 4096  # an ESP32/ESP8266 flash sector, littlefs's block there


class FlashChip:
    def __init__(self, path, blocks=64, cut=0, seed=0):
        self.blocks = blocks
        self.programmed = self.erased = self.writes = 0
        self.cut = cut
        self.seed = seed
        # An erase writes this 16 times: a chip erases in its own logic, so the stand-in must
        # not take a 4 KB block of the heap it is measured in at each erase.
        self.blank = b"\xff" * 256
        try:
            self.f = open(path, "r+b")
        except OSError:
            with open(path, "wb") as f:
                blank = b"\xff" * BLOCK
                for _ in range(blocks):
                    f.write(blank)
            self.f = open(path, "r+b")

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * BLOCK + off)
        self.f.readinto(buf)

    def _part(self, n):
        # The seeded part of an n-unit operation that lands when the power fails during it.
        return (self.seed * 2654435761 + 12345) % (n + 1)

    def _dead(self, what, landed, of):
        print("POWERCUT write", self.writes, what, "landed", landed, "of", of)
        import time

        while True:  # power is off: nothing more reaches the chip; the host kills us
            time.sleep(1)

    def _put(self, at, data):
        self.writes += 1
        self.f.seek(at)
        if self.writes == self.cut:
            part = self._part(len(data))
            self.f.write(memoryview(data)[:part])
            self._dead("program", part, len(data))
        self.f.write(data)

    def writeblocks(self, n, buf, off=None):
        if off is None:  # the simple interface: erase, then program
            self.ioctl(6, n)
            off = 0
        self.programmed += len(buf)
        self._put(n * BLOCK + off, buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return BLOCK
        if op == 6:  # erase, in 256 B pieces
            self.erased += 1
            self.writes += 1
            pieces = BLOCK // 256
            if self.writes == self.cut:
                pieces = self._part(pieces)
            self.f.seek(arg * BLOCK)
            for _ in range(pieces):
                self.f.write(self.blank)
            if self.writes == self.cut:
                self._dead("erase", pieces * 256, BLOCK)
            return 0
        return None if op not in (1, 2, 3) else 0


def mount(path, blocks=64, where="/flash"):
    # -> the chip, its littlefs mounted at `where` (made on first use, as a board's first boot).
    import vfs

    chip = FlashChip(path, blocks, int(os.getenv("IOTC_FLASH_CUT") or 0),
                     int(os.getenv("IOTC_FLASH_SEED") or 0))
    try:
        fs = vfs.VfsLfs2(chip)
    except OSError:
        vfs.VfsLfs2.mkfs(chip)
        fs = vfs.VfsLfs2(chip)
    vfs.mount(fs, where)
    return chip
