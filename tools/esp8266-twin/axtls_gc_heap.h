// iotc: the ESP8266 twin: axTLS allocates from the GC heap (forced into each axTLS file by
// mpconfigvariant.mk's AXTLS_DEFS_EXTRA; the functions are in axtls_gc_heap.c)
// MIT license; Copyright (c) 2026 the iotc authors
//
// On the ESP8266 the port replaces libc's malloc family for the whole firmware, so axTLS's
// buffers come from the MicroPython heap. The unix port needs libc's own malloc for itself, so
// here only axTLS's calls are renamed: the C library's headers first, then the macros.
#ifndef IOTC_AXTLS_GC_HEAP_H
#define IOTC_AXTLS_GC_HEAP_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void *iotc_twin_malloc(size_t size);
void *iotc_twin_calloc(size_t nmemb, size_t size);
void *iotc_twin_realloc(void *ptr, size_t size);
void iotc_twin_free(void *ptr);

#define malloc(n) iotc_twin_malloc(n)
#define calloc(n, s) iotc_twin_calloc(n, s)
#define realloc(p, n) iotc_twin_realloc(p, n)
#define free(p) iotc_twin_free(p)

#endif
