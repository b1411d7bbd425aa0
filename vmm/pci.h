/* PCI bus 0 behind a host bridge, reached with configuration mechanism #1
 * (address at 0xcf8, data at 0xcfc..0xcff), and the PCI function a device
 * builds on:
 *
 *   - configuration space: 256 bytes with a mask of the bits the guest may
 *     write; pci.c emulates the header (ids, command, status, BARs, the
 *     capability list) and then tells the function's ops of the access, so
 *     a device only handles the registers that are its own;
 *   - BARs (pci_bar.c): pci_bar_add declares a 32-bit or 64-bit memory BAR
 *     or an I/O BAR of a power-of-two size. The guest sizes it as on
 *     hardware (write all ones, read the size mask back); pci_host_add
 *     places every BAR in the host bridge's windows (memory in the 32-bit
 *     PCI window of layout.h, which the DSDT's _CRS gives the guest; ports
 *     from GUEST_PCI_IO_START). A BAR is mapped, i.e. claimed on the MMIO or
 *     port I/O bus, while the command register enables its kind of decoding
 *     and its address is valid; every write of the command register or a BAR
 *     remaps what changed, calling the ops' bar_deactivate / bar_activate
 *     (default when NULL: trap accesses on the bus and hand them to
 *     bar_read / bar_write). An address that would overlap another claimed
 *     range leaves the BAR unmapped, as a guest asked for nonsense;
 *   - capabilities: pci_cap_add appends one to the list;
 *   - MSI-X (msix.h) when the device adds it: its table and PBA take their
 *     part of a BAR before bar_read / bar_write see the rest.
 *
 * Locking: a function's configuration accesses and its BAR accesses all run
 * under its bus_device lock (fn->dev.lock), so ops are single-threaded per
 * function. Mechanism #1 has one address register for all functions, so its
 * ports are a device of their own with their own lock; lock order is
 * mechanism #1, then the function, then a bus's table (bus.h).
 *
 * Reads of absent functions, other buses, or with the enable bit clear
 * return all ones. Functions are function 0 of a slot (no multifunction). */
#ifndef EVR_VMM_PCI_H
#define EVR_VMM_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "device.h"

#define PCI_SLOTS             32
#define PCI_CFG_SIZE          256
#define PCI_BARS              6
#define PCI_CONF1_ENABLE      0x80000000u
#define PCI_HOST_VENDOR       0x1b36 /* Red Hat's generic host bridge id: no guest quirks */
#define PCI_HOST_DEVICE       0x0008
#define PCI_CLASS_HOST_BRIDGE 0x060000

/* Configuration space registers and bits (PCI Local Bus 3.0). */
#define PCI_VENDOR_ID         0x00
#define PCI_DEVICE_ID         0x02
#define PCI_COMMAND           0x04
#define PCI_STATUS            0x06
#define PCI_REVISION          0x08
#define PCI_CLASS_PROG        0x09
#define PCI_HEADER_TYPE       0x0e
#define PCI_BAR0              0x10
#define PCI_SUBSYSTEM_VENDOR  0x2c
#define PCI_SUBSYSTEM_ID      0x2e
#define PCI_CAP_PTR           0x34
#define PCI_INTERRUPT_LINE    0x3c
#define PCI_INTERRUPT_PIN     0x3d
#define PCI_CAP_START         0x40 /* first byte after the type 0 header */
#define PCI_COMMAND_IO        0x0001
#define PCI_COMMAND_MEMORY    0x0002
#define PCI_COMMAND_MASTER    0x0004
#define PCI_COMMAND_INTX_OFF  0x0400
#define PCI_STATUS_CAP_LIST   0x0010
#define PCI_BAR_IO_BIT        0x1
#define PCI_BAR_MEM64_BITS    0x4
#define PCI_BAR_PREFETCH_BIT  0x8
#define PCI_CAP_ID_MSIX       0x11
#define PCI_BAR_MIN_MEM_ALIGN 4096 /* memory BARs are page aligned: passthrough maps pages */
#define PCI_BAR_UNMAPPED      (~0ull)
#define PCI_SLOT_ANY          (~0u) /* pci_host_add: the lowest free slot */

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
    enum pci_bar_kind kind; /* the upper half of a 64-bit BAR is PCI_BAR_NONE */
    bool prefetchable;
    uint64_t size;   /* a power of two */
    uint64_t mapped; /* where it is claimed now, or PCI_BAR_UNMAPPED */
};

