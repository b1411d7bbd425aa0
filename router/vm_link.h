/* The links of the VMs' network ports follow the partition: a VM's port
 * that carries something of the vswitch (a whole port, VLANs of one, a
 * LAG) has its link up in the guest, one that carries nothing has it down,
 * as a switch port with nothing behind it would. A router engine's routing
 * then sees at once which of its interfaces lead somewhere: `evr move port3
 * vm-b` takes vm-a's interface down and brings vm-b's up, and the guests'
 * routing protocols react to the carrier instead of waiting for a timeout.
 *
 * A VM that starts gets its links in its evr-vmm configuration (its
 * vswitch ports' "link", vm_supervisor.h); a running one through the
 * control socket's link op, as plan steps after the vswitch's and the
 * passthrough ones, each with its undo:
 *   {"via": "vm", "request": {"op": "vm-link", "name": "vm-a.0", "vm": "vm-a",
 *                             "iface": I, "up": B}, "undo": {... "up": !B}}
 * where name is the VM port as the vswitch calls it and I the evr-vmm
 * interface behind it: the VM's management ports come first. The
 * passthrough executor (passthrough.h) carries them out, as it does the
 * hot-plug steps that also go to a VM's evr-vmm. */
#ifndef EVR_ROUTER_VM_LINK_H
#define EVR_ROUTER_VM_LINK_H

#include <jansson.h>
#include <stdint.h>

#include "appliance.h"
#include "common/error.h"
#include "partition.h"

/* Bit k set: VM vm's network port k carries something in p. */
uint32_t evr_vm_links(const struct evr_partition *p, const struct evr_appliance *a, unsigned vm);

/* The evr-vmm interface number of VM vm's network port k: after the
 * management ports the appliance's "vmm" object declares. */
unsigned evr_vm_port_iface(const struct evr_appl_vm *vm, unsigned k);

/* The link steps from partition from to partition to for the VMs whose
 * bit is set in running: one per network port whose link changes. */
json_t *evr_vm_link_plan(const struct evr_partition *from, const struct evr_partition *to,
                         const struct evr_appliance *a, uint64_t running, struct evr_err *err);

/* The steps that set every network port of the running VMs to p, whatever
 * they have (evrd's start, after it adopted VMs that ran on). */
json_t *evr_vm_link_sync_plan(const struct evr_partition *p, const struct evr_appliance *a,
                              uint64_t running, struct evr_err *err);

/* The supervisor's hook (vm_supervisor.h): evrd's partition's links of VM
 * vm, ctx being struct evrd. */
uint32_t evrd_vm_links(void *ctx, unsigned vm);

#endif
