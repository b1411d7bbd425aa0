/* The vswitch's side of the partition's LAGs (lag.h): what evr-vswitch must
 * declare for them, and the steps between two such declarations.
 *
 * A LAG lagN of the partition is, in the vswitch:
 *   - a wire port per member (as for any port a VM reaches, vswitch_plan.h);
 *   - a LAG "lagN" of those ports (lag-set; hash l34, used by balance);
 *   - one trunk slice "lagN" from the LAG to the VM's network port, every
 *     VLAN and untagged frames: the members carry no slice of their own.
 * A LAG that moves to another VM is one slice-set of its slice.
 *
 * In a plan (vswitch_plan.c) the LAG steps go after the slices shrank (a
 * LAG's slice is gone before the LAG, a port's own slice before the port
 * joins) and before they grow (a LAG is there before its slice, a port left
 * its LAG before it carries a slice of its own). LAGs that lose members
 * shrink before any grows, so a port can go from one LAG to another. */
#ifndef EVR_ROUTER_VSWITCH_LAG_H
#define EVR_ROUTER_VSWITCH_LAG_H

#include <jansson.h>

#include "appliance.h"
#include "common/error.h"
#include "partition.h"

/* Adds p's LAGs to state (evr_vswitch_state's): its "lags" object, and each
 * LAG's slice to its "slices". */
int evr_vswitch_lag_state(json_t *state, const struct evr_partition *p,
                          const struct evr_appliance *a, struct evr_err *err);

/* The "lags" of a state from a vswitch's dump ("lags": [{name, mode, hash,
 * members}]). */
int evr_vswitch_lags_from_dump(json_t *state, const json_t *dump);

/* Appends to plan the lag-del and lag-set steps from state from to state to;
 * -1 when out of memory. */
int evr_vswitch_lag_steps(json_t *plan, const json_t *from, const json_t *to);

/* Shared with vswitch_plan.c, which defines them: a whole-port slice (every
 * VLAN and untagged) of uplink to vm_port, added to slices as name; a plan
 * step; a request of op (port-del, slice-del, lag-del) for name. */
int evr_vswitch_whole_slice(json_t *slices, const char *name, const char *uplink,
                            const char *vm_port, struct evr_err *err);
int evr_vswitch_step(json_t *plan, json_t *request, json_t *undo);
json_t *evr_vswitch_del_request(const char *op, const char *name);

#endif
