# Stand-in for micropython-lib's `ssd1306` driver, which ESP8266 firmware freezes and the unix
# port of the tests lacks (micropython-lib is on GitHub, out of reach of `make test`). Ours,
# for samples/esp8266_display.py off the twin: SSD1306_I2C(width, height, i2c) is a
# framebuf.FrameBuffer over the same 1 KB buffer (128x64, one bit a pixel, bytes as columns of
# 8 pixels); init() and show() write a controller's command and data bytes to the bus. The
# twin (tools/esp8266-twin) freezes the real driver.
import framebuf


class SSD1306_I2C(framebuf.FrameBuffer):
    def __init__(self, width, height, i2c, addr=0x3C):
        self.i2c, self.addr = i2c, addr
        self.buffer = bytearray(width * height // 8)
        super().__init__(self.buffer, width, height, framebuf.MONO_VLSB)
        # display off, charge pump on, horizontal addressing, display on
        for cmd in (0xAE, 0x8D, 0x14, 0x20, 0x00, 0xAF):
            i2c.writeto(addr, bytes((0x80, cmd)))

    def show(self):
        self.i2c.writevto(self.addr, (b"\x40", self.buffer))
