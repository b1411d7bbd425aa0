/* PCI host bridge and configuration mechanism #1; see pci.h. */
#include "pci.h"

#include <string.h>

#define PCI_VENDOR_ID   0x00
#define PCI_DEVICE_ID   0x02
#define PCI_COMMAND     0x04
#define PCI_STATUS      0x06
#define PCI_REVISION    0x08
#define PCI_CLASS_PROG  0x09
#define PCI_HEADER_TYPE 0x0e

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void pci_bus_init(struct pci_bus *bus)
{
    struct pci_function *hb = &bus->host_bridge;

    memset(bus, 0, sizeof(*bus));
    put16(hb->cfg + PCI_VENDOR_ID, PCI_HOST_VENDOR);
    put16(hb->cfg + PCI_DEVICE_ID, PCI_HOST_DEVICE);
    hb->cfg[PCI_REVISION] = 0;
    hb->cfg[PCI_CLASS_PROG] = PCI_CLASS_HOST_BRIDGE & 0xff;
    hb->cfg[PCI_CLASS_PROG + 1] = (PCI_CLASS_HOST_BRIDGE >> 8) & 0xff;
    hb->cfg[PCI_CLASS_PROG + 2] = (PCI_CLASS_HOST_BRIDGE >> 16) & 0xff;
    hb->cfg[PCI_HEADER_TYPE] = 0x00; /* type 0, single function */
    /* Memory space, bus master and I/O space enables; nothing else. */
    hb->wmask[PCI_COMMAND] = 0x07;
    bus->slot[0] = hb;
}

int pci_add_function(struct pci_bus *bus, unsigned slot, struct pci_function *fn)
{
    if (slot >= PCI_SLOTS || bus->slot[slot])
        return -1;
    bus->slot[slot] = fn;
    return 0;
}

static struct pci_function *lookup(struct pci_bus *bus, unsigned slot, unsigned func)
{
    return slot < PCI_SLOTS && func == 0 ? bus->slot[slot] : NULL;
}

uint32_t pci_cfg_read(struct pci_bus *bus, unsigned slot, unsigned func, unsigned reg,
                      unsigned size)
{
    struct pci_function *fn = lookup(bus, slot, func);
    uint32_t v = 0;

    if (!fn || reg + size > PCI_CFG_SIZE)
        return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)fn->cfg[reg + i] << (8 * i);
    return v;
}

void pci_cfg_write(struct pci_bus *bus, unsigned slot, unsigned func, unsigned reg, unsigned size,
                   uint32_t value)
{
    struct pci_function *fn = lookup(bus, slot, func);

    if (!fn || reg + size > PCI_CFG_SIZE)
        return;
    for (unsigned i = 0; i < size; i++) {
        uint8_t m = fn->wmask[reg + i];
        uint8_t b = (uint8_t)(value >> (8 * i));
        fn->cfg[reg + i] = (uint8_t)((fn->cfg[reg + i] & ~m) | (b & m));
    }
}

static uint32_t addr_read(void *dev, uint16_t offset, unsigned size)
{
    struct pci_bus *bus = dev;

    /* Only a 32-bit access at 0xcf8 is the address register (mechanism #1);
     * byte accesses there belong to other legacy uses and read as zero. */
    if (offset == 0 && size == 4)
        return bus->conf_addr;
    return 0;
}

static enum io_effect addr_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct pci_bus *bus = dev;

    if (offset == 0 && size == 4)
        bus->conf_addr = value & 0x80fffffcu;
    return IO_OK;
}

/* The access at 0xcfc + offset selects the register bytes reg + offset. */
static int decode(const struct pci_bus *bus, uint16_t offset, unsigned size, unsigned *slot,
                  unsigned *func, unsigned *reg)
{
    uint32_t a = bus->conf_addr;

    if (!(a & PCI_CONF1_ENABLE) || ((a >> 16) & 0xff) != 0)
        return -1;
    if (offset % size)
        return -1; /* misaligned for its size: not a configuration access */
    *slot = (a >> 11) & 0x1f;
    *func = (a >> 8) & 0x7;
    *reg = (a & 0xfc) + offset;
    return 0;
}

static uint32_t data_read(void *dev, uint16_t offset, unsigned size)
{
    struct pci_bus *bus = dev;
    unsigned slot, func, reg;

    if (decode(bus, offset, size, &slot, &func, &reg))
        return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
    return pci_cfg_read(bus, slot, func, reg, size);
}

static enum io_effect data_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct pci_bus *bus = dev;
    unsigned slot, func, reg;

    if (!decode(bus, offset, size, &slot, &func, &reg))
        pci_cfg_write(bus, slot, func, reg, size, value);
    return IO_OK;
}

const struct io_dev_ops pci_conf_addr_ops = {.read = addr_read, .write = addr_write};
const struct io_dev_ops pci_conf_data_ops = {.read = data_read, .write = data_write};
