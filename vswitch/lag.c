/* LAG flow hashing and bucket assignment. */
#include "lag.h"

#include <string.h>

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
