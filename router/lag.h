/* The partition's LAGs (`evr join PORTS VM [--lag active-backup|balance]`):
 * whole ports of one VM joined into one link that the vswitch carries to one
 * of the VM's network ports (vswitch_lag.h says how).
 *
 * The rules, on top of partition.h's:
 *   - a member is a port owned whole, in vswitch mode, by the LAG's VM; a
 *     port with VLANs or VFs of its own (anybody's), another VM's port or a
 *     member of another LAG cannot join (the refusal names the slice and its
 *     owner);
 *   - joining ports to a LAG the VM has grows it; a port the VM owns whole
 *     already may join (it leaves its own VM port for the LAG's);
 *   - every member reaches the VM on the same network port;
 *   - a LAG moves whole: a move names every member or none of them;
 *   - freeing a member takes it out of its LAG, which keeps the others; the
 *     LAG goes with its last member.
 * LAGs are named lagN, N the first index free when the LAG was made, and keep
 * the name for their life (it is the vswitch's name for them too).
 *
 * These are partition.c's helpers; they work on the scratch copy of a change. */
#ifndef EVR_ROUTER_LAG_H
#define EVR_ROUTER_LAG_H

#include <jansson.h>
#include <stdbool.h>

#include "appliance.h"
#include "common/error.h"
#include "partition.h"

const char *evr_lag_mode_name(enum evr_lag_mode m);

/* Parses "active-backup" or "balance"; -1 for anything else. */
int evr_lag_mode_parse(const char *text, enum evr_lag_mode *out);

/* What a change asks of LAGs before it is applied to the ports: a join names
 * whole ports only, in vswitch mode, at most EVR_LAG_PORTS; a move takes every
 * member of a LAG or none, and not into passthrough. */
int evr_lag_check(const struct evr_partition *p, const struct evr_appliance *a,
                  const struct evr_change *c, struct evr_err *err);

/* A join, once every port of it is c->vm's whole in vswitch mode: makes them
 * one LAG (a new one, or the one some of them are in), with its mode. */
int evr_lag_join(struct evr_partition *next, const struct evr_appliance *a,
                 const struct evr_change *c, bool *changed, struct evr_err *err);

/* Before VM ports are bound: every member of a LAG takes the VM port its
 * first member (in appliance order) has, if any has one. */
void evr_lag_unify_vm_ports(struct evr_partition *next);

/* Port index i just got VM port k of VM v: its LAG's other members too. */
void evr_lag_share_vm_port(struct evr_partition *next, unsigned i, unsigned v);

/* Port index i's LAG as one holding (partition.h), appended to out when i is
 * its lowest-numbered member; nothing for the other members. */
int evr_lag_holding(json_t *out, const struct evr_partition *p, const struct evr_appliance *a,
                    unsigned i);

/* A holding's "lag" and "lag_mode" (either may be NULL: then both must be)
 * into c, a join of the holding's slices; where names the holding. */
int evr_lag_holding_change(const char *lag, const char *lag_mode, struct evr_change *c,
                           const char *where, struct evr_err *err);

/* The LAGs for `evr show`: [{"name","vm","vm_port","mode","members":
 * [{"port":"port0","link":"up"|"down"|"unknown"}]}], link states from the
 * vswitch's dump (NULL: unknown). */
json_t *evr_lag_show(const struct evr_partition *p, const struct evr_appliance *a,
                     const json_t *dump);

/* Whether the partition has any LAG. */
bool evr_lag_any(const struct evr_partition *p);

#endif
