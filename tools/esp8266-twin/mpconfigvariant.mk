# iotc: the ESP8266 twin (a unix-port variant; see mpconfigvariant.h). The Makefile passes
# VARIANT_DIR (this folder), -m32, axTLS on and mbedTLS off, and FROZEN_MANIFEST.

MICROPY_PY_FFI = 0
MICROPY_PY_BTREE = 0
MICROPY_PY_THREAD = 0
MICROPY_USE_READLINE = 0
MICROPY_VFS_FAT = 0
MICROPY_VFS_LFS1 = 0
MICROPY_VFS_LFS2 = 0

# axTLS as ports/esp8266/Makefile builds it: its record buffers (1 KB of plaintext and 4 KB
# more per record), and (axtls_gc_heap.h, forced into each axTLS file) its malloc, calloc,
# realloc and free on the GC heap, as the ESP8266 port's libc replacements put them.
AXTLS_DEFS_EXTRA = -DRT_MAX_PLAIN_LENGTH=1024 -DRT_EXTRA=4096 -include $(VARIANT_DIR)/axtls_gc_heap.h

# The ESP8266 board manifest names $(BOARD_DIR)/manifest_2MiB.py: here, this folder's stand-in.
MICROPY_MANIFEST_BOARD_DIR = $(VARIANT_DIR)
