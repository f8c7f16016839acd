// iotc: the RF calibration sector for NONOS SDK 2.x (boards/ESP8266_GENERIC/sdk.sh adds it to
// libmain.a). MIT license; Copyright (c) 2026 the iotc authors
//
// The SDK calls user_rf_cal_sector_set() at boot and keeps its RF calibration data in the
// sector it returns; the SDK's documentation puts it 5 sectors (of 4 KiB) before the end of
// the flash, where the port's linker scripts leave room for the SDK's data. The flash size
// is the one in the image header (esptool's --flash_size), as the SDK reports it.
#include <c_types.h>
#include <user_interface.h>

uint32 user_rf_cal_sector_set(void) {
    uint32 kib;
    switch (system_get_flash_size_map()) {
        case FLASH_SIZE_2M:
            kib = 256;
            break;
        case FLASH_SIZE_4M_MAP_256_256:
            kib = 512;
            break;
        case FLASH_SIZE_8M_MAP_512_512:
            kib = 1024;
            break;
        case FLASH_SIZE_16M_MAP_512_512:
        case FLASH_SIZE_16M_MAP_1024_1024:
            kib = 2048;
            break;
        case FLASH_SIZE_64M_MAP_1024_1024:
            kib = 8192;
            break;
        case FLASH_SIZE_128M_MAP_1024_1024:
            kib = 16384;
            break;
        default: // the 32 Mbit maps
            kib = 4096;
            break;
    }
    return kib / 4 - 5;
}
