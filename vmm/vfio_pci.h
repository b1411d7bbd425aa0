/* The device "vfio-pci" (key "passthrough"): the host PCI functions named in
 * the configuration, each given to the guest as a PCI function of its own
 * (pci_passthru.h says what the guest sees of it).
 *
 * Realize, for each function in the order listed:
 *   1. bind it to vfio-pci (vfio/bind.h: refused while another function of
 *      its IOMMU group is with a host driver; the previous driver is
 *      remembered);
 *   2. open its group into the one container of the VM (the group must be
 *      viable) and the device; reset it (FLR or whatever the kernel offers;
 *      a function with no reset is used as it is, with a warning);
 *   3. read its configuration space and BAR regions, mmap the BARs VFIO
 *      lets us map, and build the guest's function on the PCI host.
 * After the first function, every RAM region of the machine (m->mem, set
 * up before the devices) is mapped for DMA at its guest-physical address,
 * so the devices reach guest RAM and nothing else: the IOMMU refuses any
 * other address.
 * Unrealize (after the vCPUs ended): interrupts disconnected, each function
 * reset, the container closed (DMA mappings go with it), and each function
 * given back to the driver it had before. A function leaving at runtime
 * (vfio_pci_unplug) goes the same way, alone; the last one to leave takes
 * the DMA mappings with it, and the next one maps guest RAM again.
 *
 * Every error starts with the PCI address. */
#ifndef EVR_VMM_VFIO_PCI_H
#define EVR_VMM_VFIO_PCI_H

#include <stddef.h>

#include "common/error.h"
#include "config.h"
#include "device.h"
#include "guest_mem.h"
#include "pci_passthru.h"

/* KVM memory slots of passthrough BARs: function i uses the
 * PCI_PASSTHRU_SLOTS from VFIO_PCI_MEMSLOT_BASE + i * PCI_PASSTHRU_SLOTS
 * (vm.c's RAM is slots 0 and 1; 8 functions end at slot 160, and KVM has
 * 509 on x86). */
#define VFIO_PCI_MEMSLOT_BASE 16

extern const struct device_type vfio_pci_device;

/* A function the VM has now: its host address and its guest slot (bus 0,
 * function 0). */
struct vfio_pci_assigned {
    char host[CONFIG_PCI_ADDR_LEN];
    unsigned slot;
};

/* The functions the VM has, at most max of them; returns how many. */
unsigned vfio_pci_list(const struct machine *m, struct vfio_pci_assigned *out, unsigned max);

/* The guest slot of host function addr: 0, or -1 if the VM does not have it. */
int vfio_pci_slot_of(const struct machine *m, const char *addr, unsigned *slot);

/* Runtime hotplug, from the control thread while the vCPUs run (control.h
 * serialises the calls). plug binds addr exactly as the passthrough key
 * does (same checks, messages starting "device-add ADDR") and puts it in
 * the lowest free slot, its BARs left for the guest to assign (address 0,
 * as a hot-added card's are): *slot is where. Refused with EEXIST when the
 * VM has it, ENOSPC when CONFIG_MAX_PASSTHROUGH functions or every slot is
 * taken, the binding's errno (ENOENT, EBUSY, ...) when it cannot be bound;
 * a refusal leaves nothing behind. The caller tells the guest
 * (pci_hotplug_insert).
 * unplug, once the guest ejected the slot (pci_hotplug_wait): off the bus,
 * vectors disconnected, reset, closed, given back to its previous driver;
 * ENOENT if the VM does not have addr. */
int vfio_pci_plug(struct machine *m, const char *addr, unsigned *slot, struct evr_err *err);
int vfio_pci_unplug(struct machine *m, const char *addr, struct evr_err *err);

#endif
