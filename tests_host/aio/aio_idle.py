# An idle asyncio device: connects with iotc.aio, then does nothing for IOTC_AIO_IDLE s while
# the client's listening task keeps the link (test_dropin_aio.py counts the task's wakeups
# and the process's CPU time meanwhile).
# MIT license; Copyright (c) 2026 the iotc authors
import asyncio
import os
import time

from iotc.aio import IOTCConnectType, IoTCClient


async def main():
    client = IoTCClient(os.getenv("IOTC_DEVICE_ID"), os.getenv("IOTC_EMU_SCOPE"),
                        IOTCConnectType.IOTC_CONNECT_SYMM_KEY, os.getenv("IOTC_EMU_GROUP_KEY"),
                        endpoint=os.getenv("IOTC_EMU_DPS"), ca_file=os.getenv("IOTC_EMU_CA"),
                        keepalive=int(os.getenv("IOTC_AIO_KEEPALIVE")))
    await client.connect()
    await asyncio.sleep_ms(200)  # the twin's answer and the first wakeups after the connect
    w0 = client._wakes
    t0 = time.ticks_ms()
    print("idle")
    await asyncio.sleep(int(os.getenv("IOTC_AIO_IDLE")))
    print("wakes", client._wakes - w0, "in", time.ticks_diff(time.ticks_ms(), t0), "ms")
    await asyncio.sleep(1)  # the test reads our CPU time now
    print("connected", client.core.is_connected())
    await client.disconnect()


asyncio.run(main())
