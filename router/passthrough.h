/* How evrd carries out the passthrough side of its partition (vf_plan.h):
 * the steps go to an executor behind a call, as the vswitch's requests do,
 * so that unit tests put a model of the host and of evr-vmm there instead
 * of sysfs, rtnetlink and VM control sockets (vf_host.h is the real one).
 *
 * The executor answers the steps of vf_plan.h and two queries:
 *   vf-show {pf, vfs}  ->  {"vf": [{vf, host, driver, mac, vlan, spoofchk, trust}]}
 *                          for `evr show inventory`;
 *   vm-functions {vm}  ->  {"functions": [PCI address...]}: what a running
 *                          VM's evr-vmm holds (its status);
 * and the VMs' link steps (vm_link.h: vm-link {name, vm, iface, up}), since
 * it is the one that speaks to the VMs' evr-vmm. */
#ifndef EVR_ROUTER_PASSTHROUGH_H
#define EVR_ROUTER_PASSTHROUGH_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "vf_plan.h"

struct evrd_passthrough {
    /* Carries out one step's request; its reply's object, or NULL with err
     * naming the function (PCI address) and what failed. */
    json_t *(*call)(void *ctx, const json_t *req, struct evr_err *err);
    /* A bit per appliance VM index whose evr-vmm runs: hot-plug goes there. */
    uint64_t (*running)(void *ctx);
    void *ctx;
    struct evr_vf_inventory inv; /* the VFs the host carved, per port */
};

struct evrd;

/* Brings the host and the running VMs to evrd's partition (evrd's start,
 * after its VFs are carved and running VMs adopted): every function a
 * running VM holds and does not own leaves it, every carved VF is brought
 * to its settings (owned: bound to vfio-pci and set; free: reset and
 * unbound), every function a running VM owns and lacks is hot-added, and
 * the running VMs' links are set to the partition's (vm_link.h).
 * On a refusal the steps done are undone and err names the step. */
int evrd_passthrough_sync(struct evrd *d, struct evr_err *err);

/* The PCI functions VM vm holds in evrd's partition, for its evr-vmm
 * configuration (vm_supervisor.h's passthrough hook; ctx is the evrd). */
json_t *evrd_vm_passthrough(void *ctx, unsigned vm);

/* The inventory's VF part of port index i: {"pci", "carved", "vf": [...current
 * settings...]}, or NULL when the port carves none. */
json_t *evrd_passthrough_port_json(struct evrd *d, unsigned i);

#endif
