/* The tables the worker lcores read: the declared config (config.h) compiled
 * into flat, lookup-ready arrays. One set is immutable once published; the
 * control thread builds a new set for every change, publishes it with one
 * pointer store and frees the old set after an RCU grace period (datapath.h).
 *
 * vs_classify() is the whole forwarding decision for one frame; the worker
 * applies it to mbufs, the unit tests apply it to byte arrays. */
#ifndef EVR_VSWITCH_TABLES_H
#define EVR_VSWITCH_TABLES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ether.h"
#include "lag.h"

#define VS_DPDK_PORT_MAX 32u /* DPDK port ids the tables index (RTE_MAX_ETHPORTS) */
#define VS_WORKER_MAX    16u
#define VS_RXQ_MAX       8u    /* receive queues per port */
#define VS_VLAN_SLOTS    4096u /* index 0: untagged and priority-tagged */

enum vs_port_kind {
    VS_KIND_NONE,
    VS_KIND_WIRE,
    VS_KIND_VM,
};

/* Why a frame was dropped; counted per port and, when known, per slice. */
enum vs_drop {
    VS_DROP_NO_SLICE,          /* from the wire: its VLAN belongs to no slice */
    VS_DROP_VLAN_NOT_IN_SLICE, /* from a VM: its VLAN is not in the VM's slice */
    VS_DROP_TAGGED_ON_ACCESS,  /* from a VM on an access slice: frame already tagged */
    VS_DROP_NO_SLICE_ON_VM,    /* from a VM port that carries no slice */
    VS_DROP_NO_MEMBER,         /* toward a LAG with no member up */
    VS_DROP_RUNT,              /* shorter than an Ethernet header */
    VS_DROP_TX_FULL,           /* the output queue did not take it */
    VS_DROP_NO_HEADROOM,       /* no room in the buffer to push a tag */
    VS_DROP_REASONS,
};

enum vs_action {
    VS_ACT_FORWARD, /* as it is */
    VS_ACT_POP,     /* remove the outer 802.1Q tag, then forward */
    VS_ACT_PUSH,    /* insert an 802.1Q tag with .vlan, then forward */
    VS_ACT_DROP,
};

struct vs_verdict {
    uint8_t action; /* enum vs_action */
    uint8_t drop;   /* enum vs_drop when action is VS_ACT_DROP */
    uint8_t slice;  /* slice index, VS_NONE when the frame matched none */
    uint16_t out_port;
    uint16_t vlan;
};

struct vs_port_entry {
    uint8_t kind;   /* enum vs_port_kind */
    uint8_t uplink; /* wire: the uplink it belongs to (itself or its LAG) */
    uint8_t slice;  /* vm: the slice it carries, or VS_NONE */
    uint8_t index;  /* position in vs_config.ports */
    /* Bit p: frames from this port can leave by DPDK port p (wire: the VM
     * ports of its uplink's slices; vm: the members of its slice's
     * uplink). The worker flushes these after each burst instead of
     * marking a port per packet. */
    uint32_t out_ports;
};

struct vs_slice_entry {
    bool used;
    uint8_t mode; /* enum vs_slice_mode */
    uint8_t uplink;
    uint16_t access_vlan; /* access: VLAN pushed toward the wire, 0 for none */
    uint16_t vm_port;
};

/* The decision for an 802.1Q-tagged frame from the wire, by its VLAN id:
 * what vs_classify_from_wire() decides for such a frame, precomputed so the
 * worker's fast path takes it in one 16-bit load. The slice's VM port (it
 * carries that slice only) in VS_FWD_PORT, flags above it; 0: not a
 * slice's VLAN (vs_classify() decides). */
typedef uint16_t vs_wire_fwd;

#define VS_FWD_PORT  0x00ffu
#define VS_FWD_VALID 0x0100u
#define VS_FWD_POP   0x0200u /* access slice: remove the tag */

/* A wire port, or a LAG of wire ports: where slices are carved from. */
struct vs_uplink_table {
    uint16_t vlan_slot[VS_VLAN_SLOTS];   /* slice index + 1; 0 = no slice */
    vs_wire_fwd vlan_fwd[VS_VLAN_SLOTS]; /* from vlan_slot and slices */
    bool is_lag;
    uint8_t hash; /* enum vs_lag_hash */
    uint8_t n_members;
    uint16_t member_port[VS_LAG_MEMBER_MAX];
    uint8_t buckets[VS_LAG_BUCKETS];
};

struct vs_rxq {
    uint16_t port;
    uint16_t queue;
};

struct vs_worker_rx {
    uint16_t n;
    struct vs_rxq q[VS_PORT_MAX * VS_RXQ_MAX];
};

struct vs_tables {
    uint64_t generation;
    unsigned n_workers;
    struct vs_port_entry ports[VS_DPDK_PORT_MAX];
    struct vs_slice_entry slices[VS_SLICE_MAX];
    uint8_t n_uplinks;
    struct vs_uplink_table uplinks[VS_PORT_MAX];
    struct vs_worker_rx rx[VS_WORKER_MAX];
};

