# Runs one case of a MicroPython test module under the unix port:
#   micropython runner.py MODULE CASE
# A case is a module-level function named test_*; it passes when it returns.
# The last line printed is "PASS CASE" or "FAIL CASE"; the exit code says the same.
import sys


def main():
    mod_name, case = sys.argv[1], sys.argv[2]
    mod = __import__(mod_name)
    try:
        getattr(mod, case)()
    except Exception as e:
        sys.print_exception(e)
        print("FAIL", case)
        sys.exit(1)
    print("PASS", case)


main()
