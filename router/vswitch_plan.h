/* What evr-vswitch must be told so that it carries a partition's vswitch
 * slices, and the requests that take it from one partition to the next.
 *
 * The vswitch state a partition asks for:
 *   - a wire port per appliance port that any VM reaches through the vswitch,
 *     named as the port ("port3"), opened from its backing (netdev: af_packet;
 *     pci: the function's address; devargs: as written);
 *   - a VM port per network port of every VM ("vm-a.0"), a vhost-user client
 *     of the socket evr-vmm listens on (RUN_DIR/vm-a.0.sock): VMs keep their
 *     network ports whatever they own, so these never come and go with a move;
 *   - a trunk slice per (port, VM): "port3" for a port owned whole (its
 *     untagged frames and every VLAN), "port5.vm-a" for the VLANs vm-a holds
 *     of port5. A whole port's slice keeps its name when it moves, so a move
 *     is one slice-set the vswitch publishes at once: no frame is lost.
 *
 * The plan orders its requests so that every intermediate state is one the
 * vswitch accepts: ports first; then each slice that loses VLANs shrinks to
 * what it keeps (or goes); then slices grow to what they gain. Each step
 * carries the request that undoes it, for the rollback of a plan that fails
 * half-way. */
#ifndef EVR_ROUTER_VSWITCH_PLAN_H
#define EVR_ROUTER_VSWITCH_PLAN_H

#include <jansson.h>

#include "appliance.h"
#include "common/error.h"
#include "partition.h"

#define EVR_VS_VLAN_RANGES 16u /* VLAN ranges the vswitch takes in one slice */

/* The requests that build p's vswitch state from nothing, as
 * {"ports": {NAME: port-add request}, "slices": {NAME: slice-set request}}.
 * Refused (EINVAL, naming the slice) when a slice needs more VLAN ranges
 * than the vswitch takes. */
json_t *evr_vswitch_state(const struct evr_partition *p, const struct evr_appliance *a,
                          const char *run_dir, struct evr_err *err);

/* The same shape from what a running vswitch declares (its "dump" reply),
 * to plan from what it has rather than from what evrd last told it. */
json_t *evr_vswitch_state_from_dump(const json_t *dump, struct evr_err *err);

/* The steps from state from to state to (both from evr_vswitch_state):
 * [{"request": {...}, "undo": {...}}, ...]. Empty when they are equal. */
json_t *evr_vswitch_plan(const json_t *from, const json_t *to, struct evr_err *err);

#endif
