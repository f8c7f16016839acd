# The device side of the seeded crash tests (tests_host/test_spool_crash.py): one life of a
# board between two resets, on the flash chip stand-in's image. The host kills it (SIGKILL) at
# a seeded moment, or the stand-in cuts the power at a seeded write (IOTC_FLASH_CUT).
#   IOTC_CRASH_MODE  store: offline, store IOTC_CRASH_COUNT messages from IOTC_CRASH_FROM
#                    replay: online, replay (and store new ones while stored ones remain)
#                    drain: online, replay all, then print the counts (never killed)
# Lines for the host: "W n" before a send, "S n" once it returned stored, "READY", "DONE".
import os
import sys
import time

import flashchip
from libutil import client

from iotc import FileStorage


def main():
    env = os.getenv
    mode = env("IOTC_CRASH_MODE")
    dev = env("IOTC_CRASH_DEV")
    n = int(env("IOTC_CRASH_FROM") or 0)
    try:
        chip = flashchip.mount(env("IOTC_CRASH_IMG"))
        from iotc.spool import Spool

        c = client(dev, qos=int(env("IOTC_CRASH_QOS") or 1),
                   storage=FileStorage(env("IOTC_CRASH_IMG") + ".json"))
        c.RETRY_MS = 20
        # Never full here (a full store drops by design; tests_host/test_lib_spool.py has it).
        sp = Spool(c, "/flash/spool", max_bytes=160 * 1024, max_files=10, rate=100)
    except Exception as e:  # the store could not be opened: a corrupt store
        sys.print_exception(e)
        print("CORRUPT", repr(e))
        sys.exit(3)
    print("OPENED torn", sp.torn, "at", sp._cs, sp._co)
    c.connect()
    if mode == "store":
        c.disconnect()
        print("READY")
        for i in range(n, n + int(env("IOTC_CRASH_COUNT"))):
            print("W", i)
            c.send_telemetry({"n": i, "pad": "x" * (i * 7 % 40)})
            print("S", i)
    else:
        print("READY")
        k = 0
        while sp.pending() or sp._sent or c._inflight:
            c.listen()
            time.sleep_ms(2)
            k += 1
            if mode == "replay" and k % 10 == 0 and sp.pending():
                # A new message while stored ones remain: it joins the store (the order).
                print("W", n)
                before = sp.stored
                c.send_telemetry({"n": n, "pad": "y" * (n * 7 % 40)})
                print("S" if sp.stored > before else "X", n)
                n += 1
        c.disconnect()
    print("DONE stored", sp.stored, "replayed", sp.replayed, "torn", sp.torn,
          "programmed", chip.programmed, "erased", chip.erased, "written", sp.written)


main()
