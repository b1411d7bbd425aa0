/* The passthrough side of a partition: which PCI functions each VM is given
 * (SR-IOV VFs of a port's PF, and whole ports in passthrough mode), and the
 * steps that take the host and the running VMs from one partition to the
 * next.
 *
 * A VF given to a VM is bound to vfio-pci and carries its settings, set by
 * the PF's driver over rtnetlink: a MAC made from the VM's name, the port
 * and the VF (evr_vf_mac), its port VLAN when the slice has one (the NIC
 * tags the VF's frames and gives it that VLAN's only), spoof checking on,
 * trust off, no rate limit. A free VF is reset to the clean settings and
 * unbound (evr_vf_release), so nothing of its last owner leaks to the next.
 *
 * Steps, each with the request that undoes it, as the vswitch plan's are
 * ({"via": "passthrough", "request": {...}, "undo": {...}}):
 *   vf-assign  {slice, pf, vf, host, mac, vlan}  a free VF: bind, set
 *   vf-set     {slice, pf, vf, host, mac, vlan}  an owned VF's new settings
 *   vf-release {slice, pf, vf, host}             reset, unbind
 *   device-del {slice, vm, host, timeout_ms}     hot-remove from a running VM
 *   device-add {slice, vm, host}                 hot-add to a running VM
 * in that order of phases: every removal from a running VM first (a move
 * takes the function from its old owner before anything else touches it),
 * then settings, then every hot-add. A VM that does not run gets its
 * functions from its evr-vmm configuration when it starts
 * (evr_vf_passthrough), so only running VMs see device steps.
 *
 * A port that carves VFs keeps its PF with the host's driver, which is what
 * sets the VFs' MAC and VLAN: such a port is neither put on the vswitch
 * (DPDK would take the PF) nor passed through whole (evr_vf_check). */
#ifndef EVR_ROUTER_VF_PLAN_H
#define EVR_ROUTER_VF_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "appliance.h"
#include "common/error.h"
#include "partition.h"

#define EVR_VF_ADDR_LEN       13u   /* "0000:01:10.0" and its NUL */
#define EVR_VF_DEL_TIMEOUT_MS 5000u /* how long a running guest has to let go of a function */

/* The VFs a port's PF has carved, by index. */
struct evr_vf_pf {
    char pf[EVR_VF_ADDR_LEN];
    unsigned nvfs;
    char vf[EVR_VF_MAX + 1][EVR_VF_ADDR_LEN];
};

/* Per appliance port (same index): its carved VFs, NULL for a port that
 * carves none. */
struct evr_vf_inventory {
    struct evr_vf_pf *port[EVR_APPL_PORT_MAX];
};

/* The MAC of VF vf of port portN given to VM vm: locally administered and
 * unicast, 02 then the first 5 bytes of the FNV-1a 64-bit hash of
 * "vm/portN/vfI". The same VM gets the same MAC for the same VF across
 * restarts, moves back and evrd restarts; another VM another one. */
void evr_vf_mac(const char *vm, unsigned port, unsigned vf, uint8_t mac[6]);

/* The rules for the ports that carve VFs, on partition p: none of them
 * goes through the vswitch or is passed through whole, and every VF p gives
 * away is carved (in inv). EINVAL naming the slice otherwise. */
int evr_vf_check(const struct evr_partition *p, const struct evr_appliance *a,
                 const struct evr_vf_inventory *inv, struct evr_err *err);

/* The steps from partition from to partition to (both checked). running
 * has a bit per VM index whose evr-vmm runs. An empty array when nothing
 * passed through changes. */
json_t *evr_vf_plan(const struct evr_partition *from, const struct evr_partition *to,
                    const struct evr_appliance *a, const struct evr_vf_inventory *inv,
                    uint64_t running, struct evr_err *err);

/* The steps that bring every carved VF to partition p whatever state it is
 * in (evrd's start): vf-assign for the owned ones, vf-release for the free
 * ones. Both are idempotent on the host. */
json_t *evr_vf_sync_plan(const struct evr_partition *p, const struct evr_appliance *a,
                         const struct evr_vf_inventory *inv, struct evr_err *err);

/* The device steps that bring running VM vm, whose evr-vmm holds the
 * functions `held` (an array of PCI addresses, from its status), to
 * partition p: a device-del of each function evrd manages (a carved VF, a
 * PCI port) that it holds and p does not give it, appended to dels; a
 * device-add of each function p gives it and it does not hold, appended to
 * adds (evrd's start, after a restart adopted running VMs). */
int evr_vf_device_sync(const struct evr_partition *p, const struct evr_appliance *a,
                       const struct evr_vf_inventory *inv, unsigned vm, const json_t *held,
                       json_t *dels, json_t *adds, struct evr_err *err);

/* The PCI addresses VM vm is given in p, for its evr-vmm configuration's
 * "passthrough": its VFs (port order, then VF order), then the ports it
 * holds whole in passthrough mode. */
json_t *evr_vf_passthrough(const struct evr_partition *p, const struct evr_appliance *a,
                           const struct evr_vf_inventory *inv, unsigned vm);

#endif