struct pci_function;
struct pci_host;
struct msix;

/* One counter of a function, for the control socket's "counters". */
struct pci_counter {
    const char *name;
    unsigned long long value;
};
#define PCI_COUNTERS_MAX 8

struct pci_function_ops {
    /* Told of a configuration access after pci.c emulated it: cfg_read may
     * change *value; cfg_write sees the write already applied to cfg[]
     * through wmask. reg is naturally aligned for size (1, 2 or 4). */
    void (*cfg_read)(struct pci_function *fn, unsigned reg, unsigned size, uint32_t *value);
    void (*cfg_write)(struct pci_function *fn, unsigned reg, unsigned size, uint32_t value);
    /* Guest accesses to a trapped BAR, offset from its start. */
    uint64_t (*bar_read)(struct pci_function *fn, unsigned bar, uint64_t offset, unsigned size);
    enum bus_effect (*bar_write)(struct pci_function *fn, unsigned bar, uint64_t offset,
                                 unsigned size, uint64_t value);
    /* The BAR starts / stops decoding at addr. Both NULL: it is trapped
     * (pci_bar_trap / pci_bar_untrap). A device that wants more than the
     * trap calls those itself and adds its part: a virtio device moves its
     * queue-notify ioeventfds with the BAR, a passthrough function maps
     * host memory instead. activate returns 0, or -1 to leave the BAR
     * unmapped. */
    int (*bar_activate)(struct pci_function *fn, unsigned bar, uint64_t addr);
    void (*bar_deactivate)(struct pci_function *fn, unsigned bar, uint64_t addr);
    /* The function's own counters (refused guest writes, failed device
     * accesses) into out, at most PCI_COUNTERS_MAX; returns how many. Read
     * without the function's lock (relaxed loads), so a device stalled
     * under it never delays the control socket. May be NULL. */
    unsigned (*counters)(struct pci_function *fn, struct pci_counter *out);
};

struct pci_function {
    struct bus_device dev; /* its lock serialises config and BAR accesses */
    const struct pci_function_ops *ops;
    void *priv; /* the device's own state */
    struct pci_host *host;
    unsigned slot;
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];   /* 1 bits are guest-writable */
    uint8_t w1cmask[PCI_CFG_SIZE]; /* 1 bits clear when the guest writes 1 */
    struct pci_bar bar[PCI_BARS];
    unsigned cap_next; /* where pci_cap_add puts the next capability */
    unsigned cap_last; /* offset of the last capability, 0 if none */
    struct msix *msix; /* set by msix_init */
    bool removable;    /* the guest may eject it (pci_hotplug.h): a passthrough function */
};

struct pci_host {
    struct bus_device conf; /* the mechanism #1 ports */
    uint32_t conf_addr;     /* the last value written to 0xcf8 */
    struct pci_function *slot[PCI_SLOTS];
    struct pci_function bridge; /* 00:00.0 */
    struct bus *pio, *mmio;     /* where BARs are claimed */
    uint64_t mem_next, mem_end; /* the BAR allocator's memory window */
    uint64_t io_next, io_end;   /* and its I/O window */
};

/* The device "pci-host": a struct pci_host on the machine's buses, set as
 * machine->pci for the PCI functions realized after it. */
extern const struct device_type pci_host_device;

/* Sets up bus 0 with the host bridge at 00:00.0 and claims the mechanism #1
 * ports on pio; BARs will be claimed on pio and mmio. -1 if the ports are
 * taken. */
int pci_host_init(struct pci_host *host, struct bus *pio, struct bus *mmio);
void pci_host_destroy(struct pci_host *host);

/* Sets fn up with ids and class: a type 0 header, bus master and decoding
 * enables writable, no BARs, no capabilities, no INTx. */
void pci_function_init(struct pci_function *fn, const char *name, uint16_t vendor, uint16_t device,
                       uint32_t class_code, const struct pci_function_ops *ops, void *priv);
