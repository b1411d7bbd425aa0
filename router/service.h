/* What evrd does for a request: the ops of its control socket (ctl/), each
 * change of the partition as a transaction, and the resync of the vswitch.
 *
 * A change (split, move, free, apply) is:
 *   1. checked: applied to a copy of the partition by its rules
 *      (partition.h), refused whole with the slice and owner in conflict;
 *   2. planned: the vswitch requests from what the vswitch has to what the
 *      new partition needs (vswitch_plan.h), then the passthrough steps (VF
 *      settings and binding, hot-plug: vf_plan.h); with "dry_run" the reply
 *      is the plan and the partition it would give, and nothing changes;
 *   3. applied: each request in order; when one is refused, the ones done
 *      are undone in reverse, and the reply names the step and the reason;
 *   4. persisted: the new partition is saved (state.h) before the reply, and
 *      before evrd believes it; a save that fails is rolled back like a
 *      refused step.
 * evrd kept at any instant of this leaves the old partition on disk or the
 * new one; on restart evrd reads the vswitch's own state (its dump) and
 * plans from that, so the vswitch always ends up carrying the partition on
 * disk.
 *
 * The vswitch is reached through struct evrd_vswitch, so unit tests put
 * evr-vswitch's own config rules behind it instead of a process. */
#ifndef EVR_ROUTER_SERVICE_H
#define EVR_ROUTER_SERVICE_H

#include <jansson.h>
#include <stdbool.h>

#include "appliance.h"
#include "common/error.h"
#include "ctl/protocol.h"
#include "events.h"
#include "partition.h"
#include "passthrough.h"
#include "vm_supervisor.h"

struct evrd_vswitch {
    /* Sends one request; returns its reply's object (ok), or NULL with err
     * (the vswitch's refusal, or ENOTCONN when it is not there). */
    json_t *(*call)(void *ctx, const json_t *req, struct evr_err *err);
    void *ctx;
};

enum { EVRD_WAIT_VSWITCH, EVRD_WAIT_PASSTHROUGH, EVRD_WAIT_VM, EVRD_WAIT_KINDS };

struct evrd {
    struct evr_appliance *appliance;
    struct evr_partition partition;
    const char *run_dir; /* where the VMs' vhost-user sockets are */
    struct evrd_vswitch vswitch;
    json_t *vs_state; /* what the vswitch carries (vswitch_plan.h); NULL: unknown */
    unsigned vs_restarts;
    int vs_pid; /* the vswitch process, for show; 0: none */
    struct evr_events *events;
    struct vm_supervisor *vms; /* NULL: evrd does not run the VMs (unit tests) */
    /* The passthrough side: VF settings and binding, hot-plug (passthrough.h).
     * NULL: passthrough slices are checked and kept, not given to the VMs. */
    struct evrd_passthrough *pt;
    uint8_t link_seen[EVR_APPL_PORT_MAX]; /* LAG members' links, by port index (link_watch.h) */
    double links_next;                    /* when they are asked for next */
    /* Where evrd_run_plan's time went since it was last zeroed, in
     * microseconds: waiting for the vswitch, for the passthrough steps
     * (VF settings, hot-plug), for the VMs' links. A change's reply says it
     * (time_us). */
    double wait_us[EVRD_WAIT_KINDS];
};

/* Ready to serve: the partition on disk (or an empty one) for appliance a.
 * The vswitch is brought to it by evrd_vswitch_sync. */
int evrd_init(struct evrd *d, struct evr_appliance *a, const char *run_dir,
              const struct evrd_vswitch *vs, struct evr_events *events, struct vm_supervisor *vms,
              struct evr_err *err);
void evrd_fini(struct evrd *d);

/* Reads what the vswitch carries (dump) and brings it to the partition:
 * after evrd starts, and after the vswitch restarts. */
int evrd_vswitch_sync(struct evrd *d, struct evr_err *err);

/* The vswitch went away: what it carries is unknown until the next sync. */
void evrd_vswitch_lost(struct evrd *d);

/* Runs plan steps (vswitch_plan.h, vf_plan.h) in order; on a refusal undoes
 * the done ones in reverse, and err names the step. */
int evrd_run_plan(struct evrd *d, const json_t *plan, struct evr_err *err);

/* The control socket's ops, for ctl_server_open. */
extern const struct ctl_op evrd_ops[];
extern const size_t evrd_n_ops;

#endif
