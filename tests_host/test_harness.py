import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_harness_selfcheck"))
def test_unix_port(case):
    harness.run("test_harness_selfcheck", case)


def test_failing_case_is_reported(tmp_path):
    # The harness must not pass a script that raises: a broken case has to fail pytest.
    p = harness.run_script(["-c", "import runner"], env={})
    assert p.returncode != 0
    with pytest.raises(AssertionError):
        harness.run("test_harness_selfcheck", "test_no_such_case")
