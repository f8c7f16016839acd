# Pure library functions (SAS, topics, payloads), run under the MicroPython unix port.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_sas"))
def test_sas(case):
    harness.run("test_lib_sas", case)


@pytest.mark.parametrize("case", harness.cases("test_lib_proto"))
def test_proto(case):
    harness.run("test_lib_proto", case)
