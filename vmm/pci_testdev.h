/* "pci-test": a PCI function that exercises the device model, for the unit
 * tests, the fuzz harness and a guest (config key pci_test). It has every
 * kind of BAR and MSI-X:
 *   BAR0  32-bit memory, 4 KiB: the registers below
 *   BAR1  I/O, 16 ports: the same registers
 *   BAR2  64-bit memory (BAR2+3), 16 KiB: MSI-X table at 0, PBA at 0x2000
 * Registers (32-bit, any access size, bytes in their lanes): 0x0 scratch
 * (read-write), 0x4 doorbell (writing N signals MSI-X vector N), 0x8 how
 * many doorbells were rung. The ids are
 * those of QEMU's pci-testdev (1b36:0005), which no Linux driver binds. */
#ifndef EVR_VMM_PCI_TESTDEV_H
#define EVR_VMM_PCI_TESTDEV_H

#include "device.h"

#define PCI_TESTDEV_VENDOR   0x1b36
#define PCI_TESTDEV_DEVICE   0x0005
#define PCI_TESTDEV_CLASS    0x00ff00 /* unclassified device */
#define PCI_TESTDEV_VECTORS  4
#define PCI_TESTDEV_REGS_BAR 0
#define PCI_TESTDEV_IO_BAR   1
#define PCI_TESTDEV_MSIX_BAR 2
#define PCI_TESTDEV_PBA_OFF  0x2000
#define PCI_TESTDEV_SCRATCH  0x0
#define PCI_TESTDEV_DOORBELL 0x4
#define PCI_TESTDEV_RUNG     0x8

extern const struct device_type pci_testdev_device;

/* The test function of a machine that has one (its MSI-X and BARs are
 * reached through it), NULL otherwise. */
struct pci_function *pci_testdev_function(const struct machine *m);

#endif
