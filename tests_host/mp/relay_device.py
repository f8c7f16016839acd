# The device of tests_host/test_relay.py: a unix-port client that offers only axTLS's four
# suites (as an ESP8266 does: RSA key exchange, AES-CBC), through the relay when RELAY is set,
# else straight to DPS. Provisions, connects, sends telemetry and a reported property, then
# answers the desired property and the command the test sends. Prints RELAY DEVICE OK.
import os
import time

import tls

from iotc import IoTCClient, IoTCConnectType, IoTCEvents

AXTLS_SUITES = ["TLS-RSA-WITH-AES-128-CBC-SHA", "TLS-RSA-WITH-AES-256-CBC-SHA",
                "TLS-RSA-WITH-AES-128-CBC-SHA256", "TLS-RSA-WITH-AES-256-CBC-SHA256"]


def main():
    kw = {"relay": os.getenv("RELAY")} if os.getenv("RELAY") else {}
    c = IoTCClient(os.getenv("IOTC_EMU_SCOPE"), os.getenv("DEVICE"), IoTCConnectType.SYMM_KEY,
                   os.getenv("IOTC_EMU_GROUP_KEY"), endpoint=os.getenv("ENDPOINT"),
                   ca_file=os.getenv("CA"), **kw)
    # The library's own trust (the CA given, certificate and name checked), restricted to
    # axTLS's suites: made now instead of at the first connect.
    from iotc.tls import context

    ctx = context(c.ca_file, True)
    ctx.set_ciphers(AXTLS_SUITES)
    c._tls = ctx
    print("suites", ctx.get_ciphers())
    done = []
    c.on(IoTCEvents.PROPERTIES, lambda name, value, comp: done.append(name) or value)
    c.on(IoTCEvents.COMMANDS, lambda cmd, ack: done.append(cmd.name) or ack(cmd, {"up": 1}))
    c.connect()
    print("CONNECTED")
    for i in range(3):
        c.send_telemetry({"n": i})
        c.listen()
    c.send_property({"firmware": "relay-1"})
    t0 = time.ticks_ms()
    while len(done) < 2 or c._reported:
        if time.ticks_diff(time.ticks_ms(), t0) > 40000:
            raise AssertionError("timed out: {}".format(done))
        c.listen()
        time.sleep_ms(20)
    c.disconnect()
    print("RELAY DEVICE OK", done)


main()
