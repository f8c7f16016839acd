# TLS trust settings under the unix port (no network).
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_tls"))
def test_tls(case):
    harness.run("test_lib_tls", case)