/* Compiles a config (valid by construction: config.h's mutators keep it so)
 * into a new table set. The queues of a port always go to the same workers
 * ((port id + queue) mod workers), so adding or removing one port moves no
 * other port's queues. Returns NULL when out of memory. */
struct vs_tables *vs_tables_build(const struct vs_config *cfg, unsigned n_workers,
                                  uint64_t generation);
void vs_tables_free(struct vs_tables *t);

const char *vs_drop_name(enum vs_drop d);

/* The forwarding decision for one frame that arrived on in_port:
 * vs_classify() below. It is inline because it runs once per packet on the
 * workers and a call into another object costs measurably at line rate. */
static inline void vs_verdict_drop(struct vs_verdict *v, enum vs_drop why, uint8_t slice)
{
    v->action = VS_ACT_DROP;
    v->drop = (uint8_t)why;
    v->slice = slice;
}

/* The frame's outer tag: 0 untagged, 1 an 802.1Q tag (its VLAN in *vid),
 * -1 a tag the vswitch does not split on (802.1ad S-tag, 0x9100, or an
 * 802.1Q tag cut short). Such frames are never taken for untagged ones. */
static inline int vs_outer_tag(const uint8_t *frame, uint32_t len, uint16_t *vid)
{
    uint16_t tpid = vs_be16(frame + 12);
    *vid = 0;
    if (tpid == VS_TPID_8021Q) {
        if (len < VS_ETH_HLEN + 4)
            return -1;
        *vid = (uint16_t)(vs_be16(frame + 14) & 0x0fffu);
        return 1;
    }
    return (tpid == VS_TPID_8021AD || tpid == VS_TPID_QINQ_OLD) ? -1 : 0;
}

static inline void vs_classify_from_wire(const struct vs_tables *t, const struct vs_port_entry *in,
                                         const uint8_t *frame, uint32_t len, struct vs_verdict *v)
{
    uint16_t vid;
    int tag = vs_outer_tag(frame, len, &vid);
    if (tag < 0 || vid > VS_VLAN_ID_MAX) {
        vs_verdict_drop(v, VS_DROP_NO_SLICE, VS_NONE);
        return;
    }
    uint16_t slot = t->uplinks[in->uplink].vlan_slot[vid];
    if (slot == 0) {
        vs_verdict_drop(v, VS_DROP_NO_SLICE, VS_NONE);
        return;
    }
    const struct vs_slice_entry *s = &t->slices[slot - 1];
    v->slice = (uint8_t)(slot - 1);
    v->out_port = s->vm_port;
    v->action = (tag && s->mode == VS_SLICE_ACCESS) ? VS_ACT_POP : VS_ACT_FORWARD;
}

static inline void vs_classify_from_vm(const struct vs_tables *t, const struct vs_port_entry *in,
                                       const uint8_t *frame, uint32_t len, struct vs_verdict *v)
{
    if (in->slice == VS_NONE) {
        vs_verdict_drop(v, VS_DROP_NO_SLICE_ON_VM, VS_NONE);
        return;
    }
    const struct vs_slice_entry *s = &t->slices[in->slice];
    const struct vs_uplink_table *u = &t->uplinks[s->uplink];
    uint16_t vid;
    int tag = vs_outer_tag(frame, len, &vid);
    if (s->mode == VS_SLICE_ACCESS) {
        if (tag) {
            vs_verdict_drop(v, VS_DROP_TAGGED_ON_ACCESS, in->slice);
            return;
        }
        v->action = s->access_vlan ? VS_ACT_PUSH : VS_ACT_FORWARD;
        v->vlan = s->access_vlan;
    } else {
        if (tag < 0 || vid > VS_VLAN_ID_MAX || u->vlan_slot[vid] != in->slice + 1) {
            vs_verdict_drop(v, VS_DROP_VLAN_NOT_IN_SLICE, in->slice);
            return;
        }
        v->action = VS_ACT_FORWARD;
    }
    v->slice = in->slice;
    if (!u->is_lag) {
        v->out_port = u->member_port[0];
        return;
    }
    uint8_t m = u->buckets[vs_lag_hash(frame, len, u->hash) % VS_LAG_BUCKETS];
    if (m == VS_LAG_NO_MEMBER) {
        vs_verdict_drop(v, VS_DROP_NO_MEMBER, in->slice);
        return;
    }
    v->out_port = u->member_port[m];
}

static inline void vs_classify(const struct vs_tables *t, uint16_t in_port, const uint8_t *frame,
                               uint32_t len, struct vs_verdict *v)
{
    *v = (struct vs_verdict){.slice = VS_NONE};
    if (len < VS_ETH_HLEN) {
        vs_verdict_drop(v, VS_DROP_RUNT, VS_NONE);
        return;
    }
    const struct vs_port_entry *in = &t->ports[in_port % VS_DPDK_PORT_MAX];
    if (in->kind == VS_KIND_WIRE)
        vs_classify_from_wire(t, in, frame, len, v);
    else if (in->kind == VS_KIND_VM)
        vs_classify_from_vm(t, in, frame, len, v);
    else
        vs_verdict_drop(v, VS_DROP_NO_SLICE, VS_NONE);
}

#endif
