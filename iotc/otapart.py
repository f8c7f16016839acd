# iotc otapart: ESP32 firmware images for iotc-ota, written to the next OTA partition. The
# partitions are the one part of an update that cannot run off a board: Slots is all that
# touches them (esp32.Partition), and a test passes a stand-in with the same few methods.
# MIT license; Copyright (c) 2026 the iotc authors

from micropython import const

_BLOCK = const(4096)  # esp32.Partition's block; writeblocks erases each before writing it


class Slots:
    # The app partitions through esp32.Partition (firmware with OTA partitions: an "OTA" build).
    def __init__(self):
        from esp32 import Partition

        self._p = Partition
        self._t = None

    def running(self):
        return self._p(self._p.RUNNING).info()[4]  # its label: "ota_0", "ota_1"

    def target(self):
        # -> (label, blocks) of the partition the next update goes to
        self._t = t = self._p(self._p.RUNNING).get_next_update()
        return t.info()[4], t.ioctl(4, 0)

    def write(self, block, buf):
        self._t.writeblocks(block, buf)

    def read(self, block, buf):
        self._t.readblocks(block, buf)

    def set_boot(self, label):
        self._p(label).set_boot()

    def mark_valid(self):
        # The bootloader keeps this firmware (with rollback enabled it would go back at the
        # next reset otherwise).
        self._p.mark_app_valid_cancel_rollback()

    def reset(self):
        import machine

        machine.reset()


def write(client, st, slots, buf, progress):
    # A generator (iotc.otaget.get): download the image into the next partition, hashed on the
    # way, read back and hashed again (iotc.otarun then sets it to boot, once the record says
    # so: a reset in between is then a firmware that did not start). Raises ValueError/OSError.
    from iotc.otaget import get, hexdigest

    fw = st["fw"]
    size = fw["size"]
    label, blocks = slots.target()
    if size > blocks * _BLOCK:
        raise ValueError("the image ({} B) is bigger than partition {} ({} B)".format(
            size, label, blocks * _BLOCK))
    st["fw"]["target"] = label
    st["fw"]["old"] = slots.running()
    block = bytearray(_BLOCK)
    at = [0, 0]  # bytes in block, blocks written

    def sink(mv):
        n = len(mv)
        i = 0
        while i < n:
            k = min(n - i, _BLOCK - at[0])
            block[at[0]:at[0] + k] = mv[i:i + k]
            at[0] += k
            i += k
            if at[0] == _BLOCK:
                slots.write(at[1], block)
                at[0] = 0
                at[1] += 1
        progress(n)

    digest = yield from get(client, fw["url"], size, sink, buf)
    if at[0]:
        for i in range(at[0], _BLOCK):
            block[i] = 0xFF  # erased flash
        slots.write(at[1], block)
    if digest != fw["sha256"]:
        raise ValueError("the image's SHA-256 is not the manifest's")
    # What the flash holds now, read back: the hash again.
    import hashlib

    h = hashlib.sha256()
    left = size
    for n in range((size + _BLOCK - 1) // _BLOCK):
        slots.read(n, block)
        h.update(memoryview(block)[:min(left, _BLOCK)])
        left -= _BLOCK
    if hexdigest(h) != fw["sha256"]:
        raise ValueError("partition {} does not read back as written".format(label))


def started(st, slots):
    # At the first boot after set_boot: is the new image the one running?
    slots = slots or Slots()
    return slots.running() == st["fw"].get("target")


def back(st, slots):
    # A boot in trial: the new image never reached the hub. -> True when the board must reset
    # into the old one (a bootloader without rollback is still running the new image).
    slots = slots or Slots()
    fw = st["fw"]
    if slots.running() != fw.get("target"):
        return False  # the bootloader went back by itself
    slots.set_boot(fw["old"])
    return True
