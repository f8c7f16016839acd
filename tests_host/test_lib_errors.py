# Bad input, TLS verification, and what the library prints.
import os
import re

import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_errors"))
def test_errors(case, emulator):
    harness.run("test_lib_errors", case, env=emulator.env())


def test_no_secret_is_ever_printed(emulator):
    import base64
    import hashlib
    import hmac

    out = harness.run("test_lib_secrets", "test_verbose_run_prints_no_secret",
                      env=emulator.env())
    assert "provisioning sec-good" in out and "connecting to" in out  # it did log, verbosely
    group = emulator.info["group_key"]
    device = base64.b64encode(hmac.new(base64.b64decode(group), b"sec-good",
                                       hashlib.sha256).digest()).decode()
    for secret in (group, device, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygp"):
        assert secret not in out
        assert secret[:16] not in out
    assert "SharedAccessSignature" not in out
    assert not re.search(r"sig=", out)


def test_client_prints_its_own_lines_without_a_logger(emulator):
    out = harness.run("test_lib_secrets", "test_default_logging_and_disabled",
                      env=emulator.env())
    before, after = out.split("-- disabled from here --")
    assert "[iotc] provisioning log-default" in before
    assert "[iotc] connecting to" in before
    assert "[iotc]" not in after


def test_library_never_exits_the_interpreter():
    root = os.path.join(harness.ROOT, "iotc")
    for name in sorted(os.listdir(root)):
        if name.endswith(".py"):
            with open(os.path.join(root, name)) as f:
                text = f.read()
            assert "sys.exit" not in text and "import upip" not in text, name
