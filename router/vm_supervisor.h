/* evrd's router-engine VMs: one evr-vmm process each, started from the
 * appliance's "vmm" object, watched, and restarted when it dies.
 *
 * For VM NAME evrd writes RUN_DIR/NAME.json: the appliance's evr-vmm
 * configuration plus what is evrd's to set — "pin" (the VM's cores, one per
 * vCPU), "control" (RUN_DIR/NAME.ctl), "console" (socket:RUN_DIR/NAME.console)
 * and, unless the appliance says otherwise, "on_reboot": "restart"; and "net":
 * the appliance's management ports, then one {"vhost_user": RUN_DIR/NAME.K.sock,
 * "link": "up" or "down"} per network port K, which the vswitch's VM port
 * NAME.K connects to, its link up while it carries something (vm_link.h); and
 * "passthrough": the appliance's own functions, then the ones the partition
 * gives the VM (its VFs, its ports in passthrough mode), asked of the
 * passthrough hook at every start, a restart after a crash too — and runs
 * `evr-vmm --config RUN_DIR/NAME.json` in its own session, output appended to
 * RUN_DIR/NAME.log. A VM whose control socket already answers is adopted
 * (an evrd restart does not restart the VMs), its pid from the socket's peer
 * credentials.
 *
 * evr-vmm writes its exit status to RUN_DIR/NAME.exit ("exit_file") when
 * it ends on its own terms, so an adopted VM's end is known too: only a VM
 * killed by a signal leaves none, which counts as a crash.
 *
 * What happens when evr-vmm ends, by its exit status (evr-vmm(1)):
 *   0    the guest powered off, or was stopped: the VM stays stopped;
 *   1    the VM could not be set up: stopped, not retried (the log says why);
 *   else a crash (2 a guest fault, 128+N a signal): restarted (backoff.h).
 * Each VM's state, pid, restarts and last exit are in `evr show vms`. */
#ifndef EVR_ROUTER_VM_SUPERVISOR_H
#define EVR_ROUTER_VM_SUPERVISOR_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "appliance.h"
#include "backoff.h"
#include "common/error.h"
#include "events.h"

enum vm_state {
    VM_STATE_STOPPED,  /* not running, and not to be restarted */
    VM_STATE_RUNNING,  /* evr-vmm runs */
    VM_STATE_STOPPING, /* asked to stop, not gone yet */
    VM_STATE_BACKOFF,  /* crashed; restarted at restart_at */
};

struct vm_proc {
    const struct evr_appl_vm *vm;
    enum vm_state state;
    pid_t pid;
    bool child;
    int pidfd; /* -1 when not running */
    unsigned restarts;
    int last_exit; /* as a shell shows it; -1 none yet */
    double started_at, restart_at;
    struct backoff backoff;
    char config[PATH_MAX], control[108], console[PATH_MAX], log[PATH_MAX], run_dir[PATH_MAX];
    char exit_file[PATH_MAX]; /* evr-vmm's exit status, for an adopted VM */
};

struct vm_supervisor {
    const struct evr_appliance *appliance;
    const char *binary;
    struct evr_events *events;
    unsigned n;
    struct vm_proc vms[EVR_APPL_VM_MAX];
    /* The PCI addresses the partition gives VM vm (a JSON array), for its
     * configuration; NULL: none (passthrough.h's evrd_vm_passthrough). */
    json_t *(*passthrough)(void *ctx, unsigned vm);
    void *passthrough_ctx;
    /* Bit k set: VM vm's network port k starts with its link up, for it
     * carries something (vm_link.h's evrd_vm_links); NULL: all up. */
    uint32_t (*links)(void *ctx, unsigned vm);
    void *links_ctx;
};

int vm_supervisor_init(struct vm_supervisor *s, const struct evr_appliance *a, const char *binary,
                       const char *run_dir, struct evr_events *events, struct evr_err *err);

/* Adopts VM i when its evr-vmm answers already (an evrd restart); returns
 * whether it runs now. */
bool vm_supervisor_adopt(struct vm_supervisor *s, unsigned i);

/* Starts (or adopts) VM i; a running one is left as it is. */
int vm_supervisor_start(struct vm_supervisor *s, unsigned i, struct evr_err *err);

/* Asks VM i to stop (SIGTERM: evr-vmm stops the guest and exits 0). */
int vm_supervisor_stop(struct vm_supervisor *s, unsigned i, struct evr_err *err);

/* VM i's pidfd turned readable: reaps it and decides what comes next. */
void vm_supervisor_exited(struct vm_supervisor *s, unsigned i, double now);

/* Restarts the VMs whose backoff has run out; returns the earliest pending
 * restart time, or 0 when none is pending. */
double vm_supervisor_tick(struct vm_supervisor *s, double now);

/* Lets go of every VM without stopping it (evrd's exit). */
void vm_supervisor_release(struct vm_supervisor *s);

json_t *vm_supervisor_to_json(const struct vm_supervisor *s);
const char *vm_state_name(enum vm_state st);

#endif
