# X.509 attestation (IoTCConnectType.X509_CERT) against the emulator's DPS and hub.
import pytest

import harness


@pytest.mark.parametrize("case", harness.cases("test_lib_x509"))
def test_x509(case, emulator):
    harness.run("test_lib_x509", case, env=emulator.env())
