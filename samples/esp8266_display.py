# iotc sample for ESP8266 with an application's weight: a sensor and a 128x64 SSD1306 display
# MIT license; Copyright (c) 2026 the iotc authors
#
# samples/esp8266.py plus what a real device carries: an I2C temperature and humidity sensor
# (an AHT20, its driver below) and an SSD1306 OLED (the ssd1306 driver frozen in ESP8266
# firmware; its frame buffer is 1 KB of heap, held for good), both on one I2C bus (GPIO5 SCL,
# GPIO4 SDA). Its heap margin is measured on the ESP8266 twin (docs/esp8266.md). Same firmware
# (`make firmware BOARD=ESP8266_GENERIC ...`), same iotc_config.json ("relay" and "verify":
# false: see samples/esp8266.py), same habits: collect between big steps, small payloads, QoS 0.
import gc
import sys
import time

gc.collect()
import json  # noqa: E402

import ssd1306  # noqa: E402  (frozen in ESP8266 firmware: micropython-lib's driver)

with open("iotc_config.json") as f:
    cfg = json.load(f)

if sys.platform == "esp8266":
    from machine import I2C, Pin

    bus = I2C(scl=Pin(5), sda=Pin(4), freq=400000)
else:
    # A stand-in for the I2C bus and its two chips, off a board (this machine has neither):
    # the display takes whatever is written; the sensor answers 21.5 C and 45 % as an AHT20.
    class I2CStandIn:
        def writeto(self, addr, buf):
            return len(buf)

        def writevto(self, addr, bufs):
            return sum(len(b) for b in bufs)

        def readfrom(self, addr, n):
            h, t = int(0.45 * 1048576), int((21.5 + 50) / 200 * 1048576)
            d = (0x1C, h >> 12, h >> 4, (h & 15) << 4 | t >> 16, t >> 8, t)
            return bytes(x & 255 for x in d)[:n]

    bus = I2CStandIn()


class AHT20:
    # Aosong AHT20 (datasheet 1.0): calibrate once, then trigger a measurement (0xAC 0x33 0x00),
    # wait 80 ms, read 6 bytes: status, 20 bits of humidity, 20 bits of temperature.
    def __init__(self, i2c, addr=0x38):
        self.i2c, self.addr = i2c, addr
        i2c.writeto(addr, b"\xbe\x08\x00")
        time.sleep_ms(10)

    def read(self):
        # -> (degrees C, % relative humidity)
        self.i2c.writeto(self.addr, b"\xac\x33\x00")
        time.sleep_ms(80)
        d = self.i2c.readfrom(self.addr, 6)
        h = d[1] << 12 | d[2] << 4 | d[3] >> 4
        t = (d[3] & 15) << 16 | d[4] << 8 | d[5]
        return t * 200 / 1048576 - 50, h * 100 / 1048576


sensor = AHT20(bus)
display = ssd1306.SSD1306_I2C(128, 64, bus)  # 1 KB frame buffer
display.fill(0)
display.text("connecting", 0, 0)
display.show()
if sys.platform == "esp8266":
    import network
    import ntptime

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(cfg["wifi_ssid"], cfg["wifi_password"])
        for _ in range(150):  # up to 30 s
            if wlan.isconnected():
                break
            time.sleep_ms(200)
        else:
            raise OSError("Wi-Fi: could not join")
    ntptime.settime()  # SAS tokens expire: the clock must be right
    del sys.modules["ntptime"], ntptime
gc.collect()

from iotc import FileStorage, IoTCClient, IoTCConnectType, IoTCEvents  # noqa: E402

gc.collect()


def on_properties(name, value, component):
    return value  # acknowledged with status 200


def on_commands(command, ack):
    ack(command, None)  # status 200, empty payload


client = IoTCClient(
    cfg["id_scope"],
    cfg["device_id"],
    IoTCConnectType.SYMM_KEY,
    cfg["group_key"],
    endpoint=cfg.get("endpoint"),
    ca_file=cfg.get("ca_file"),
    storage=FileStorage("iotc_assignment.json"),
    verify=cfg.get("verify", True),
    relay=cfg.get("relay"),
    qos=0,
    keepalive=60,
)
client.on(IoTCEvents.PROPERTIES, on_properties)
client.on(IoTCEvents.COMMANDS, on_commands)
del cfg["group_key"]
gc.collect()
client.connect()
gc.collect()
print("connected, free heap", gc.mem_free())

loops = cfg.get("loops", 0)  # 0: forever
interval_ms = int(cfg.get("interval", 30) * 1000)
n = 0
while loops == 0 or n < loops:
    n += 1
    t, h = sensor.read()
    display.fill(0)
    display.text("{:.1f} C {:.0f} %".format(t, h), 0, 0)
    display.text("up" if client.is_connected() else "offline", 0, 16)
    display.text("free {}".format(gc.mem_free()), 0, 32)
    display.show()
    if client.is_connected():
        client.send_telemetry({"t": round(t, 1), "h": round(h), "heap": gc.mem_free()})
    gc.collect()
    end = time.ticks_add(time.ticks_ms(), interval_ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        client.listen()
        time.sleep_ms(100)
client.disconnect()
