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
 * Only link takes fields. pause, resume, stop and link between two boots
 * (on-reboot restart) are refused with EAGAIN; link of an interface the VM
 * does not have with ENOENT. The socket is served by a thread of its
 * own that polls the server's fd beside a stop pipe. */
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
