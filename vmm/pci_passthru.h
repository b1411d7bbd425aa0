/* A PCI function of the guest backed by a real one: the guest's view of a
 * host device's configuration space, BARs and MSI-X. It reaches the device
 * only through struct pci_passthru_io (VFIO in evr-vmm, vfio_pci.c; a
 * recorded configuration space in the unit tests and the fuzz harness), so
 * what a guest can make the device see is decided here, in one place:
 *
 *   - header: vendor, device, revision, class and subsystem ids are the
 *     device's; the header is type 0 single-function; no expansion ROM; no
 *     INTx pin (the interrupt pin reads 0); status shows the capability list.
 *   - command register: emulated by pci.c; after each write the device gets
 *     the guest's I/O, memory and bus-master enables and, for a function
 *     with INTx, its INTx disable (without INTx, INTx disabled).
 *     Nothing else of the header reaches the device.
 *   - BARs: the device's kinds (I/O, 32-bit, 64-bit, prefetchable) and the
 *     sizes its regions report, relocated to guest addresses by pci.c's
 *     placement; the device's own BAR registers are never written (VFIO
 *     keeps the host's addresses). A memory BAR the host can map becomes
 *     KVM memory slots over the host mapping while it decodes, so the guest
 *     reaches the device without an exit: the whole BAR, or, in the BAR
 *     that holds the MSI-X table or PBA, every page but theirs (at most
 *     three slots a BAR). The range is claimed on the MMIO bus as well, so
 *     the table's and PBA's pages (no slot covers them) trap, and so do I/O
 *     BARs and BARs the host cannot map: their other accesses go to
 *     io->bar_read / bar_write, but for one that starts before the table
 *     or PBA and runs into it (dropped, counted in refused; a read sees all
 *     ones): the device's own table is never the guest's to write. A memory BAR decodes only inside the PCI
 *     window (layout.h): pointed at guest RAM, the IOAPIC or anything else
 *     it stays unmapped and the attempt is counted (refused).
 *   - capabilities: a new list. MSI-X is emulated (msix.h: table and PBA
 *     trapped, vectors through GSI routes and irqfds); when the guest turns
 *     it on, io->msix_connect hands the device's vectors the msix eventfds,
 *     and turning it off disconnects them. Power management and PCI Express
 *     are shown read-only as the device had them (a driver reads its link
 *     and power state; it cannot put the device in D3 or change its link,
 *     payload or FLR: the VMM resets the device, not the guest). A function
 *     with MSI but no MSI-X gets an emulated MSI capability with one vector
 *     (64-bit address, no per-vector mask), routed through a GSI and an
 *     irqfd, the device's MSI connected to its eventfd with io->msi_connect
 *     while the guest has it enabled. With MSI-X, MSI is hidden; VPD,
 *     vendor-specific and every other capability are hidden always.
 *   - INTx, for a function whose device has a pin, beside its MSI-X or MSI
 *     (one with none of the three is refused): the guest sees pin INTA,
 *     wired to IOAPIC pin pci_intx_gsi(slot) (the DSDT's _PRT), and the
 *     command register's INTx disable reaches the device. While the
 *     function is on a bus, the guest leaves INTx enabled and has neither
 *     MSI-X nor MSI on (a Linux guest booted with pci=nomsi, or a driver
 *     without MSI support), the device's INTx signals an eventfd bound
 *     to that pin as a level interrupt with a resample eventfd
 *     (gsi_irqfd_resample); the host masks the line at each interrupt and
 *     the guest's EOI unmasks it through the resample eventfd
 *     (io->intx_connect), with no evr-vmm thread in the path. VFIO drives
 *     one kind at a time: INTx is disconnected before MSI-X or MSI is
 *     connected, and connected again only after they are disconnected.
 *   - extended configuration space: not reachable (mechanism #1 only).
 *
 * Everything runs under the function's lock (pci.h), like any PCI function. */
#ifndef EVR_VMM_PCI_PASSTHRU_H
#define EVR_VMM_PCI_PASSTHRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsi.h"
#include "kvm_vm.h"
#include "msix.h"
#include "pci.h"

#define PCI_CAP_ID_PM   0x01
#define PCI_CAP_ID_MSI  0x05
#define PCI_CAP_ID_EXP  0x10
#define PCI_PM_CAP_LEN  8
#define PCI_EXP_CAP_LEN 0x3c /* version 2 */
#define PCI_EXP_V1_LEN  0x14 /* version 1, an endpoint's registers */
#define PCI_PM_CTRL     4    /* PMCSR, from the capability's start */
#define PCI_ROM_ADDRESS 0x30
#define PCI_MSI_CAP_LEN 14 /* 64-bit address, no per-vector mask */
#define PCI_MSI_CTRL    2  /* from the capability's start */
#define PCI_MSI_ADDR_LO 4
#define PCI_MSI_ADDR_HI 8
#define PCI_MSI_DATA    12
#define PCI_MSI_ENABLE  0x0001
#define PCI_MSI_64BIT   0x0080

