# The unix port this project tests on: the facts the library relies on.
import time


def test_epoch_is_1970_on_unix():
    if time.gmtime(0)[0] != 1970:
        raise AssertionError(time.gmtime(0))


def test_umqtt_simple_importable():
    from umqtt.simple import MQTTClient

    if not hasattr(MQTTClient, "check_msg"):
        raise AssertionError("unexpected umqtt.simple")


def test_tls_client_context():
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ctx.verify_mode != ssl.CERT_REQUIRED:
        raise AssertionError(ctx.verify_mode)