void pci_function_destroy(struct pci_function *fn);

/* Declares BAR bar (pci_bar.c): kind PCI_BAR_MEM64 takes bar and bar + 1.
 * size is a power of two, at least 16 for memory and 4 for I/O, at most
 * 256 bytes for I/O and 1 GiB for memory (the 32-bit window). -1 (EINVAL)
 * otherwise, or if the BAR (or its pair) is already declared. */
int pci_bar_add(struct pci_function *fn, unsigned bar, enum pci_bar_kind kind, uint64_t size,
                bool prefetchable);

/* Puts fn at bus 0 slot (or the lowest free one, PCI_SLOT_ANY) and places its BARs in the windows (not mapped: the
 * guest enables decoding). -1 with a message when the slot is taken or out
 * of range, or a window is full. */
int pci_host_add(struct pci_host *host, unsigned slot, struct pci_function *fn, char *err,
                 size_t errlen);

/* pci_host_add for a function hot-added while the guest runs: its BARs
 * are left at address 0 (not decoding) for the guest to assign, as on a
 * hot-added card, so adding and removing never uses up the windows. */
int pci_host_plug(struct pci_host *host, unsigned slot, struct pci_function *fn, char *err,
                  size_t errlen);

/* Places fn's BARs in host's windows (pci_host_add's part in pci_bar.c). */
int pci_bar_place(struct pci_host *host, struct pci_function *fn, char *err, size_t errlen);

/* Takes fn off the bus; its BARs are unmapped first. */
void pci_host_remove(struct pci_host *host, struct pci_function *fn);

/* The address BAR bar decodes at per its registers, or PCI_BAR_UNMAPPED
 * when decoding is off or the address is not valid; called with fn's lock.
 * pci_bar_update remaps every BAR whose decoded address changed. */
uint64_t pci_bar_decoded(const struct pci_function *fn, unsigned bar);
void pci_bar_update(struct pci_function *fn);

/* The default activate / deactivate: claim / release the BAR's range on
 * the MMIO or port bus for fn, whose ops then see the accesses. */
int pci_bar_trap(struct pci_function *fn, unsigned bar, uint64_t addr);
void pci_bar_untrap(struct pci_function *fn, unsigned bar, uint64_t addr);

/* Appends a capability with id and len bytes (header included) to the
 * list; returns its offset, 4-byte aligned from PCI_CAP_START, or 0 when
 * configuration space is full. The body is the caller's to fill. */
unsigned pci_cap_add(struct pci_function *fn, uint8_t id, unsigned len);

/* Offset of the first capability with id, 0 if none, following the list
 * as the guest would (at most 48 steps, so a loop cannot hang it). */
unsigned pci_cap_find(const struct pci_function *fn, uint8_t id);

/* Configuration access to bus 0 / slot / func, as mechanism #1 makes it
 * (takes the function's lock); size 1, 2 or 4, reg naturally aligned. */
uint32_t pci_cfg_read(struct pci_host *host, unsigned slot, unsigned func, unsigned reg,
                      unsigned size);
void pci_cfg_write(struct pci_host *host, unsigned slot, unsigned func, unsigned reg, unsigned size,
                   uint32_t value);

/* The IOAPIC pin a slot's INTA# is wired to (the DSDT's _PRT says so):
 * pins 16-23 in turn, as no ISA device uses them. Only passthrough
 * functions whose device has a pin show one. */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSIS     8
static inline unsigned pci_intx_gsi(unsigned slot)
{
    return PCI_INTX_GSI_BASE + slot % PCI_INTX_GSIS;
}

/* Little-endian accessors of configuration space. */
static inline uint32_t pci_get(const struct pci_function *fn, unsigned reg, unsigned size)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < size && reg + i < PCI_CFG_SIZE; i++)
        v |= (uint32_t)fn->cfg[reg + i] << (8 * i);
    return v;
}

static inline void pci_set(uint8_t *space, unsigned reg, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size && reg + i < PCI_CFG_SIZE; i++)
        space[reg + i] = (uint8_t)(v >> (8 * i));
}

#endif
