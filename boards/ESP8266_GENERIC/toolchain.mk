# iotc: building the ESP8266 port with Debian's cross compiler (included by the Makefile)
# MIT license; Copyright (c) 2026 the iotc authors
#
# MicroPython's ESP8266 README asks for esp-open-sdk: a gcc 4.8 built from source with the
# Espressif NONOS SDK and esp-open-lwip merged into its sysroot. That cannot be built offline and
# is no longer maintained. Debian packages the compiler:
#   apt-get install gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf
# and sdk.sh (next to this file) prepares the rest, at the commits esp-open-sdk pins (its
# Makefile: VENDOR_SDK 2.1.0-18-g61248df, submodule esp-open-lwip), into ESP8266_SDK_OUT. Each
# source is cloned from GitHub, or from a folder (a clone or a mirror) given by its variable:
#   make firmware BOARD=ESP8266_GENERIC MICROPY_DIR=~/micropython \
#        ESP_NONOS_SDK=~/ESP8266_NONOS_SDK ESP_OPEN_LWIP=~/esp-open-lwip
# A compiler that has the SDK in its own sysroot (esp-open-sdk's) is used as it is, as before.

ESP_NONOS_SDK ?= https://github.com/espressif/ESP8266_NONOS_SDK
ESP_NONOS_SDK_COMMIT := 61248df5f6d45d130313b412f7492f581fd4cadf
ESP_OPEN_LWIP ?= https://github.com/pfalcon/esp-open-lwip
ESP_OPEN_LWIP_COMMIT := 8c39d2179a273553466043f388772abb6251a4ca
ESP8266_SDK_OUT ?= build/esp8266-sdk
ESP8266_SYSROOT = $(abspath $(ESP8266_SDK_OUT))/sysroot/usr

# What the port's Makefile is given on top of its own flags, each for a difference between
# gcc 4.8 + newlib + the patched SDK (what the port is written for) and gcc 12 + picolibc:
#  -isystem SDK      the SDK's headers as system headers: its c_types.h repeats stdint.h's
#                    typedefs, which gcc accepts only there (the port's -I of the same folder
#                    then counts as system too)
#  __PICOLIBC_ERRNO_FUNCTION=__errno
#                    picolibc's errno is a variable in its libc, which the port does not link;
#                    this makes it (*__errno()), the function the port defines (shared/libc)
#  -fcommon          the port's headers define variables without extern (modmachine.h's
#                    pyb_pin_obj); gcc 10+ defaults to -fno-common and the link fails
#  -Wno-array-bounds gcc 12 flags esp_mphal.c's read before the SDK's esf_rx_buf_alloc (a
#                    function taken as an array) and, under -Werror, fails the build with it
#  -Wno-error=unused-const-variable
#                    gcc 12 warns about modespnow.c's unused MAX_PACKET_LEN: left a warning
# picolibc's assert.h and the SDK's c_types.h are answered by headers of ours that sdk.sh
# installs in the sysroot (boards/ESP8266_GENERIC/include, each says why).
ESP8266_CFLAGS = -isystem $(ESP8266_SYSROOT)/include -D__PICOLIBC_ERRNO_FUNCTION=__errno \
	-fcommon -Wno-array-bounds -Wno-error=unused-const-variable

# esptool turns the ELF into firmware.bin (the port calls `esptool` or `esptool.py`). When
# neither is on PATH, this pinned release is installed from PyPI into .deps, for this only.
ESPTOOL_PIN := esptool==4.8.1
ESPTOOL_DIR := $(DEPS)/esptool-4.8.1

.PHONY: esp8266-sdk
esp8266-sdk:
	@command -v xtensa-lx106-elf-gcc >/dev/null 2>&1 || { \
		echo "make esp8266-sdk: no xtensa-lx106-elf-gcc on PATH. On Debian or Ubuntu:"; \
		echo "  apt-get install gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf"; \
		exit 2; }
	sh boards/ESP8266_GENERIC/sdk.sh $(ESP8266_SDK_OUT) \
		"$(ESP_NONOS_SDK)" $(ESP_NONOS_SDK_COMMIT) "$(ESP_OPEN_LWIP)" $(ESP_OPEN_LWIP_COMMIT)

$(ESPTOOL_DIR)/.installed: | $(VENV)/.installed
	$(PY) -m pip install --quiet --target $(ESPTOOL_DIR) $(ESPTOOL_PIN)
	touch $@
