/* MSI-X of a PCI function: the capability, the vector table and the pending
 * bit array (PBA) in the function's memory BARs, and the delivery of each
 * vector through KVM.
 *
 * Each vector has an eventfd, made at msix_init (it holds a masked
 * vector's pending signals and is what a backend or VFIO is given), and a
 * GSI (gsi.h), taken from the VM's GSI_MAX when the vector first goes live
 * and kept until msix_destroy: a passed-through PF may have 2048 vectors,
 * more than the VM's GSIs, of which its driver unmasks a few per CPU (no
 * free GSI when one goes live: counted in errors, said once). A
 * vector is live while MSI-X is enabled, the function is not masked and
 * the vector is not masked: its GSI is then routed to the table entry's
 * address and data, and its eventfd bound to the GSI with KVM_IRQFD, so a
 * write to the eventfd (msix_notify, or a vhost backend given the fd)
 * interrupts the guest inside KVM. Masking unbinds the eventfd: signals then
 * wait in its counter, the PBA shows the vector pending, and unmasking binds
 * it again, which delivers the pending interrupt (KVM checks the eventfd
 * when it binds). A guest rewriting a live entry gets the new route.
 *
 * Table and PBA accesses are 4 or 8 bytes, naturally aligned (the spec's
 * rule); others read as all ones and are dropped. Everything runs under
 * the function's lock (pci.h). Failures of KVM to route or bind are
 * counted in errors, as a guest cannot be told (the control socket's
 * "counters": msix_errors). */
#ifndef EVR_VMM_MSIX_H
#define EVR_VMM_MSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsi.h"
#include "pci.h"

#define MSIX_CAP_LEN       12
#define MSIX_MAX_VECTORS   2048
#define MSIX_ENTRY_SIZE    16
#define MSIX_CTRL          2 /* message control, from the capability's start */
#define MSIX_TABLE         4 /* table offset | BIR */
#define MSIX_PBA           8 /* PBA offset | BIR */
#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_MASKALL  0x4000
#define MSIX_VECTOR_MASKED 0x1

struct msix_vector {
    uint32_t addr_lo, addr_hi, data, ctrl; /* the table entry */
    int gsi;                               /* -1 until the vector first goes live */
    int efd;
    bool bound;  /* efd is bound to gsi */
    bool routed; /* gsi is routed to (route_addr, route_data) */
    uint64_t route_addr;
    uint32_t route_data;
};

struct msix {
    struct pci_function *fn;
    struct gsi_router *router;
    unsigned cap; /* offset of the capability in configuration space */
    unsigned nvec;
    unsigned table_bar, pba_bar;
    uint64_t table_off, pba_off;
    struct msix_vector *vec;
    unsigned errors;
    bool gsi_exhausted; /* "no free GSI" was said */
};

/* Adds MSI-X with nvec vectors to fn, the table at table_off of memory BAR
 * table_bar and the PBA at pba_off of pba_bar (BARs already declared,
 * offsets 8-byte aligned, both inside their BARs and apart). Makes the
 * eventfds (a GSI comes at a vector's first unmask). -1 with a message
 * naming what is wrong (for eventfds: the open-file limit). */
int msix_init(struct msix *m, struct pci_function *fn, struct gsi_router *router, unsigned nvec,
              unsigned table_bar, uint64_t table_off, unsigned pba_bar, uint64_t pba_off, char *err,
              size_t errlen);
void msix_destroy(struct msix *m);

/* BAR accesses, from pci.c: true if the access falls in the table or PBA. */
bool msix_bar_read(struct msix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t *value);
bool msix_bar_write(struct msix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t value);

/* The message control register was written (from pci.c). */
void msix_control_written(struct msix *m);

/* Signals vector (the device side). -1 (EINVAL) out of range. Any thread. */
int msix_notify(struct msix *m, unsigned vector);

/* The eventfd of vector, to hand to a backend that signals it itself. */
int msix_vector_eventfd(const struct msix *m, unsigned vector);

/* Whether vector is pending (masked with a signal waiting). */
bool msix_pending(struct msix *m, unsigned vector);

#endif
