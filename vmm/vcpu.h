/* A vCPU: its KVM fd and kvm_run page, its CPUID, its thread (pinned to a
 * host CPU when the config says so), the run loop, and the register dump
 * printed when a vCPU ends the VM abnormally. */
#ifndef EVR_VMM_VCPU_H
#define EVR_VMM_VCPU_H

#include <stdio.h>

#include "vm.h"

/* Creates vCPU index of vm, with CPUID from supported (nent entries) and,
 * for vCPU 0, the boot state for entry. Returns 0 or -1 with err. */
int vcpu_create(struct vcpu *v, struct vm *vm, unsigned index, const struct kvm_cpuid2 *supported,
                uint64_t entry, char *err, size_t errlen);

int vcpu_start(struct vcpu *v, char *err, size_t errlen);

/* Makes KVM_RUN return (now, or at once if the vCPU is about to enter). */
void vcpu_kick(struct vcpu *v);

void vcpu_destroy(struct vcpu *v);

/* Prints the vCPU's registers and segment state (KVM_GET_REGS/SREGS). */
void vcpu_dump(struct vcpu *v, FILE *out);

/* Installs the (empty) signal handler that vcpu_kick relies on. */
void vcpu_signals_init(void);

#endif
