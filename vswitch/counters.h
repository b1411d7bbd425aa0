/* Per-worker packet counters. Each worker writes only its own block (no
 * atomics, no sharing of cache lines between workers); readers sum the
 * blocks. Counters of a reused port id or slice index are reported relative
 * to a baseline taken when it was created, so they start at zero. */
#ifndef EVR_VSWITCH_COUNTERS_H
#define EVR_VSWITCH_COUNTERS_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "tables.h"

struct vs_port_counters {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t drops[VS_DROP_REASONS];
};

struct vs_slice_counters {
    uint64_t to_vm_packets, to_vm_bytes;     /* wire -> VM */
    uint64_t to_wire_packets, to_wire_bytes; /* VM -> wire */
    uint64_t drops[VS_DROP_REASONS];
};

struct vs_worker_counters {
    struct vs_port_counters ports[VS_DPDK_PORT_MAX];
    struct vs_slice_counters slices[VS_SLICE_MAX];
} __attribute__((aligned(64)));

struct vs_counter_baselines {
    struct vs_port_counters ports[VS_DPDK_PORT_MAX];
    struct vs_slice_counters slices[VS_SLICE_MAX];
};

void vs_counters_sum_port(const struct vs_worker_counters *w, unsigned n_workers, unsigned port,
                          struct vs_port_counters *out);
void vs_counters_sum_slice(const struct vs_worker_counters *w, unsigned n_workers, unsigned slice,
                           struct vs_slice_counters *out);

/* The "stats" reply: counters of every declared port and slice, by name. */
json_t *vs_counters_to_json(const struct vs_config *cfg, const struct vs_worker_counters *w,
                            unsigned n_workers, const struct vs_counter_baselines *base);

#endif
