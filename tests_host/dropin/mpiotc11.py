# A device program written the way micropython-iotc 1.1.0 was used (its code and GitHub
# sample, not its README): a property callback (name, value, component), a command callback
# (command) answered with command.reply(), the request read with json.loads(command.payload),
# a storage class of its own built on Credentials' JSON, a logger with info(message) and
# debug(message). Only the credentials, endpoint= and ca_file= (from config.json) and the end
# of the loop (a file named "stop") are the test's. Run by tests_host/test_dropin_mpiotc.py.
import json
import os

from utime import sleep

from iotc import Credentials, IoTCClient, IoTCConnectType, IoTCEvents, IoTCLogLevel

with open("config.json") as f:
    cfg = json.loads(f.read())


class Log:
    def __init__(self):
        self.level = IoTCLogLevel.API_ONLY

    def info(self, message):
        print("logger.info:", message)

    def debug(self, message):
        if self.level == IoTCLogLevel.ALL:
            print("logger.debug:", message)

    def set_log_level(self, level):
        self.level = level


class CredsFile:
    def retrieve(self):
        try:
            with open("creds.json") as f:
                return Credentials.create_from_json_string(f.read())
        except OSError:
            return None

    def persist(self, credentials):
        with open("creds.json", "w") as f:
            f.write(credentials.to_json_string())


def on_property(name, value, component):
    print("property", component, name, value)
    return True


def on_command(command):
    print("command", command.component_name, command.name, repr(command.payload))
    if command.name == "calibrate":
        request = json.loads(command.payload)
        request["component"] = command.component_name
        command.reply(request)
    else:
        command.reply()


client = IoTCClient(cfg["scope_id"], cfg["device_id"], IoTCConnectType.SYMM_KEY, cfg["key"],
                    logger=Log(), storage=CredsFile(), endpoint=cfg["endpoint"],
                    ca_file=cfg["ca_file"])
client.set_log_level(IoTCLogLevel.ALL)
client.on(IoTCEvents.PROPERTIES, on_property)
client.on(IoTCEvents.COMMANDS, on_command)
client.connect()
client.send_property({"firmware": "old-idiom"})
n = 0
while client.is_connected():
    client.listen()
    n += 1
    if n % 5 == 0:
        client.send_telemetry({"temperature": 20 + n % 7}, {"$.sub": "sensor"})
    sleep(0.05)
    try:
        os.stat("stop")
        break
    except OSError:
        pass
client.disconnect()
print("glue: the loop ended with is_connected() ==", client.is_connected())
