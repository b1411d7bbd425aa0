/* One boot of a VM on KVM: guest memory, in-kernel irqchip and PIT, the
 * loaded kernel, the machine (buses and devices, device.h) and the vCPU
 * threads, and
 * the state machine the control socket drives (running, paused, finished). */
#ifndef EVR_VMM_VM_H
#define EVR_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "config.h"
#include "exit.h"
#include "device.h"
#include "guest_mem.h"

struct console;

enum vm_outcome {
    VM_RUNNING,      /* not finished */
    VM_POWEROFF,     /* the guest powered off */
    VM_RESET,        /* the guest asked for a reset */
    VM_STOPPED,      /* stopped from the control socket */
    VM_TRIPLE_FAULT, /* a vCPU shut down (triple fault) */
    VM_FAILED,       /* an exit evr-vmm cannot handle, or a KVM error */
};

struct vcpu {
    struct vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool started;
    struct exit_counters counters;
};

struct vm {
    const struct vmm_config *cfg;
    struct console *console;
    int kvm_fd;
    int vm_fd;
    struct guest_mem mem;
    struct machine machine; /* the buses and the devices on them */
    bool machine_ready;
    unsigned nvcpus;
    struct vcpu *vcpus;
    uint64_t start_ns;

    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t cond;
    bool pause_requested;
    unsigned paused; /* vCPUs parked by a pause */
    enum vm_outcome outcome;
    int outcome_vcpu;
};

/* Sets the VM up for cfg and loads the guest; the vCPUs do not run yet.
 * Returns 0, or -1 with a message in err (everything is released). */
int vm_create(struct vm *vm, const struct vmm_config *cfg, struct console *console, char *err,
              size_t errlen);

/* Starts the vCPU threads and waits until the VM finishes. */
enum vm_outcome vm_run(struct vm *vm);

void vm_destroy(struct vm *vm);

/* Control (any thread). pause returns once every vCPU is parked. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
void vm_stop(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* Ends the VM with outcome (first caller wins) and kicks every vCPU out. */
void vm_finish(struct vm *vm, enum vm_outcome outcome, int vcpu);

const char *vm_outcome_name(enum vm_outcome o);

#endif
