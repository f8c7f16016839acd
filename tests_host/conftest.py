import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

# MicroPython-side scripts are run by harness.py under the unix port, not collected by CPython.
collect_ignore_glob = ["mp/*", "mplib/*", "esp32time/*"]
# emulator (one for the session), emulator_factory, emulator_faults_cleared.
pytest_plugins = ["emufixture"]


def _runs_library_cases(metafunc):
    # A test of the library (test_lib_*.py) that runs MicroPython cases through harness.run.
    names = metafunc.function.__code__.co_names
    return (metafunc.module.__name__.startswith("test_lib_")
            and "harness" in names and "run" in names)


def pytest_generate_tests(metafunc):
    # Each library case once per platform (harness.PLATFORMS): test_faults[esp32-test_x].
    if _runs_library_cases(metafunc):
        metafunc.parametrize("platform", harness.PLATFORMS, indirect=True)


class _Emulators:
    """What a test gets as `emulator`: emufixture's session emulator on the unix platform, and
    one more like it, started when first needed, on esp32 (the library's cases name their
    devices alike on every platform, and an emulator keeps what each device did)."""

    def __init__(self, unix):
        self.running = {"unix": unix}

    def __getattr__(self, name):
        emu = self.running.get(harness.current)
        if emu is None:
            from emufixture import RunningEmulator

            emu = RunningEmulator(tempfile.mkdtemp(prefix="iotc-emu-"))
            self.running[harness.current] = emu
        return getattr(emu, name)


@pytest.fixture(scope="session")
def emulator(emulator):
    both = _Emulators(emulator)
    yield both
    for name, emu in both.running.items():
        if name != "unix":
            emu.stop()
            shutil.rmtree(emu.dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def platform(request):
    """The platform harness.run uses in this test ("unix" unless the test is parametrized)."""
    # harness.current stays set after the test, for emufixture's teardown (faults cleared).
    name = getattr(request, "param", "unix")
    harness.current = name
    harness.used.clear()
    yield name
    if name != "unix" and name not in harness.used:
        pytest.fail("reported for {} but ran no MicroPython case on it".format(name))


_SOAK_LINES = pytest.StashKey()


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long runs of the library (tests_host/test_soak.py; "
                            "IOTC_SOAK=long for the long ones)")


@pytest.fixture
def soak_report(request):
    """soak_report(line): one line of figures, printed at the end of the run ("soak figures")."""
    return request.config.stash.setdefault(_SOAK_LINES, []).append


_RELAY_LINES = pytest.StashKey()


@pytest.fixture
def relay_report(request):
    """relay_report(line): what the relay test saw, printed at the end of the run ("relay")."""
    return request.config.stash.setdefault(_RELAY_LINES, []).append


_SPOOL_LINES = pytest.StashKey()


@pytest.fixture
def spool_report(request):
    """spool_report(line): iotc-spool's counts and figures, printed at the end ("spool")."""
    return request.config.stash.setdefault(_SPOOL_LINES, []).append


def pytest_terminal_summary(terminalreporter, config):
    if harness.wraps:
        terminalreporter.write_line("esp32 platform: {} of {} cases crossed a ticks wrap".format(
            sum(harness.wraps), len(harness.wraps)))
    lines = config.stash.get(_SOAK_LINES, [])
    if lines:
        terminalreporter.section("soak figures")
        for line in lines:
            terminalreporter.write_line(line)
    lines = config.stash.get(_RELAY_LINES, [])
    if lines:
        terminalreporter.section("relay")
        for line in lines:
            terminalreporter.write_line(line)
    lines = config.stash.get(_SPOOL_LINES, [])
    if lines:
        terminalreporter.section("spool")
        for line in lines:
            terminalreporter.write_line(line)
