// iotc fwcheck: the unix port's own mbedTLS settings, adapted to what the board ports have
// MIT license; Copyright (c) 2026 the iotc authors
//
// `make fwcheck` passes this file as MBEDTLS_CONFIG_FILE to a unix port built from a
// MicroPython tag; nothing in MicroPython's tree is edited. The ESP32 (ESP-IDF's mbedTLS)
// offers ECDHE-RSA with AES-GCM, which Azure and the emulator require; the unix port before
// v1.24 leaves ECDHE-RSA out. The unix port's HAVEGE entropy source (v1.22 and older) exists
// on no board: the platform's own source replaces it.

#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_GCM_C

#if __has_include("mbedtls/mbedtls_config_port.h")
#include "mbedtls/mbedtls_config_port.h" // v1.23 and later
#else
#include "mbedtls/mbedtls_config.h" // ports/unix/mbedtls/ up to v1.22 (mbedTLS 2.x has no such file)
#endif

#undef MBEDTLS_HAVEGE_C
#undef MBEDTLS_NO_PLATFORM_ENTROPY
