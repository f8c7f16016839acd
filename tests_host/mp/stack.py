# A thread with a board-sized C stack, for the test runner's esp32 platform and for cases that
# need a board's recursion limits (json.dumps of a deep value) whatever the platform.
import micropython

# The unix port trips a thread's stack check this many bytes before the end of its stack
# (ports/unix/mpthreadport.c, THREAD_STACK_OVERFLOW_MARGIN).
_UNIX_MARGIN = 8192


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
