/* The partition: which router-engine VM owns which slice of the appliance,
 * and which of its network ports carries it. It is what `evr split`, `move`
 * and `free` change and what evrd keeps on disk (state.h).
 *
 * Ownership is kept per unit, so that any slice can be split off any other:
 * a whole port, one VLAN of a port, one VF of a port's PF. The rules:
 *   - a unit has at most one owner;
 *   - a port owned whole owns its VLANs and VFs too: nobody else holds a
 *     piece of it, and its owner holds no pieces beside it;
 *   - VLAN slices go through the vswitch ("vswitch" mode), VF slices are
 *     passed through ("passthrough" mode), a whole port is either (passthrough
 *     only when a PCI function backs it);
 *   - a VF may carry a port VLAN (`evr split port2/vf0 vm-a --vlan 100`): the
 *     NIC tags its frames and gives it only that VLAN's; VFs of one port on
 *     the same VLAN belong to one VM, as a VLAN has one owner;
 *   - each VM that owns anything of a port in vswitch mode reaches it on one
 *     of its own network ports (virtio-net), the same one for as long as it
 *     owns any of it, so the guest's interface order never changes under it.
 *
 * LAGs (`evr join`, lag.h): whole ports of one VM in vswitch mode joined
 * into one link, reached on one of the VM's network ports; they move together
 * and a member freed leaves its LAG.
 *
 * A change is applied whole or not at all: on any refusal the partition is
 * left exactly as it was and err names the slice, and the owner in conflict.
 * A change that already holds succeeds with *changed false. */
#ifndef EVR_ROUTER_PARTITION_H
#define EVR_ROUTER_PARTITION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "appliance.h"
#include "common/error.h"
#include "slice.h"

#define EVR_NO_VM_PORT 0xffu
#define EVR_LAG_MAX    8u /* LAGs, as many as evr-vswitch takes (VS_LAG_MAX) */
#define EVR_LAG_PORTS  8u /* members of one LAG (VS_LAG_MEMBER_MAX) */

enum evr_slice_mode {
    EVR_MODE_VSWITCH,     /* through evr-vswitch to a virtio-net port of the VM */
    EVR_MODE_PASSTHROUGH, /* the PCI function given to the VM with VFIO */
};

enum evr_lag_mode {
    EVR_LAG_ACTIVE_BACKUP, /* everything on the first member up: needs nothing of the far end */
    EVR_LAG_BALANCE,       /* flows hashed over the members up: the far end must bond them too */
};

/* The partition of one port. Owners are VM indexes in the appliance + 1;
 * 0 means free. */
struct evr_port_share {
    uint8_t whole;
    uint8_t whole_mode;             /* enum evr_slice_mode, when whole != 0 */
    uint8_t vlan[EVR_VLAN_MAX + 1]; /* [0] unused */
    uint8_t vf[EVR_VF_MAX + 1];
    uint16_t
            vf_vlan[EVR_VF_MAX + 1]; /* a VF's port VLAN, which the NIC tags and filters; 0: none */
    uint8_t vm_port[EVR_APPL_VM_MAX]; /* per VM: its port carrying this one, or EVR_NO_VM_PORT */
    uint8_t lag;                      /* 0, or the index + 1 of the LAG it is a member of */
};

struct evr_partition {
    uint64_t generation; /* +1 for every change made */
    unsigned nports;     /* as the appliance's ports, in its order */
    struct evr_port_share *ports;
    uint8_t lag_mode[EVR_LAG_MAX]; /* enum evr_lag_mode of each LAG that has members */
};

enum evr_change_op {
    EVR_CHANGE_SPLIT, /* give free slices to vm */
    EVR_CHANGE_MOVE,  /* give owned slices to vm, whoever owns them */
    EVR_CHANGE_FREE,  /* take slices from their owners */
    EVR_CHANGE_JOIN,  /* make whole ports one LAG of vm (lag.h) */
};

struct evr_change {
    enum evr_change_op op;
    struct evr_slice_list slices;
    int vm;                   /* appliance VM index; unused for FREE */
    enum evr_slice_mode mode; /* for whole ports; VLANs are vswitch, VFs passthrough */
    bool mode_given;          /* mode was asked for; else split means vswitch, move keeps it */
    int vm_port;              /* split of one port: which VM port carries it; -1: the first free */
    uint16_t vlan;            /* VF slices: their port VLAN; 0: none (a move keeps the VFs') */
    enum evr_lag_mode lag_mode; /* JOIN */
    bool lag_mode_given;        /* else a new LAG is active-backup, a grown one keeps its mode */
    unsigned lag_index;         /* JOIN: 1 + the LAG to make (a state file's); 0: the first free */
};

/* An empty partition for appliance a. */
int evr_partition_init(struct evr_partition *p, const struct evr_appliance *a, struct evr_err *err);
void evr_partition_free(struct evr_partition *p);

/* A copy of src into *dst (its own tables). */
int evr_partition_copy(struct evr_partition *dst, const struct evr_partition *src,
                       struct evr_err *err);

/* Applies c; see the rules above. Error codes: EINVAL (a slice the appliance
 * does not have or a mode it cannot take), EBUSY (owned by another VM),
 * ENOENT (a move of a free slice), ENOSPC (the VM has no free network port,
 * or no LAG is free), EEXIST (a state file's LAG named twice). */
int evr_partition_apply(struct evr_partition *p, const struct evr_appliance *a,
                        const struct evr_change *c, bool *changed, struct evr_err *err);

/* The partition as a JSON array of holdings, one per owned run, in port
 * order: {"slice":"port8.100-199","vm":"vm-b","mode":"vswitch","vm_port":0}.
 * "vm_port" is there for vswitch mode only, "vlan" for VFs with a port VLAN
 * ({"slice":"port2/vf0","vm":"vm-a","mode":"passthrough","vlan":100}). A LAG
 * is one holding of its members:
 * {"slice":"port0-1,port3", ..., "lag":"lag0","lag_mode":"balance"}.
 * The same objects are the state
 * file, `evr show partition -j` and `evr apply`'s input. */
json_t *evr_partition_to_json(const struct evr_partition *p, const struct evr_appliance *a);

/* Rebuilds a partition from holdings, each checked by the same rules as a
 * split; source names the input in messages. On failure *p is untouched. */
int evr_partition_from_json(struct evr_partition *p, const struct evr_appliance *a,
                            const json_t *holdings, const char *source, struct evr_err *err);

const char *evr_slice_mode_name(enum evr_slice_mode m);

#endif
