/* PCI bus 0 behind a host bridge, reached with configuration mechanism #1
 * (address at 0xcf8, data at 0xcfc..0xcff). A function is 256 bytes of
 * configuration space with a mask of the bits the guest may write; devices of
 * later issues add their functions with pci_add_function. Reads of absent
 * functions, other buses, or with the enable bit clear return all ones. */
#ifndef EVR_VMM_PCI_H
#define EVR_VMM_PCI_H

#include <stdint.h>

#include "io_bus.h"

#define PCI_SLOTS             32
#define PCI_CFG_SIZE          256
#define PCI_CONF1_ENABLE      0x80000000u
#define PCI_HOST_VENDOR       0x1b36 /* Red Hat's generic host bridge id: no guest quirks */
#define PCI_HOST_DEVICE       0x0008
#define PCI_CLASS_HOST_BRIDGE 0x060000

struct pci_function {
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE]; /* 1 bits are guest-writable */
};

struct pci_bus {
    uint32_t conf_addr;                   /* the last value written to 0xcf8 */
    struct pci_function *slot[PCI_SLOTS]; /* function 0 of each device */
    struct pci_function host_bridge;
};

extern const struct io_dev_ops pci_conf_addr_ops; /* register at 0xcf8, 4 ports */
extern const struct io_dev_ops pci_conf_data_ops; /* register at 0xcfc, 4 ports */

/* Sets up bus 0 with the host bridge at 00:00.0. */
void pci_bus_init(struct pci_bus *bus);

/* Puts fn at bus 0 slot; -1 if the slot is taken or out of range. */
int pci_add_function(struct pci_bus *bus, unsigned slot, struct pci_function *fn);

/* Configuration access to bus 0 / slot / function 0; size 1, 2 or 4,
 * reg naturally aligned for size. */
uint32_t pci_cfg_read(struct pci_bus *bus, unsigned slot, unsigned func, unsigned reg,
                      unsigned size);
void pci_cfg_write(struct pci_bus *bus, unsigned slot, unsigned func, unsigned reg, unsigned size,
                   uint32_t value);

#endif
