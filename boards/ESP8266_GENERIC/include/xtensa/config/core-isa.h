// iotc: the one fact MicroPython asks of the Xtensa core configuration header, for the LX106.
// MIT license; Copyright (c) 2026 the iotc authors
//
// esp-open-sdk installed lx106-hal's core-isa.h; Debian's gcc-xtensa-lx106 ships no HAL
// headers. py/persistentcode.h only reads XCHAL_HAVE_WINDOWED to tell the ESP8266 (call0 ABI,
// .mpy arch "xtensa") from the ESP32 (windowed registers, "xtensawin").
#ifndef IOTC_XTENSA_CORE_ISA_H
#define IOTC_XTENSA_CORE_ISA_H
#define XCHAL_HAVE_WINDOWED 0
#endif
