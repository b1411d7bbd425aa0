/* The control socket of a VM: a unix stream socket created 0600, speaking
 * JSON lines. Each request is one object with a "command" key:
 *
 *   {"command":"status"}    -> {"ok":true,"state":"running","vcpus":2,...}
 *   {"command":"pause"}     -> {"ok":true,"state":"paused"} once every vCPU is parked
 *   {"command":"resume"}    -> {"ok":true,"state":"running"}
 *   {"command":"stop"}      -> {"ok":true,"state":"stopping"}; evr-vmm exits 0
 *   {"command":"counters"}  -> {"ok":true,"vcpus":[{"vcpu":0,"exits":{"io":N,...}},...]}
 *   {"command":"link","iface":K[,"up":BOOL]}
 *                           -> {"ok":true,"iface":K,"admin_up":B,"backend":B,"up":B}
 *                              sets interface K's link (the controller's choice) if
 *                              "up" is given; "up" in the reply is what the guest sees
 *
 * A bad request gets {"ok":false,"error":"..."} naming what is wrong. */
#ifndef EVR_VMM_CONTROL_H
#define EVR_VMM_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "vm.h"

#define CONTROL_LINE_MAX  4096
#define CONTROL_CLIENTS   8
#define CONTROL_REPLY_MAX (256 * 1024) /* counters of CONFIG_MAX_VCPUS vCPUs fit */

/* What the control socket acts on: the VM of the current boot (NULL
 * between boots), guarded by lock. */
struct vmm_host {
    pthread_mutex_t lock;
    struct vm *vm;
    unsigned boots;
    bool stop_requested;
};

struct control {
    struct vmm_host *host;
    char path[108];
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;
    bool started;
};

/* Handles one request line; writes the reply (one line, no newline) into reply. */
void control_handle(struct vmm_host *host, const char *line, char *reply, size_t cap);

int control_open(struct control *c, struct vmm_host *host, const char *path, char *err,
                 size_t errlen);
void control_close(struct control *c);

#endif
