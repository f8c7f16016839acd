# iotc.aio with callbacks in the shapes of the Python client 1.1 (one argument: a Property, a
# Command answered by `await command.reply()`), plain and async, and a dropped link healed
# while the application's loop goes on. Ends when $IOTC_AIO_STOP exists.
# MIT license; Copyright (c) 2026 the iotc authors
import asyncio
import os

from iotc.aio import IOTCConnectType, IOTCEvents, IoTCClient

client = IoTCClient(os.getenv("IOTC_DEVICE_ID"), os.getenv("IOTC_EMU_SCOPE"),
                    IOTCConnectType.IOTC_CONNECT_SYMM_KEY, os.getenv("IOTC_EMU_GROUP_KEY"),
                    endpoint=os.getenv("IOTC_EMU_DPS"), ca_file=os.getenv("IOTC_EMU_CA"))


def on_props(prop):  # plain, one argument
    print("property", prop.name, prop.value, prop.component_name)
    return prop.value != "refuse"


async def on_commands(command):  # async, one argument
    print("command", command.name, command.value)
    await asyncio.sleep_ms(50)
    await command.reply()


def on_enqueued(command):
    print("enqueued", command.name, command.value)


client.on(IOTCEvents.IOTC_PROPERTIES, on_props)
client.on(IOTCEvents.IOTC_COMMAND, on_commands)
client.on(IOTCEvents.IOTC_ENQUEUED_COMMAND, on_enqueued)


def stop():
    try:
        os.stat(os.getenv("IOTC_AIO_STOP"))
        return True
    except OSError:
        return False


async def main():
    await client.connect()
    n = 0
    while client.is_connected() and not stop():
        n += 1
        await client.send_telemetry({"n": n})
        await asyncio.sleep_ms(200)
    print("loop ended: connected", client.is_connected(), "sent", n)
    await client.disconnect()


asyncio.run(main())
