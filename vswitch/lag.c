/* LAG flow hashing and bucket assignment. */
#include "lag.h"

#include <string.h>

#define ETH_HLEN     14u
#define TPID_8021Q   0x8100u
#define TPID_8021AD  0x88a8u
#define ETYPE_IPV4   0x0800u
#define ETYPE_IPV6   0x86ddu
#define IPPROTO_TCP_ 6u
#define IPPROTO_UDP_ 17u

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Fields are folded with XOR of source and destination, so both directions
 * of a flow hash alike, then mixed once (murmur3's 64-bit finalizer): a few
 * instructions per frame on the LAG transmit path. */
static uint32_t finish(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (uint32_t)k;
}

uint32_t vs_lag_hash(const uint8_t *frame, uint32_t len, enum vs_lag_hash policy)
{
    if (len < ETH_HLEN)
        return finish(0);
    uint64_t k = (uint64_t)(load32(frame) ^ load32(frame + 6)) << 16 ^
                 (uint16_t)(load16(frame + 4) ^ load16(frame + 10));
    if (policy == VS_HASH_L2)
        return finish(k);

    uint32_t off = 12;
    uint16_t etype = be16(frame + off);
    if ((etype == TPID_8021Q || etype == TPID_8021AD) && len >= off + 6) {
        off += 4;
        etype = be16(frame + off);
    }
    off += 2;
    uint8_t proto;
    uint32_t l4 = 0;
    if (etype == ETYPE_IPV4 && len >= off + 20) {
        const uint8_t *ip = frame + off;
        unsigned ihl = (ip[0] & 0x0fu) * 4u;
        if (ihl < 20 || len < off + ihl)
            return finish(k);
        k ^= (uint64_t)(load32(ip + 12) ^ load32(ip + 16)) << 24;
        proto = ip[9];
        bool fragment = (be16(ip + 6) & 0x3fffu) != 0;
        if (!fragment)
            l4 = off + ihl;
    } else if (etype == ETYPE_IPV6 && len >= off + 40) {
        const uint8_t *ip = frame + off;
        uint32_t x = 0;
        for (unsigned i = 0; i < 16; i += 4)
            x ^= load32(ip + 8 + i) ^ load32(ip + 24 + i);
        k ^= (uint64_t)x << 24;
        proto = ip[6]; /* extension headers are not walked: their flows hash on L3 */
        l4 = off + 40;
    } else {
        return finish(k);
    }
    if (policy == VS_HASH_L34 && l4 && (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_) &&
        len >= l4 + 4)
        k ^= (uint64_t)(uint16_t)(load16(frame + l4) ^ load16(frame + l4 + 2)) << 48 ^
             (uint64_t)proto << 56;
    return finish(k);
}

void vs_lag_fill_buckets(enum vs_lag_mode mode, unsigned n_members, uint32_t up_mask,
                         uint8_t buckets[VS_LAG_BUCKETS])
{
    uint8_t up[VS_LAG_MEMBER_MAX];
    unsigned n_up = 0;
    for (unsigned m = 0; m < n_members && m < VS_LAG_MEMBER_MAX; m++)
        if (up_mask & (1u << m))
            up[n_up++] = (uint8_t)m;
    if (n_up == 0) {
        memset(buckets, VS_LAG_NO_MEMBER, VS_LAG_BUCKETS);
        return;
    }
    if (mode == VS_LAG_ACTIVE_BACKUP) {
        memset(buckets, up[0], VS_LAG_BUCKETS);
        return;
    }
    for (unsigned b = 0; b < VS_LAG_BUCKETS; b++) {
        unsigned home = b % n_members;
        /* A bucket stays on its home member while it is up; otherwise the
         * buckets of that member are dealt over the members still up. */
        buckets[b] = (up_mask & (1u << home)) ? (uint8_t)home : up[(b / n_members) % n_up];
    }
}
