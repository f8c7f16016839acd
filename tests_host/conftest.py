import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# MicroPython-side scripts are run by harness.py under the unix port, not collected by CPython.
collect_ignore_glob = ["mp/*", "mplib/*"]
from emufixture import emulator, emulator_factory, emulator_faults_cleared  # noqa: F401

_SOAK_LINES = pytest.StashKey()


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long runs of the library (tests_host/test_soak.py; "
                            "IOTC_SOAK=long for the long ones)")


@pytest.fixture
def soak_report(request):
    """soak_report(line): one line of figures, printed at the end of the run ("soak figures")."""
    return request.config.stash.setdefault(_SOAK_LINES, []).append


def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash.get(_SOAK_LINES, [])
    if lines:
        terminalreporter.section("soak figures")
        for line in lines:
            terminalreporter.write_line(line)
