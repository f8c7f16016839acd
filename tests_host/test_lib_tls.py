# TLS trust settings under the unix port (one case dials the emulator).
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_tls"))
def test_tls(case, emulator):
    harness.run("test_lib_tls", case, env=emulator.env())
