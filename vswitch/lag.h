/* LAG transmit: which member a frame leaves on. A frame's flow hash picks one
 * of VS_LAG_BUCKETS buckets, and a bucket table maps buckets to members. The
 * table is rebuilt when members come and go, so that only the buckets of a
 * member that went down move (to the members still up); flows on the other
 * members keep their member and their order. */
#ifndef EVR_VSWITCH_LAG_H
#define EVR_VSWITCH_LAG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "ether.h"

#define VS_LAG_BUCKETS   256u
#define VS_LAG_NO_MEMBER 0xffu

/* Flow hash of an Ethernet frame (with or without one 802.1Q tag) for the
 * policy, vs_lag_hash() below. Fields the frame does not have (a non-IP frame
 * under l34) are left out rather than guessed. Inline: it runs once per
 * frame on the LAG transmit path. */
#define VS_LAG_IPPROTO_TCP 6u
#define VS_LAG_IPPROTO_UDP 17u

static inline uint32_t vs_lag_load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint16_t vs_lag_load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Fields are folded with XOR of source and destination, so both directions
 * of a flow hash alike, then mixed once (murmur3's 64-bit finalizer): a few
 * instructions per frame on the LAG transmit path. */
static inline uint32_t vs_lag_finish(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (uint32_t)k;
}

/* The L3/L4 part of vs_lag_hash(): k is the L2 part, off where the IP
 * header starts (after etype). Inlined once per off, a constant, so that
 * the bounds and field offsets are constants too: with off a variable the
 * compiler kept its sums on the stack, about 80 instructions per frame on
 * the LAG transmit path. */
static inline uint32_t vs_lag_hash_ip(const uint8_t *frame, uint32_t len, enum vs_lag_hash policy,
                                      uint64_t k, uint16_t etype, uint32_t off)
{
    const uint8_t *ip = frame + off;
    uint8_t proto;
    uint32_t l4 = 0;
    if (etype == VS_ETYPE_IPV4 && len >= off + 20) {
        unsigned ihl = (ip[0] & 0x0fu) * 4u;
        if (ihl < 20 || len < off + ihl)
            return vs_lag_finish(k);
        k ^= (uint64_t)(vs_lag_load32(ip + 12) ^ vs_lag_load32(ip + 16)) << 24;
        proto = ip[9];
        bool fragment = (vs_be16(ip + 6) & 0x3fffu) != 0;
        if (!fragment)
            l4 = off + ihl;
    } else if (etype == VS_ETYPE_IPV6 && len >= off + 40) {
        uint32_t x = 0;
        for (unsigned i = 0; i < 16; i += 4)
            x ^= vs_lag_load32(ip + 8 + i) ^ vs_lag_load32(ip + 24 + i);
        k ^= (uint64_t)x << 24;
        proto = ip[6]; /* extension headers are not walked: their flows hash on L3 */
        l4 = off + 40;
    } else {
        return vs_lag_finish(k);
    }
    if (policy == VS_HASH_L34 && l4 &&
        (proto == VS_LAG_IPPROTO_TCP || proto == VS_LAG_IPPROTO_UDP) && len >= l4 + 4)
        k ^= (uint64_t)(uint16_t)(vs_lag_load16(frame + l4) ^ vs_lag_load16(frame + l4 + 2)) << 48 ^
             (uint64_t)proto << 56;
    return vs_lag_finish(k);
}

static inline uint32_t vs_lag_hash(const uint8_t *frame, uint32_t len, enum vs_lag_hash policy)
{
    if (len < VS_ETH_HLEN)
        return vs_lag_finish(0);
    uint64_t k = (uint64_t)(vs_lag_load32(frame) ^ vs_lag_load32(frame + 6)) << 16 ^
                 (uint16_t)(vs_lag_load16(frame + 4) ^ vs_lag_load16(frame + 10));
    if (policy == VS_HASH_L2)
        return vs_lag_finish(k);
    uint16_t etype = vs_be16(frame + 12);
    if ((etype == VS_TPID_8021Q || etype == VS_TPID_8021AD) && len >= 18)
        return vs_lag_hash_ip(frame, len, policy, k, vs_be16(frame + 16), 18);
    return vs_lag_hash_ip(frame, len, policy, k, etype, 14);
}

/* Fills buckets[] with member positions (0..n_members-1) given which members
 * are up (bit i of up_mask = member i). All buckets are VS_LAG_NO_MEMBER when
 * none is up. */
void vs_lag_fill_buckets(enum vs_lag_mode mode, unsigned n_members, uint32_t up_mask,
                         uint8_t buckets[VS_LAG_BUCKETS]);

#endif
