# Glue for running another project's asyncio program (the iotc Python client's README code and
# async sample) against the emulator: imported first by the program test_dropin_aio.py composes.
# It gives what such a program cannot: the emulator's DPS endpoint and CA (from the
# environment emufixture sets), and an end (a task that calls disconnect() once the test
# creates the file $IOTC_AIO_STOP, which ends the program's `while client.is_connected()`).
# MIT license; Copyright (c) 2026 the iotc authors
import asyncio
import os

import iotc
import iotc.aio

_Client = iotc.aio.IoTCClient
clients = []


class IoTCClient(_Client):
    def __init__(self, *args, **kw):
        kw.setdefault("endpoint", os.getenv("IOTC_EMU_DPS"))
        kw.setdefault("ca_file", os.getenv("IOTC_EMU_CA"))
        super().__init__(*args, **kw)
        clients.append(self)

    async def connect(self, *args):
        await super().connect(*args)
        asyncio.create_task(_stop_when_told(self))
        print("glue: connected")


async def _stop_when_told(client):
    path = os.getenv("IOTC_AIO_STOP")
    while True:
        try:
            os.stat(path)
            break
        except OSError:
            await asyncio.sleep_ms(250)
    print("glue: listening task woke", client._wakes, "times")
    await client.disconnect()


iotc.aio.IoTCClient = IoTCClient
