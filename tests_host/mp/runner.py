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

import micropython

# The unix port trips a thread's stack check this many bytes before the end of its stack
# (ports/unix/mpthreadport.c, THREAD_STACK_OVERFLOW_MARGIN).
_UNIX_MARGIN = 8192


def run(mod_name, case):
    try:
        getattr(__import__(mod_name), case)()
        return True
    except Exception as e:
        sys.print_exception(e)
        return False


def _below(limit):
    # Recurse until `limit` bytes of C stack are in use; RuntimeError if the check trips first.
    if micropython.stack_use() < limit:
        _below(limit)


def _check_trips(limit):
    try:
        _below(limit)
    except RuntimeError:
        return True
    return False


def in_thread(stack, f, *args):
    import _thread

    done = _thread.allocate_lock()
    result = []

    def body():
        try:
            # The port subtracts its margin from the new thread's stack size only after
            # pthread_create() returns, so now and then a thread starts before that and checks
            # its stack against the whole size, overflowing it where it should raise
            # RuntimeError. Such a thread is found here, before the case, and another started.
            if _check_trips(stack - _UNIX_MARGIN + 1024):
                result.append(f(*args))
        finally:
            done.release()

    _thread.stack_size(stack)
    for _ in range(10):
        done.acquire()
        _thread.start_new_thread(body, ())
        done.acquire()
        done.release()
        if result:
            return result[0]
    print("no thread with a working stack check in 10 tries")
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
