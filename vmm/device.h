/* The devices of a VM and what they are plugged into.
 *
 * A device type is a table entry {name, wanted, realize, unrealize} that
 * lives in the device's own file (uart.c, power.c, pci.c, pci_testdev.c);
 * device_types[] in device.c lists them in the order they are realized
 * (the PCI host before PCI functions). machine_init walks that list for
 * evr-vmm's vm_create and for the unit tests alike: a test builds the same
 * machine as a VM, with a kvm_vm whose ioctl it records.
 *
 * realize allocates the device's state, claims its ranges on the buses
 * (bus.h) or adds its PCI function to the host (pci.h), and returns the
 * state; unrealize frees it, and runs after every vCPU thread has ended
 * (bus.h: a device lives as long as any vCPU may reach it). Nothing outside
 * a device's file knows its fields: other code finds a device's state with
 * machine_device and calls the functions its header offers. */
#ifndef EVR_VMM_DEVICE_H
#define EVR_VMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "gsi.h"
#include "kvm_vm.h"

struct vmm_config;
struct guest_mem;
struct pci_host;
struct machine;

struct device_type {
    const char *name;
    /* Whether a VM with cfg has this device; NULL: every VM has it. */
    bool (*wanted)(const struct vmm_config *cfg);
    /* Returns the device's state, or NULL with a message in err. */
    void *(*realize)(struct machine *m, char *err, size_t errlen);
    void (*unrealize)(struct machine *m, void *state);
};

#define MACHINE_MAX_DEVICES 32

struct machine {
    const struct vmm_config *cfg;
    struct kvm_vm kvm;
    const struct guest_mem *mem; /* RAM a vhost backend shares; NULL in some tests */
    struct bus pio;              /* port I/O: KVM_EXIT_IO */
    struct bus mmio;             /* KVM_EXIT_MMIO */
    struct gsi_router gsi;
    struct pci_host *pci; /* set by the "pci-host" device */
    /* Where the serial console's bytes go (the UART calls it). */
    void (*console_tx)(void *ctx, uint8_t byte);
    void *console_ctx;
    unsigned ndev;
    struct {
        const struct device_type *type;
        void *state;
    } dev[MACHINE_MAX_DEVICES];
};

/* The device types, in realize order, NULL-terminated. */
extern const struct device_type *const device_types[];

/* Sets up the buses and the GSI router on kvm and realizes every wanted
 * device (mem: the guest's RAM, set up before). 0, or -1 with a message
 * (what was realized is unrealized). */
int machine_init(struct machine *m, const struct vmm_config *cfg, struct kvm_vm kvm,
                 const struct guest_mem *mem, void (*console_tx)(void *ctx, uint8_t byte),
                 void *console_ctx, char *err, size_t errlen);

/* Unrealizes in reverse order and releases the buses. */
void machine_destroy(struct machine *m);

/* The state of the realized device of type, NULL if the machine has none. */
void *machine_device(const struct machine *m, const struct device_type *type);

/* Claims [base, base + len) of the port bus for dev (bus_claim); -1 with
 * "NAME: ports B-E are taken" in err when another device has some. */
int machine_claim_ports(struct machine *m, uint16_t base, uint16_t len, struct bus_device *dev,
                        unsigned region, char *err, size_t errlen);

/* Raises or lowers an IOAPIC/PIC input (KVM_IRQ_LINE). */
void machine_irq_line(struct machine *m, unsigned irq, int level);

#endif
