# Bad input gets a clear error; TLS is verified unless the caller opts out.
import os

from iotc import IoTCClient, IoTCConnectType, IoTCError
from libutil import client, device, eq, telemetry, wait

GOOD_KEY = "r0mxLzPr9gg5DfsaxVhOwKK2+8jEHNclmCeb9iACAyb2A7yHPDrB2/+PTmwnTAetvI6oQkwarWHxYbkIVLybEg=="


def _refused(words, *args, **kw):
    try:
        IoTCClient(*args, **kw)
    except IoTCError as e:
        if words not in str(e):
            raise AssertionError(e)
        return
    raise AssertionError("accepted {!r}".format(args))


def test_bad_key():
    _refused("base64", "0ne00", "dev1", IoTCConnectType.SYMM_KEY, "not-a-key!")
    _refused("base64", "0ne00", "dev1", IoTCConnectType.DEVICE_KEY, "c2hvcnQ=")


def test_empty_scope():
    _refused("id_scope", "", "dev1", IoTCConnectType.SYMM_KEY, GOOD_KEY)


def test_device_ids_the_hub_rejects():
    for bad in ("", "has space", "slash/id", "-lead", "trail.", "x" * 129, "caf\u00e9"):
        _refused("device_id", "0ne00", bad, IoTCConnectType.SYMM_KEY, GOOD_KEY)
    IoTCClient("0ne00", "Dev-1.a_b:c", IoTCConnectType.SYMM_KEY, GOOD_KEY)


def test_bad_qos_and_type():
    _refused("qos", "0ne00", "dev1", IoTCConnectType.SYMM_KEY, GOOD_KEY, qos=2)
    _refused("credentials_type", "0ne00", "dev1", 7, GOOD_KEY)


def test_server_certificate_checked_against_azure_roots_by_default():
    # The emulator's certificate is not signed by an Azure root: refused, never used.
    c = client("err-tls", ca_file=None)
    try:
        c.connect()
    except IoTCError as e:
        if "TLS" not in str(e) or "not trusted" not in str(e):
            raise AssertionError(e)
    else:
        raise AssertionError("connected to a server no Azure root vouches for")
    eq(c.is_connected(True), False)


def test_hub_certificate_checked_too():
    # A cached assignment skips DPS, so this reaches the hub's TLS; the error names the host.
    from iotc import Credentials, MemoryStorage

    hub = os.getenv("IOTC_EMU_HUB_NAME")
    store = MemoryStorage()
    store.persist(Credentials(hub, "err-hubtls"))
    c = client("err-hubtls", ca_file=None, storage=store)
    try:
        c.connect()
    except IoTCError as e:
        if "TLS" not in str(e) or hub.split(":")[0] not in str(e):
            raise AssertionError(e)
    else:
        raise AssertionError("connected to a hub no Azure root vouches for")


def test_verify_false_is_an_explicit_opt_out():
    c = client("err-noverify", ca_file=None, verify=False)
    c.connect()
    c.send_telemetry({"unverified": True})
    wait(lambda: telemetry("err-noverify"), c, what="telemetry")
    c.disconnect()


def test_pem_ca_file_accepted():
    c = client("err-pem", ca_file=os.getenv("IOTC_EMU_CA_PEM"))
    c.connect()
    c.disconnect()


def test_send_before_the_first_connect_is_refused_clearly():
    c = client("err-early", qos=1)
    try:
        c.send_telemetry({"early": 1})
    except IoTCError as e:
        if "connect" not in str(e):
            raise AssertionError(e)
    else:
        raise AssertionError("accepted a message with nowhere to send it")
