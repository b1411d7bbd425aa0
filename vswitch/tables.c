/* Compiling the config into worker tables, and the per-frame decision. */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

struct vs_tables *vs_tables_build(const struct vs_config *cfg, unsigned n_workers,
                                  uint64_t generation)
{
    if (n_workers == 0 || n_workers > VS_WORKER_MAX)
        return NULL;
    struct vs_tables *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->generation = generation;
    t->n_workers = n_workers;

    uint8_t port_uplink[VS_PORT_MAX];
    uint8_t lag_uplink[VS_LAG_MAX];
    memset(port_uplink, VS_NONE, sizeof(port_uplink));
    memset(lag_uplink, VS_NONE, sizeof(lag_uplink));

    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &cfg->ports[i];
        if (!p->used || p->role != VS_ROLE_WIRE || vs_config_lag_of_port(cfg, i) >= 0)
            continue;
        struct vs_uplink_table *u = &t->uplinks[t->n_uplinks];
        u->n_members = 1;
        u->member_port[0] = p->dpdk_id;
        port_uplink[i] = t->n_uplinks++;
    }
    for (unsigned i = 0; i < VS_LAG_MAX; i++) {
        const struct vs_lag *l = &cfg->lags[i];
        if (!l->used)
            continue;
        struct vs_uplink_table *u = &t->uplinks[t->n_uplinks];
        u->is_lag = true;
        u->hash = (uint8_t)l->hash;
        u->n_members = l->n_members;
        uint32_t up = 0;
        for (unsigned m = 0; m < l->n_members; m++) {
            const struct vs_port *p = &cfg->ports[l->members[m]];
            u->member_port[m] = p->dpdk_id;
            if (p->admin_up && p->link_up)
                up |= 1u << m;
            port_uplink[l->members[m]] = t->n_uplinks;
        }
        vs_lag_fill_buckets(l->mode, l->n_members, up, u->buckets);
        lag_uplink[i] = t->n_uplinks++;
    }

    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &cfg->ports[i];
        if (!p->used || p->dpdk_id >= VS_DPDK_PORT_MAX)
            continue;
        struct vs_port_entry *e = &t->ports[p->dpdk_id];
        e->kind = p->role == VS_ROLE_WIRE ? VS_KIND_WIRE : VS_KIND_VM;
        e->uplink = port_uplink[i];
        e->slice = VS_NONE;
        e->index = (uint8_t)i;
        for (unsigned q = 0; q < p->n_rxq && q < VS_RXQ_MAX; q++) {
            struct vs_worker_rx *w = &t->rx[(p->dpdk_id + q) % n_workers];
            w->q[w->n].port = p->dpdk_id;
            w->q[w->n].queue = (uint16_t)q;
            w->n++;
        }
    }

    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice *s = &cfg->slices[i];
        if (!s->used)
            continue;
        uint8_t up = s->uplink_is_lag ? lag_uplink[s->uplink] : port_uplink[s->uplink];
        uint16_t vm_port = cfg->ports[s->vm].dpdk_id;
        struct vs_slice_entry *e = &t->slices[i];
        e->used = true;
        e->mode = (uint8_t)s->mode;
        e->uplink = up;
        e->vm_port = vm_port;
        if (s->mode == VS_SLICE_ACCESS && s->n_ranges == 1)
            e->access_vlan = s->ranges[0].first;
        if (vm_port < VS_DPDK_PORT_MAX)
            t->ports[vm_port].slice = (uint8_t)i;
        struct vs_uplink_table *u = &t->uplinks[up];
        if (s->untagged)
            u->vlan_slot[0] = (uint16_t)(i + 1);
        for (unsigned r = 0; r < s->n_ranges; r++)
            for (unsigned v = s->ranges[r].first; v <= s->ranges[r].last; v++)
                u->vlan_slot[v] = (uint16_t)(i + 1);
    }

    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice_entry *e = &t->slices[i];
        if (!e->used || e->vm_port >= VS_DPDK_PORT_MAX)
            continue;
        const struct vs_uplink_table *u = &t->uplinks[e->uplink];
        for (unsigned m = 0; m < u->n_members; m++) {
            uint16_t wire = u->member_port[m];
            if (wire >= VS_DPDK_PORT_MAX)
                continue;
            t->ports[wire].out_ports |= 1u << e->vm_port;
            t->ports[e->vm_port].out_ports |= 1u << wire;
        }
    }

    /* The fast path's view of vlan_slot: a tagged frame, so access slices
     * pop. VLAN 4095 is never valid (vs_classify_from_wire() drops it). */
    for (unsigned up = 0; up < VS_PORT_MAX; up++) {
        struct vs_uplink_table *u = &t->uplinks[up];
        for (unsigned v = 0; v <= VS_VLAN_ID_MAX; v++) {
            uint16_t slot = u->vlan_slot[v];
            if (slot == 0)
                continue;
            const struct vs_slice_entry *e = &t->slices[slot - 1];
            if (e->vm_port >= VS_DPDK_PORT_MAX)
                continue;
            u->vlan_fwd[v] = (vs_wire_fwd)(e->vm_port | VS_FWD_VALID |
                                           (e->mode == VS_SLICE_ACCESS ? VS_FWD_POP : 0));
        }
    }
    return t;
}

void vs_tables_free(struct vs_tables *t)
{
    free(t);
}

const char *vs_drop_name(enum vs_drop d)
{
    static const char *const names[VS_DROP_REASONS] = {
            [VS_DROP_NO_SLICE] = "no_slice",
            [VS_DROP_VLAN_NOT_IN_SLICE] = "vlan_not_in_slice",
            [VS_DROP_TAGGED_ON_ACCESS] = "tagged_on_access",
            [VS_DROP_NO_SLICE_ON_VM] = "no_slice_on_vm",
            [VS_DROP_NO_MEMBER] = "no_lag_member",
            [VS_DROP_RUNT] = "runt",
            [VS_DROP_TX_FULL] = "tx_full",
            [VS_DROP_NO_HEADROOM] = "no_headroom",
    };
    return (unsigned)d < VS_DROP_REASONS ? names[d] : "?";
}
