/* Interrupt routing for devices that signal MSIs: a GSI allocator, KVM's GSI
 * routing table, and irqfds (an eventfd whose write injects a GSI).
 *
 *   - GSIs 0..GSI_IOAPIC_PINS-1 are the IOAPIC's pins (and 0..15 the 8259
 *     pair's); gsi_alloc hands out the numbers above them, lowest free first.
 *   - KVM_SET_GSI_ROUTING replaces the whole table, so the router keeps it:
 *     the default routes of every pin (as KVM sets them up with the irqchip)
 *     followed by one MSI route per routed GSI. Every change sends the whole
 *     table again. (Routes change when a guest enables MSI-X or rewrites an
 *     entry: a slow path.)
 *   - gsi_irqfd binds an eventfd to a GSI (KVM_IRQFD) or unbinds it. A write
 *     to a bound eventfd interrupts the guest without a VMM thread in the
 *     path; writes to an unbound one accumulate in its counter, and KVM
 *     delivers them at once when it is bound again. MSI-X masking rests on
 *     this (msix.h).
 *
 * The router has its own lock: devices on different vCPUs route at once. */
#ifndef EVR_VMM_GSI_H
#define EVR_VMM_GSI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "kvm_vm.h"

#define GSI_IOAPIC_PINS 24
#define GSI_PIC_PINS    16
#define GSI_MAX         1024 /* KVM allows 4096 routes on x86; ours fit in far fewer */

struct gsi_route {
    bool routed;
    uint64_t addr; /* MSI address */
    uint32_t data; /* MSI data */
};

struct gsi_router {
    struct kvm_vm *kvm;
    pthread_mutex_t lock;
    uint64_t used[GSI_MAX / 64];
    struct gsi_route route[GSI_MAX];
    unsigned tables_sent; /* KVM_SET_GSI_ROUTING calls that succeeded */
};

void gsi_router_init(struct gsi_router *r, struct kvm_vm *kvm);
void gsi_router_destroy(struct gsi_router *r);

/* Lowest free GSI above the IOAPIC pins; -1 with errno ENOSPC when none. */
int gsi_alloc(struct gsi_router *r);

/* Frees gsi (its route first, if any). Freeing a GSI not allocated is a no-op. */
void gsi_free(struct gsi_router *r, unsigned gsi);

/* Routes an allocated gsi to the MSI (addr, data), or removes its route,
 * and sends the table. 0, or -1 with errno (EINVAL for a GSI not allocated,
 * or KVM's error, in which case the previous route stays). */
int gsi_route_msi(struct gsi_router *r, unsigned gsi, uint64_t addr, uint32_t data);
int gsi_unroute(struct gsi_router *r, unsigned gsi);

/* Binds (bind true) or unbinds eventfd efd to gsi with KVM_IRQFD. */
int gsi_irqfd(struct gsi_router *r, unsigned gsi, int efd, bool bind);

/* A level interrupt on an IOAPIC pin (gsi < GSI_IOAPIC_PINS): a write to
 * efd asserts it (KVM_IRQFD_FLAG_RESAMPLE); when the guest ends it (EOI)
 * KVM lowers the line and writes resample_efd, so the source is asked again
 * (a passthrough function's INTx: VFIO unmasks the device on that write). */
int gsi_irqfd_resample(struct gsi_router *r, unsigned gsi, int efd, int resample_efd, bool bind);

/* The table gsi_route_msi would send, for tests and messages: writes at most
 * max entries into out and returns how many there are. */
unsigned gsi_routing_entries(struct gsi_router *r, struct kvm_irq_routing_entry *out, unsigned max);

#endif
