import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# MicroPython-side scripts are run by harness.py under the unix port, not collected by CPython.
collect_ignore_glob = ["mp/*", "mplib/*", "esp32time/*"]
from emufixture import emulator, emulator_factory, emulator_faults_cleared  # noqa: F401
