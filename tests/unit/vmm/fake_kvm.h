/* A stand-in for a KVM VM in unit tests: the ioctl of a struct kvm_vm
 * (kvm_vm.h) that records what devices ask of KVM (IRQ line levels, GSI
 * routing tables, irqfd binds) and can be told to refuse one request; and
 * the machine of the device table on it. */
#ifndef EVR_TEST_FAKE_KVM_H
#define EVR_TEST_FAKE_KVM_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/kvm.h>

#include "config.h"
#include "device.h"
#include "gsi.h"
#include "kvm_vm.h"

#define FAKE_KVM_FD 1000

struct fake_kvm {
    unsigned long refuse; /* this request fails with EINVAL */
    int irq_level[GSI_IOAPIC_PINS];
    unsigned irq_edges[GSI_IOAPIC_PINS]; /* 0 -> 1 transitions */
    unsigned tables;                     /* KVM_SET_GSI_ROUTING calls accepted */
    unsigned routes;                     /* entries of the last table */
    struct kvm_irq_routing_entry route[GSI_MAX + 64];
    bool bound[GSI_MAX]; /* an irqfd is bound to the GSI */
    int bound_fd[GSI_MAX];
    int resample_fd[GSI_MAX]; /* KVM_IRQFD_FLAG_RESAMPLE's fd of a bound GSI, -1 without */
    unsigned irqfd_calls;
    unsigned ioeventfds;
    struct kvm_ioeventfd last_ioeventfd;
};

static struct fake_kvm fake_kvm;

static int fake_kvm_ioctl(int fd, unsigned long request, void *arg)
{
    if (fd != FAKE_KVM_FD || request == fake_kvm.refuse) {
        errno = fd != FAKE_KVM_FD ? EBADF : EINVAL;
        return -1;
    }
    if (request == KVM_IRQ_LINE) {
        const struct kvm_irq_level *l = arg;
        if (l->irq < GSI_IOAPIC_PINS) {
            if (l->level && !fake_kvm.irq_level[l->irq])
                fake_kvm.irq_edges[l->irq]++;
            fake_kvm.irq_level[l->irq] = (int)l->level;
        }
    } else if (request == KVM_SET_GSI_ROUTING) {
        const struct kvm_irq_routing *t = arg;
        fake_kvm.tables++;
        fake_kvm.routes = t->nr;
        memcpy(fake_kvm.route, t->entries, t->nr * sizeof(t->entries[0]));
    } else if (request == KVM_IRQFD) {
        const struct kvm_irqfd *q = arg;
        fake_kvm.irqfd_calls++;
        if (q->gsi >= GSI_MAX)
            return -1;
        if (q->flags & KVM_IRQFD_FLAG_DEASSIGN) {
            if (!fake_kvm.bound[q->gsi]) {
                errno = ENOENT;
                return -1;
            }
            fake_kvm.bound[q->gsi] = false;
        } else {
            if (fake_kvm.bound[q->gsi]) {
                errno = EBUSY;
                return -1;
            }
            fake_kvm.bound[q->gsi] = true;
            fake_kvm.bound_fd[q->gsi] = (int)q->fd;
            fake_kvm.resample_fd[q->gsi] =
                    q->flags & KVM_IRQFD_FLAG_RESAMPLE ? (int)q->resamplefd : -1;
        }
    } else if (request == KVM_IOEVENTFD) {
        fake_kvm.ioeventfds++;
        fake_kvm.last_ioeventfd = *(const struct kvm_ioeventfd *)arg;
    }
    return 0;
}

static inline struct kvm_vm fake_kvm_vm(void)
{
    memset(&fake_kvm, 0, sizeof(fake_kvm));
    return (struct kvm_vm){.fd = FAKE_KVM_FD, .ioctl = fake_kvm_ioctl};
}

/* Builds m from the device table on a fresh fake KVM, as vm_create does, for
 * the default configuration plus the pci-test function when pci_test. */
static inline int fake_kvm_machine(struct machine *m, struct vmm_config *cfg, bool pci_test,
                                   void (*console_tx)(void *ctx, uint8_t byte), void *ctx)
{
    char err[256];

    config_defaults(cfg);
    cfg->pci_test = pci_test;
    if (machine_init(m, cfg, fake_kvm_vm(), NULL, console_tx, ctx, err, sizeof(err))) {
        fprintf(stderr, "machine_init: %s\n", err);
        return -1;
    }
    return 0;
}

/* The MSI route of gsi in the last table sent; an all-zero entry (type 0,
 * which is no MSI) when there is none, so tests read it without a check. */
static inline const struct kvm_irq_routing_entry *fake_kvm_msi_route(unsigned gsi)
{
    static const struct kvm_irq_routing_entry none;

    for (unsigned i = 0; i < fake_kvm.routes; i++)
        if (fake_kvm.route[i].gsi == gsi && fake_kvm.route[i].type == KVM_IRQ_ROUTING_MSI)
            return &fake_kvm.route[i];
    return &none;
}

#endif
