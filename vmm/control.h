/* The control socket of a VM: the control protocol of every evr process
 * (ctl/protocol.h, docs/control.md; mode 0600), with these ops:
 *
 *   {"op":"status"}    -> {"ok":true,"state":"running","vcpus":2,"memory_mib":256,
 *                          "boots":1,"uptime_s":1.5}
 *   {"op":"pause"}     -> {"ok":true,"state":"paused"} once every vCPU is parked
 *   {"op":"resume"}    -> {"ok":true,"state":"running"}
 *   {"op":"stop"}      -> {"ok":true,"state":"stopping"}; evr-vmm exits 0
 *   {"op":"counters"}  -> {"ok":true,"vcpus":[{"vcpu":0,"exits":{"io":N,...}},...]}
 *   {"op":"link","iface":K[,"up":BOOL]}
 *                      -> {"ok":true,"iface":K,"admin_up":B,"backend":B,"up":B}
 *                         sets interface K's link (the controller's choice) when "up"
 *                         is given; "up" in the reply is what the guest sees
 *
 *   {"op":"device-add","host":"0000:01:10.0"}
 *                      -> {"ok":true,"host":"0000:01:10.0","guest":"00:05.0"}
 *                         binds the host function as the passthrough key does, puts
 *                         it in a free slot and notifies the guest (pci_hotplug.h);
 *                         EEXIST if the VM has it, ENOSPC when no slot is free, the
 *                         binding's errno (ENOENT, EBUSY, ...) when it cannot be bound
 *   {"op":"device-del","host":"0000:01:10.0"[,"timeout_ms":5000]}
 *                      -> {"ok":true,"host":"0000:01:10.0"} once the guest ejected it
 *                         and the function is back with its previous driver;
 *                         ETIMEDOUT "guest did not eject ADDR within N ms" (the
 *                         function stays assigned and in use), ENOENT if the VM
 *                         does not have it; timeout_ms 1 to 60000, 5000 by default
 *   status also lists "passthrough":[{"host":ADDR,"guest":"00:05.0"},...]
 *
 * Only link and device-* take fields. pause, resume, stop, link and device-*
 * between two boots (on-reboot restart) are refused with EAGAIN; link of an
 * interface the VM does not have with ENOENT. The socket is served by a
 * thread of its own that polls the server's fd beside a stop pipe; a
 * device-del waiting for the guest holds that thread (requests of other
 * clients are answered after it, within timeout_ms), never a vCPU. */
#ifndef EVR_VMM_CONTROL_H
#define EVR_VMM_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "ctl/server.h"
#include "vm.h"

/* What the control socket acts on: the VM of the current boot (NULL
 * between boots), guarded by lock. */
struct vmm_host {
    pthread_mutex_t lock;
    struct vm *vm;
    unsigned boots;
    bool stop_requested;
    /* Control ops using vm without the lock (device-del while it waits for
     * the guest): the boot loop, having set vm to NULL, waits on idle until
     * busy is 0 before it destroys the VM. */
    unsigned busy;
    pthread_cond_t idle;
    /* The controller's link choice for each of the nnet interfaces (the
     * config's "link", then the link op): kept across boots, and taken
     * between boots for the next one. */
    unsigned nnet;
    bool link_admin_up[CONFIG_MAX_NET];
};

/* The ops above; their handlers take a struct vmm_host * as ctx. */
extern const struct ctl_op control_ops[];
extern const size_t control_n_ops;

struct control {
    struct ctl_server server;
    int stop_pipe[2];
    pthread_t thread;
    bool started; /* control_close() does nothing while false */
};

int control_open(struct control *c, struct vmm_host *host, const char *path, char *err,
                 size_t errlen);
void control_close(struct control *c);

#endif
