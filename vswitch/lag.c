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

/* A 32-bit mix (murmur3's finalizer steps) over words fed in order. */
static uint32_t mix(uint32_t h, uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = (k << 15) | (k >> 17);
    k *= 0x1b873593u;
    h ^= k;
    h = (h << 13) | (h >> 19);
    return h * 5u + 0xe6546b64u;
}

static uint32_t mix_bytes(uint32_t h, const uint8_t *p, unsigned n)
{
    for (unsigned i = 0; i < n; i += 4) {
        uint32_t k = 0;
        for (unsigned j = 0; j < 4 && i + j < n; j++)
            k |= (uint32_t)p[i + j] << (8 * j);
        h = mix(h, k);
    }
    return h;
}

static uint32_t finish(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Order-independent for the two MACs so both directions of a flow agree. */
static uint32_t mix_pair(uint32_t h, const uint8_t *a, const uint8_t *b, unsigned n)
{
    uint32_t ha = mix_bytes(0, a, n), hb = mix_bytes(0, b, n);
    return mix(h, ha ^ hb);
}

uint32_t vs_lag_hash(const uint8_t *frame, uint32_t len, enum vs_lag_hash policy)
{
    uint32_t h = 0x9747b28cu;
    if (len < ETH_HLEN)
        return finish(h);
    h = mix_pair(h, frame, frame + 6, 6);
    if (policy == VS_HASH_L2)
        return finish(h);

    uint32_t off = 12;
    uint16_t etype = be16(frame + off);
    if ((etype == TPID_8021Q || etype == TPID_8021AD) && len >= off + 6) {
        off += 4;
        etype = be16(frame + off);
    }
    off += 2;
    uint8_t proto = 0;
    uint32_t l4 = 0;
    if (etype == ETYPE_IPV4 && len >= off + 20) {
        const uint8_t *ip = frame + off;
        unsigned ihl = (ip[0] & 0x0fu) * 4u;
        if (ihl < 20 || len < off + ihl)
            return finish(h);
        h = mix_pair(h, ip + 12, ip + 16, 4);
        proto = ip[9];
        bool fragment = (be16(ip + 6) & 0x3fffu) != 0;
        if (!fragment)
            l4 = off + ihl;
    } else if (etype == ETYPE_IPV6 && len >= off + 40) {
        const uint8_t *ip = frame + off;
        h = mix_pair(h, ip + 8, ip + 24, 16);
        proto = ip[6]; /* extension headers are not walked: their flows hash on L3 */
        l4 = off + 40;
    } else {
        return finish(h);
    }
    if (policy == VS_HASH_L34 && l4 && (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_) &&
        len >= l4 + 4)
        h = mix_pair(h, frame + l4, frame + l4 + 2, 2);
    return finish(h);
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
