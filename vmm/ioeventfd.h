/* Doorbells without an exit to user space: KVM_IOEVENTFD makes a guest
 * write of len bytes at addr (port I/O or MMIO) signal an eventfd inside
 * KVM, optionally only when the value written equals datamatch. A virtio
 * queue notification is the use: the backend waits on the eventfd and the
 * vCPU goes on without leaving KVM.
 *
 * The address must not be claimed on the bus by a device that also wants
 * to see the write: KVM consumes a matching write before any exit. */
#ifndef EVR_VMM_IOEVENTFD_H
#define EVR_VMM_IOEVENTFD_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "kvm_vm.h"

struct ioeventfd {
    uint64_t addr;
    unsigned len; /* 1, 2, 4 or 8; 0 is any length (MMIO only) */
    bool pio;
    bool match; /* signal only when the value written is datamatch */
    uint64_t datamatch;
    int efd;
};

/* Fills req for e (deassign: the request that removes it). -1 with errno
 * EINVAL when e cannot be expressed: a length other than 0, 1, 2, 4 or 8, a
 * port beyond 0xffff or a port range past it, length 0 on port I/O, a
 * datamatch that does not fit len, or no eventfd. */
int ioeventfd_request(const struct ioeventfd *e, bool deassign, struct kvm_ioeventfd *req);

/* Builds the request and makes it; 0 or -1 with errno. */
int ioeventfd_assign(struct kvm_vm *kvm, const struct ioeventfd *e);
int ioeventfd_deassign(struct kvm_vm *kvm, const struct ioeventfd *e);

#endif
