/* evrd's show op (service.h's ops table): the partition and its LAGs, the
 * inventory, the vswitch, the VMs, one VM (its ports' links and what they
 * carry), the vswitch's counters. Reads evrd's state; changes nothing. */
#ifndef EVR_ROUTER_SHOW_H
#define EVR_ROUTER_SHOW_H

#include <jansson.h>

#include "common/error.h"

/* {"what": partition|inventory|vswitch|vms|stats} or {"what": "vm", "name"}. */
int evrd_op_show(void *ctx, json_t *req, json_t *reply, struct evr_err *err);

#endif
