// iotc: the ESP8266 twin, a unix-port variant (make esp8266-twin MICROPY_DIR=...; docs/esp8266.md)
// MIT license; Copyright (c) 2026 the iotc authors
//
// The unix port built to behave, in what the heap sees, as ESP8266_GENERIC does: 32-bit (-m32,
// from the Makefile), the ESP8266 port's object representation (C: 31-bit small ints, floats
// inside the word, single precision), its feature level and allocation settings, axTLS with
// its record buffers and its allocator on the GC heap (axtls_gc_heap.c). What is not the same:
// the C module set (unix has os, select, termios...; no machine.Pin, network, esp), the clock
// (the frozen `time` stand-in, tests_host/esp32time/time.py), and sockets (the host's, not lwIP's
// pbufs in the SDK's heap).

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// As ports/esp8266/mpconfigport.h sets them.
#define MICROPY_OBJ_REPR                (MICROPY_OBJ_REPR_C)
#define MICROPY_FLOAT_IMPL              (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_ALLOC_LEXER_INDENT_INIT (8)
#define MICROPY_ALLOC_PARSE_RULE_INIT   (48)
#define MICROPY_ALLOC_PARSE_RULE_INC    (8)
#define MICROPY_ALLOC_PARSE_RESULT_INC  (8)
#define MICROPY_ALLOC_PARSE_CHUNK_INIT  (64)
#define MICROPY_OPT_MAP_LOOKUP_CACHE    (0)
#define MICROPY_PY_BUILTINS_COMPLEX     (0)
#define MICROPY_ERROR_REPORTING         (MICROPY_ERROR_REPORTING_NORMAL)
#define MICROPY_PY_HASHLIB_SHA1         (1)

// The unix port's common settings (ports/unix is on the include path).
#include "variants/mpconfigvariant_common.h"
