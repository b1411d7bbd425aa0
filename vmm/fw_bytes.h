/* Byte-level writing of the firmware tables a guest reads (ACPI, MP table):
 * little-endian fields at any alignment, and the 8-bit checksums both
 * specifications use (all bytes of a structure sum to 0 modulo 256). */
#ifndef EVR_VMM_FW_BYTES_H
#define EVR_VMM_FW_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline void fw_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void fw_put32(uint8_t *p, uint32_t v)
{
    fw_put16(p, (uint16_t)v);
    fw_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void fw_put64(uint8_t *p, uint64_t v)
{
    fw_put32(p, (uint32_t)v);
    fw_put32(p + 4, (uint32_t)(v >> 32));
}

/* Sum of len bytes modulo 256: 0 for a structure with a correct checksum. */
static inline uint8_t fw_sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    while (len--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* The checksum byte that makes len bytes (itself counted as 0) sum to 0. */
static inline uint8_t fw_checksum(const uint8_t *p, size_t len)
{
    return (uint8_t)(0 - fw_sum(p, len));
}

#endif
