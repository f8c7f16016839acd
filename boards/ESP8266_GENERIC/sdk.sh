#!/bin/sh
# iotc: the ESP8266 port's SDK for a plain xtensa-lx106-elf compiler (Debian's gcc-xtensa-lx106)
# MIT license; Copyright (c) 2026 the iotc authors
#
#   sdk.sh OUT SDK_SRC SDK_COMMIT LWIP_SRC LWIP_COMMIT
#
# esp-open-sdk used to build a compiler and merge the Espressif NONOS SDK and esp-open-lwip into
# its sysroot. Debian ships the compiler (and picolibc's headers); this script does the rest into
# OUT/sysroot/usr, which the port's Makefile takes as ESP_SDK:
#   include/  the SDK's headers, esp-open-lwip's headers, ours (boards/ESP8266_GENERIC/include)
#             and esp_sdk_ver.h (ESP_SDK_VERSION)
#   lib/      the SDK's libraries, libwpa.a with libcrypto.a's objects in it (the port links
#             -lwpa, not -lcrypto), libmain.a with our user_rf_cal_sector_set (SDK 2.1 calls it),
#             and liblwip_open.a built here from esp-open-lwip
# Each source (SDK_SRC, LWIP_SRC) is a git URL or a folder holding a git repository (a clone or
# a bare mirror); it is cloned into OUT/src at the commit given, never modified. A folder without
# git is copied as it is (its commit cannot be checked: a note says so).
# Needs git, make and xtensa-lx106-elf-{gcc,ar} on PATH. Run again: does nothing if OUT is done.
set -e

OUT=$1 SDK_SRC=$2 SDK_COMMIT=$3 LWIP_SRC=$4 LWIP_COMMIT=$5
if [ -z "$LWIP_COMMIT" ]; then
    echo "usage: $0 OUT SDK_SRC SDK_COMMIT LWIP_SRC LWIP_COMMIT" >&2
    exit 2
fi
CROSS=${CROSS_COMPILE:-xtensa-lx106-elf-}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$OUT/sysroot/.done-$SDK_COMMIT-$LWIP_COMMIT
if [ -f "$STAMP" ]; then
    echo "ESP8266 SDK sysroot: $OUT/sysroot (ready)"
    exit 0
fi

# fetch NAME SRC COMMIT: OUT/src/NAME at COMMIT, from a URL or a folder.
fetch() {
    dest=$OUT/src/$1
    if [ -d "$dest" ] && [ "$(git -C "$dest" rev-parse HEAD 2>/dev/null)" = "$3" ]; then
        return 0
    fi
    rm -rf "$dest"
    mkdir -p "$OUT/src"
    if [ -d "$2" ] && ! git -C "$2" rev-parse --git-dir >/dev/null 2>&1; then
        echo "note: $2 is not a git repository: used as it is (commit $3 not checked)"
        cp -a "$2" "$dest"
        return 0
    fi
    echo "fetching $1 at $3 from $2"
    git clone --quiet --no-checkout "$2" "$dest"
    if ! git -C "$dest" -c advice.detachedHead=false checkout --quiet "$3" 2>/dev/null; then
        echo "error: $2 has no commit $3 ($1). Give a clone that holds it." >&2
        exit 1
    fi
}

fetch nonos-sdk "$SDK_SRC" "$SDK_COMMIT"
fetch open-lwip "$LWIP_SRC" "$LWIP_COMMIT"

SDK=$OUT/src/nonos-sdk
LWIP=$OUT/src/open-lwip
USR=$OUT/sysroot/usr
rm -rf "$OUT/sysroot"
mkdir -p "$USR/include" "$USR/lib"

# Headers: the SDK's as they are, built as system headers (-isystem, see firmware.mk), plus
# ours (boards/ESP8266_GENERIC/include): c_types.h in front of the SDK's (renamed
# c_types_sdk.h, see ours for why) and the Xtensa core fact MicroPython reads.
cp -R "$SDK/include/." "$USR/include/"
mv "$USR/include/c_types.h" "$USR/include/c_types_sdk.h"
cp -R "$HERE/include/." "$USR/include/"
# esp-open-sdk wrote the SDK version here; the port's ets_alt_task.c reads it (>= 1.5 task ids).
printf '#define ESP_SDK_VERSION 020100 /* NONOS SDK 2.1.0, iotc sdk.sh */\n' \
    > "$USR/include/esp_sdk_ver.h"

# Libraries: the SDK's, with libcrypto's objects added to libwpa (the port links -lwpa only).
cp "$SDK"/lib/*.a "$USR/lib/"
tmp=$OUT/tmp
rm -rf "$tmp" && mkdir -p "$tmp/crypto"
(cd "$tmp/crypto" && "${CROSS}ar" x "$USR/lib/libcrypto.a")
"${CROSS}ar" rs "$USR/lib/libwpa.a" "$tmp"/crypto/*.o

# SDK 2.1 asks the application where the RF calibration sector is (user_rf_cal_sector_set);
# MicroPython does not say, so libmain gets ours: 5 sectors from the end of the flash.
# (user_interface.h includes the application's user_config.h: an empty one here)
mkdir -p "$tmp/app" && : > "$tmp/app/user_config.h"
"${CROSS}gcc" -Os -mlongcalls -Wall -Werror -isystem "$USR/include" -I"$tmp/app" \
    -c "$HERE/rf_cal.c" -o "$tmp/iotc_rf_cal.o"
"${CROSS}ar" rs "$USR/lib/libmain.a" "$tmp/iotc_rf_cal.o"

# esp-open-lwip: liblwip_open.a, built with this compiler against the SDK's headers.
MAKEFLAGS= make --no-print-directory -s -C "$LWIP" -f Makefile.open clean >/dev/null
MAKEFLAGS= make --no-print-directory -s -C "$LWIP" -f Makefile.open \
    CC="${CROSS}gcc" AR="${CROSS}ar" CFLAGS_EXTRA="-isystem $USR/include -fcommon -w"
cp "$LWIP/liblwip_open.a" "$USR/lib/"
cp -R "$LWIP/include/arch" "$LWIP/include/lwip" "$LWIP/include/netif" \
    "$LWIP/include/lwipopts.h" "$USR/include/"
rm -rf "$tmp"

touch "$STAMP"
echo "ESP8266 SDK sysroot: $OUT/sysroot (SDK $SDK_COMMIT, esp-open-lwip $LWIP_COMMIT)"
