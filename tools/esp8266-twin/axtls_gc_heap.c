// iotc: the ESP8266 twin: axTLS's malloc, calloc, realloc and free on the GC heap
// MIT license; Copyright (c) 2026 the iotc authors
//
// The ESP8266 port's behaviour (its libc replacements for external libraries), written for the
// twin: every allocation is a GC block with no finaliser; a failure returns NULL and sets
// errno to ENOMEM (axTLS then goes on as it does on a board: in its RSA code, a NULL from
// realloc is dereferenced, so the interpreter crashes where an ESP8266 resets); calloc does
// not clear (the GC hands out cleared blocks); realloc may move the block. Nothing here is
// counted by the GC's roots: what axTLS holds stays alive because the TLS socket object points
// at it, as on the board, whose collector also scans only the stack and the root pointers.
#include <errno.h>
#include <stddef.h>

#include "py/gc.h"

void *iotc_twin_malloc(size_t size) {
    void *p = gc_alloc(size, 0);
    if (p == NULL) {
        errno = ENOMEM;
    }
    return p;
}

void *iotc_twin_calloc(size_t nmemb, size_t size) {
    return iotc_twin_malloc(nmemb * size);
}

void *iotc_twin_realloc(void *ptr, size_t size) {
    void *p = gc_realloc(ptr, size, true);
    if (p == NULL) {
        errno = ENOMEM;
    }
    return p;
}

void iotc_twin_free(void *ptr) {
    gc_free(ptr);
}
