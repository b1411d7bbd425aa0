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
 * given back to the driver it had before.
 *
 * Every error starts with the PCI address. */
#ifndef EVR_VMM_VFIO_PCI_H
#define EVR_VMM_VFIO_PCI_H

#include <stddef.h>

#include "device.h"
#include "guest_mem.h"
#include "pci_passthru.h"

/* KVM memory slots of passthrough BARs: function i uses the
 * PCI_PASSTHRU_SLOTS from VFIO_PCI_MEMSLOT_BASE + i * PCI_PASSTHRU_SLOTS
 * (vm.c's RAM is slots 0 and 1; 8 functions end at slot 160, and KVM has
 * 509 on x86). */
#define VFIO_PCI_MEMSLOT_BASE 16

extern const struct device_type vfio_pci_device;

#endif