/* How the function reaches its device. Each returns 0, or -1 when the
 * device could not be reached (counted in io_errors, which the control
 * socket's "counters" shows beside refused; a read then sees all
 * ones, as a guest would from a device that went away). */
struct pci_passthru_io {
    int (*cfg_write)(void *ctx, unsigned reg, const void *buf, unsigned len);
    int (*bar_read)(void *ctx, unsigned bar, uint64_t off, void *buf, unsigned len);
    int (*bar_write)(void *ctx, unsigned bar, uint64_t off, const void *buf, unsigned len);
    /* Connects the device's MSI-X vectors 0..nvec-1 to efds[], or
     * disconnects them all when nvec is 0. */
    int (*msix_connect)(void *ctx, unsigned nvec, const int *efds);
    /* Connects the device's MSI vector 0 to efd, or disconnects it (-1).
     * Called only for functions without MSI-X. */
    int (*msi_connect)(void *ctx, int efd);
    /* Connects the device's INTx to efd, its unmask to resample_efd, or
     * disconnects it (both -1). Called only for functions with a pin,
     * never while MSI-X or MSI is connected. */
    int (*intx_connect)(void *ctx, int efd, int resample_efd);
};

/* A BAR as the host offers it: its size (0: not implemented) and, when the
 * host can map it, the mapping of the whole BAR in this process. */
struct pci_passthru_bar {
    uint64_t size;
    void *host;
};

#define PCI_PASSTHRU_SEGS  3 /* memory slots a BAR may need: before, between, after */
#define PCI_PASSTHRU_SLOTS (PCI_BARS * PCI_PASSTHRU_SEGS) /* memory slots a function may use */

/* A part of a BAR that is a memory slot while the BAR decodes. */
struct pci_passthru_seg {
    uint64_t off, len;
    bool mapped;
};

struct pci_passthru {
    struct pci_function fn;
    struct msix msix;
    const struct pci_passthru_io *io;
    void *ctx;
    struct kvm_vm *kvm;
    unsigned memslot_base; /* segment k of BAR b: slot memslot_base + 3b + k */
    struct pci_passthru_bar bar[PCI_BARS];
    unsigned nseg[PCI_BARS];
    struct pci_passthru_seg seg[PCI_BARS][PCI_PASSTHRU_SEGS];
    bool msix_connected;
    bool unplugged; /* pci_passthru_unplug: inert, every access dropped */
    /* MSI, for a function without MSI-X (msi_cap 0 otherwise) */
    struct gsi_router *gsi;
    unsigned msi_cap;
    int msi_gsi, msi_efd;
    bool msi_routed, msi_bound, msi_connected;
    uint64_t msi_addr;
    uint32_t msi_data;
    /* INTx, for a function whose device has a pin (intx false otherwise) */
    bool intx, intx_on;
    int intx_efd, intx_resample_efd;
    unsigned intx_gsi; /* the pin it is bound to while intx_on */
    char name[32];     /* the host's PCI address, in messages */
    /* counters, read by tests and the control socket's counters later */
    unsigned refused;   /* BAR placements outside the PCI window, writes into the MSI-X table */
    unsigned io_errors; /* device accesses that failed */
};

/* Builds the guest's function from the device's configuration space
 * (phys, the first 256 bytes) and its BARs. name is the host's PCI address.
 * The function is not on a bus yet: pci_host_add it. -1 with a message
 * naming the address when the device cannot be given to a guest as it is
 * (not a type 0 header, a BAR larger than the PCI window, neither MSI-X,
 * MSI nor an INTx pin, an MSI-X table outside its BAR). */
int pci_passthru_init(struct pci_passthru *p, const char *name, const uint8_t *phys,
                      const struct pci_passthru_bar bars[PCI_BARS],
                      const struct pci_passthru_io *io, void *ctx, struct kvm_vm *kvm,
                      struct gsi_router *gsi, unsigned memslot_base, char *err, size_t errlen);

/* Disconnects the vectors and frees what init made; take the function off
 * its host first (pci_host_remove), which removes its memory slots. */
void pci_passthru_destroy(struct pci_passthru *p);

/* A function hot-removed while the VM runs (pci_host_remove first): from
 * now on, under its lock, every access a vCPU still had in flight is
 * dropped (reads all ones, no BAR maps again, MSI-X no longer emulated) and
 * never reaches the device; its vectors are disconnected and freed. Only
 * its lock remains, for such a vCPU: pci_passthru_destroy when the VM ends
 * (bus.h: a device lives as long as a vCPU may reach it). */
void pci_passthru_unplug(struct pci_passthru *p);

/* How many of BAR bar's pages are memory slots now (the rest of a decoding
 * BAR traps). */
uint64_t pci_passthru_slot_bytes(const struct pci_passthru *p, unsigned bar);

#endif
