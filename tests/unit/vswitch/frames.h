/* Test frames for the vswitch unit tests: Ethernet, optional 802.1Q tag,
 * IPv4 and UDP, built byte by byte. */
#ifndef EVR_TEST_VSWITCH_FRAMES_H
#define EVR_TEST_VSWITCH_FRAMES_H

#include <stdint.h>
#include <string.h>

#define FRAME_LEN_MAX 64u

struct frame {
    uint8_t b[FRAME_LEN_MAX];
    uint32_t len;
};

/* vlan < 0: untagged. ip_src/udp_sport vary the flow. */
static inline struct frame frame_udp(int vlan, uint8_t mac_src, uint32_t ip_src, uint16_t udp_sport)
{
    struct frame f;
    memset(&f, 0, sizeof(f));
    uint8_t *p = f.b;
    static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(p, dst, 6);
    p[6] = 0x02;
    p[11] = mac_src;
    p += 12;
    if (vlan >= 0) {
        *p++ = 0x81;
        *p++ = 0x00;
        *p++ = (uint8_t)(vlan >> 8);
        *p++ = (uint8_t)vlan;
    }
    *p++ = 0x08;
    *p++ = 0x00;
    p[0] = 0x45;
    p[3] = 28;
    p[8] = 64;
    p[9] = 17;
    p[12] = (uint8_t)(ip_src >> 24);
    p[13] = (uint8_t)(ip_src >> 16);
    p[14] = (uint8_t)(ip_src >> 8);
    p[15] = (uint8_t)ip_src;
    p[16] = 10;
    p[19] = 1;
    p += 20;
    p[0] = (uint8_t)(udp_sport >> 8);
    p[1] = (uint8_t)udp_sport;
    p[2] = 0x12;
    p[3] = 0x34;
    p[5] = 8;
    p += 8;
    f.len = (uint32_t)(p - f.b);
    return f;
}

#endif
