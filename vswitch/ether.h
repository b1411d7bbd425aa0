/* Ethernet frame fields the vswitch reads: header length, the tag protocol
 * identifiers it knows, ethertypes, and a big-endian 16-bit read. Shared by
 * the classifier (tables.h) and the LAG flow hash (lag.h). */
#ifndef EVR_VSWITCH_ETHER_H
#define EVR_VSWITCH_ETHER_H

#include <stdint.h>

#define VS_ETH_HLEN      14u
#define VS_TPID_8021Q    0x8100u
#define VS_TPID_8021AD   0x88a8u /* S-tag */
#define VS_TPID_QINQ_OLD 0x9100u /* pre-802.1ad S-tag */
#define VS_ETYPE_IPV4    0x0800u
#define VS_ETYPE_IPV6    0x86ddu

static inline uint16_t vs_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
