/* Summing per-worker counters and rendering them. */
#include "counters.h"

#include <string.h>

void vs_counters_sum_port(const struct vs_worker_counters *w, unsigned n_workers, unsigned port,
                          struct vs_port_counters *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < n_workers; i++) {
        const struct vs_port_counters *c = &w[i].ports[port];
        out->rx_packets += c->rx_packets;
        out->rx_bytes += c->rx_bytes;
        out->tx_packets += c->tx_packets;
        out->tx_bytes += c->tx_bytes;
        for (unsigned d = 0; d < VS_DROP_REASONS; d++)
            out->drops[d] += c->drops[d];
    }
}

void vs_counters_sum_slice(const struct vs_worker_counters *w, unsigned n_workers, unsigned slice,
                           struct vs_slice_counters *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < n_workers; i++) {
        const struct vs_slice_counters *c = &w[i].slices[slice];
        out->to_vm_packets += c->to_vm_packets;
        out->to_vm_bytes += c->to_vm_bytes;
        out->to_wire_packets += c->to_wire_packets;
        out->to_wire_bytes += c->to_wire_bytes;
        for (unsigned d = 0; d < VS_DROP_REASONS; d++)
            out->drops[d] += c->drops[d];
    }
}

static json_t *drops_to_json(const uint64_t *now, const uint64_t *base)
{
    json_t *o = json_object();
    for (unsigned d = 0; d < VS_DROP_REASONS; d++)
        json_object_set_new(o, vs_drop_name((enum vs_drop)d),
                            json_integer((json_int_t)(now[d] - base[d])));
    return o;
}

json_t *vs_counters_to_json(const struct vs_config *cfg, const struct vs_worker_counters *w,
                            unsigned n_workers, const struct vs_counter_baselines *base)
{
    json_t *ports = json_object(), *slices = json_object();
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &cfg->ports[i];
        if (!p->used || p->dpdk_id >= VS_DPDK_PORT_MAX)
            continue;
        struct vs_port_counters c;
        const struct vs_port_counters *b = &base->ports[p->dpdk_id];
        vs_counters_sum_port(w, n_workers, p->dpdk_id, &c);
        json_object_set_new(ports, p->name,
                            json_pack("{s:I, s:I, s:I, s:I, s:o}", "rx_packets",
                                      (json_int_t)(c.rx_packets - b->rx_packets), "rx_bytes",
                                      (json_int_t)(c.rx_bytes - b->rx_bytes), "tx_packets",
                                      (json_int_t)(c.tx_packets - b->tx_packets), "tx_bytes",
                                      (json_int_t)(c.tx_bytes - b->tx_bytes), "drops",
                                      drops_to_json(c.drops, b->drops)));
    }
    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice *s = &cfg->slices[i];
        if (!s->used)
            continue;
        struct vs_slice_counters c;
        const struct vs_slice_counters *b = &base->slices[i];
        vs_counters_sum_slice(w, n_workers, i, &c);
        json_object_set_new(
                slices, s->name,
                json_pack("{s:I, s:I, s:I, s:I, s:o}", "to_vm_packets",
                          (json_int_t)(c.to_vm_packets - b->to_vm_packets), "to_vm_bytes",
                          (json_int_t)(c.to_vm_bytes - b->to_vm_bytes), "to_wire_packets",
                          (json_int_t)(c.to_wire_packets - b->to_wire_packets), "to_wire_bytes",
                          (json_int_t)(c.to_wire_bytes - b->to_wire_bytes), "drops",
                          drops_to_json(c.drops, b->drops)));
    }
    return json_pack("{s:o, s:o}", "ports", ports, "slices", slices);
}
