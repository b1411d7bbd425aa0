/* ACPI PCI hotplug of bus 0: the device "pci-hotplug", the register block
 * the DSDT's slot objects and GPE method read and write (acpi.c emits them),
 * and the state machine evr-vmm's device-add / device-del drive.
 *
 * Why ACPI and not PCIe native hotplug: bus 0 is a conventional PCI host
 * bridge with no root ports and no MCFG; native hotplug needs an emulated
 * root port per slot (slot capability, command completion, pciehp's 5 s
 * attention-button delay) and extended configuration space. Linux's acpiphp
 * (built into every distribution kernel) drives this one, as it does QEMU's
 * i440fx hotplug.
 *
 * Ports (layout.h):
 *   PORT_ACPI_GPE0 (ACPI_GPE0_LEN bytes): the FADT's GPE0 block, status
 *     (write 1 to clear) then enable, one byte each half-GPE register;
 *     GPE PCI_HOTPLUG_GPE is ours (\_GPE._E01). The SCI (IRQ 9, level)
 *     is raised while a GPE is both pending and enabled.
 *   PORT_PCI_HOTPLUG (PCI_HOTPLUG_LEN bytes), 32-bit registers, bit n =
 *     slot n:
 *     UP      (read)  slots given a function since the guest last looked;
 *                     the read clears it (the GPE method reads it once)
 *     DOWN    (read)  slots the host asks the guest to eject
 *     EJECT   (write) the guest ejects the slots whose bits it sets (_EJ0)
 *     PRESENT (read)  slots with a function (each slot's _STA)
 *
 * Per slot: free -> (insert) present + up pending -> the guest reads UP and
 * rescans the slot. present -> (request_eject) down pending -> the guest's
 * driver lets go and _EJ0 writes EJECT -> ejected (PRESENT clears, the
 * waiter wakes) -> the owner takes the function off the bus and calls
 * removed -> free. cancel (a removal that timed out) clears down: the
 * function stays present and in use.
 *
 * Every guest write is checked: an eject of slot 0, of an empty slot, of a
 * slot whose function is not removable (set by its owner, pci.h) or of one
 * the host did not ask to eject is ignored and counted (ejects_ignored);
 * other offsets and the unused bits of the GPE block read 0 and drop
 * writes. A guest that ejects a function on its own (acpiphp's "power"
 * file) thus only stops using it: it stays assigned until a device-del.
 *
 * Locking: the registers are the device's, under its bus lock (bus.h); the
 * host side takes the same lock, and pci_hotplug_wait sleeps on a condition
 * variable with it, so a vCPU's EJECT write wakes the waiter and neither
 * waits for the other longer than one register access. */
#ifndef EVR_VMM_PCI_HOTPLUG_H
#define EVR_VMM_PCI_HOTPLUG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define ACPI_GPE0_LEN           4 /* status byte x2, enable byte x2: GPEs 0-15 */
#define PCI_HOTPLUG_GPE         1 /* \_GPE._E01 */
#define PCI_HOTPLUG_LEN         16
#define PCI_HOTPLUG_REG_UP      0
#define PCI_HOTPLUG_REG_DOWN    4
#define PCI_HOTPLUG_REG_EJECT   8
#define PCI_HOTPLUG_REG_PRESENT 12

struct pci_hotplug {
    struct bus_device dev; /* first: the bus hands ops a pointer to it */
    struct machine *m;
    pthread_cond_t ejected_cond;
    uint32_t up, down, ejected; /* bit n: slot n */
    uint8_t gpe_sts, gpe_en;    /* GPEs 0-7; 8-15 are not implemented */
    bool sci;                   /* the level the SCI line was set to */
    unsigned ejects_ignored;    /* eject writes refused (see above) */
};

extern const struct device_type pci_hotplug_device;

/* The machine's controller (NULL if it has none). */
struct pci_hotplug *pci_hotplug_of(const struct machine *m);

/* The slots the DSDT makes hotpluggable: 1-31, but those holding a function
 * that is not removable now (virtio-net, pci-test: they stay for the VM's
 * life). Called once the machine is realized, before the DSDT is built. */
uint32_t pci_hotplug_slots(const struct machine *m);

/* What the guest reads in PRESENT: the slots with a function, less those it
 * ejected (taken off by the owner next). */
uint32_t pci_hotplug_present(struct pci_hotplug *hp);

/* A function was put in slot: UP and the GPE, so the guest rescans it. */
void pci_hotplug_insert(struct pci_hotplug *hp, unsigned slot);

/* Asks the guest to eject slot: DOWN and the GPE. */
void pci_hotplug_request_eject(struct pci_hotplug *hp, unsigned slot);

/* Waits at most timeout_ms for the guest to eject slot: true once it has. */
bool pci_hotplug_wait(struct pci_hotplug *hp, unsigned slot, unsigned timeout_ms);

/* A removal given up: DOWN cleared, the function stays present. Returns
 * true if the guest ejected the slot after all (between the wait's end and
 * this call): nothing is cancelled then, the owner removes the function. */
bool pci_hotplug_cancel(struct pci_hotplug *hp, unsigned slot);

/* The owner took the ejected function off the bus: the slot is free. */
void pci_hotplug_removed(struct pci_hotplug *hp, unsigned slot);

#endif
