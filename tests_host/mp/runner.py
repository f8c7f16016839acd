# Runs one case of a MicroPython test module under the unix port:
#   micropython runner.py MODULE CASE
# A case is a module-level function named test_*; it passes when it returns.
# The last line printed is "PASS CASE" or "FAIL CASE"; the exit code says the same.
# With IOTC_TEST_STACK=N the module is imported and the case run in a thread with an N-byte
# C stack (harness.py's "esp32" platform: a board's recursion limits). "ticks wrapped" is
# printed before when time.ticks_ms() wrapped around during the case (the esp32 platform
# starts them just before the wrap).
import os
import sys
import time

from stack import in_thread


def run(mod_name, case):
    try:
        getattr(__import__(mod_name), case)()
        return True
    except Exception as e:
        sys.print_exception(e)
        return False


def main():
    mod_name, case = sys.argv[1], sys.argv[2]
    stack = int(os.getenv("IOTC_TEST_STACK") or 0)
    t0 = time.ticks_ms()
    if stack:
        ok = in_thread(stack, run, mod_name, case)
    else:
        ok = run(mod_name, case)
    if time.ticks_ms() < t0:
        print("ticks wrapped")
    if not ok:
        print("FAIL", case)
        sys.exit(1)
    print("PASS", case)


main()
