/* LAG transmit: which member a frame leaves on. A frame's flow hash picks one
 * of VS_LAG_BUCKETS buckets, and a bucket table maps buckets to members. The
 * table is rebuilt when members come and go, so that only the buckets of a
 * member that went down move (to the members still up); flows on the other
 * members keep their member and their order. */
#ifndef EVR_VSWITCH_LAG_H
#define EVR_VSWITCH_LAG_H

#include <stdint.h>

#include "config.h"

#define VS_LAG_BUCKETS   256u
#define VS_LAG_NO_MEMBER 0xffu

/* Flow hash of an Ethernet frame (with or without one 802.1Q tag) for the
 * policy. Fields the frame does not have (a non-IP frame under l34) are left
 * out rather than guessed. */
uint32_t vs_lag_hash(const uint8_t *frame, uint32_t len, enum vs_lag_hash policy);

/* Fills buckets[] with member positions (0..n_members-1) given which members
 * are up (bit i of up_mask = member i). All buckets are VS_LAG_NO_MEMBER when
 * none is up. */
void vs_lag_fill_buckets(enum vs_lag_mode mode, unsigned n_members, uint32_t up_mask,
                         uint8_t buckets[VS_LAG_BUCKETS]);

#endif
