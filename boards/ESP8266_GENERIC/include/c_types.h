// iotc: the NONOS SDK's c_types.h, made to agree with C99's <stdbool.h>.
// MIT license; Copyright (c) 2026 the iotc authors
//
// sdk.sh installs this file as the SDK's include/c_types.h (SDK headers include it by that
// name, from their own folder) and the SDK's own as c_types_sdk.h, which it includes. That
// header typedefs `bool` as unsigned char and defines true/false, for compilers without
// <stdbool.h>; MicroPython includes <stdbool.h> first, where `bool` is a macro for _Bool, and
// the typedef then fails. esp-open-sdk patched the SDK file;
// here it is kept as it is: its typedef is given a name of its own, and C99's meaning of
// bool/true/false is put back after it. (Its uint8_t.. uint32_t typedefs match <stdint.h>'s
// types on this compiler, a repeat gcc accepts in a system header: -isystem.)
#ifndef IOTC_C_TYPES_H
#define IOTC_C_TYPES_H
#include <stdint.h>
#include <stdbool.h>
#undef bool
#define bool iotc_sdk_bool
#include "c_types_sdk.h"
#undef bool
#undef true
#undef false
#define bool _Bool
#define true 1
#define false 0
#endif
