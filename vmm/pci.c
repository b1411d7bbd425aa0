/* PCI host bridge, configuration mechanism #1, configuration space of a
 * function and its capability list; see pci.h. BARs are in pci_bar.c. */
#include "pci.h"
#include "layout.h"
#include "msix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_REGION_ADDR 0  /* 0xcf8: the address register */
#define CONF_REGION_DATA 1  /* 0xcfc..0xcff: the data window */
#define CAP_LIST_STEPS   48 /* (256 - 64) / 4: more steps than that is a loop */

static struct pci_function *fn_of(struct bus_device *dev)
{
    return (struct pci_function *)((char *)dev - offsetof(struct pci_function, dev));
}

/* Accesses to a trapped BAR: the MSI-X table and PBA first, then the device. */
static uint64_t fn_bar_read(struct bus_device *dev, unsigned bar, uint64_t offset, unsigned size)
{
    struct pci_function *fn = fn_of(dev);
    uint64_t v;

    if (fn->msix && msix_bar_read(fn->msix, bar, offset, size, &v))
        return v;
    return fn->ops && fn->ops->bar_read ? fn->ops->bar_read(fn, bar, offset, size)
                                        : bus_all_ones(size);
}

static enum bus_effect fn_bar_write(struct bus_device *dev, unsigned bar, uint64_t offset,
                                    unsigned size, uint64_t value)
{
    struct pci_function *fn = fn_of(dev);

    if (fn->msix && msix_bar_write(fn->msix, bar, offset, size, value))
        return BUS_OK;
    return fn->ops && fn->ops->bar_write ? fn->ops->bar_write(fn, bar, offset, size, value)
                                         : BUS_OK;
}

static const struct bus_ops fn_bus_ops = {.read = fn_bar_read, .write = fn_bar_write};

void pci_function_init(struct pci_function *fn, const char *name, uint16_t vendor, uint16_t device,
                       uint32_t class_code, const struct pci_function_ops *ops, void *priv)
{
    memset(fn, 0, sizeof(*fn));
    bus_device_init(&fn->dev, name, &fn_bus_ops);
    fn->ops = ops;
    fn->priv = priv;
    for (unsigned i = 0; i < PCI_BARS; i++)
        fn->bar[i].mapped = PCI_BAR_UNMAPPED;
    pci_set(fn->cfg, PCI_VENDOR_ID, 2, vendor);
    pci_set(fn->cfg, PCI_DEVICE_ID, 2, device);
    pci_set(fn->cfg, PCI_CLASS_PROG, 3, class_code);
    pci_set(fn->cfg, PCI_SUBSYSTEM_VENDOR, 2, vendor);
    pci_set(fn->cfg, PCI_SUBSYSTEM_ID, 2, device);
    fn->cfg[PCI_HEADER_TYPE] = 0x00; /* type 0, single function */
    /* Decoding, bus master and INTx disable; nothing else of the command
     * register. INTx disable is writable so that a driver's choice reads
     * back, though no function here has an INTx pin. */
    pci_set(fn->wmask, PCI_COMMAND, 2,
            PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
    fn->wmask[PCI_INTERRUPT_LINE] = 0xff; /* firmware's scratch byte */
    fn->cap_next = PCI_CAP_START;
}

void pci_function_destroy(struct pci_function *fn)
{
    bus_device_destroy(&fn->dev);
}

static uint64_t conf_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size);
static enum bus_effect conf_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                  unsigned size, uint64_t value);
static const struct bus_ops conf_ops = {.read = conf_read, .write = conf_write};

int pci_host_init(struct pci_host *host, struct bus *pio, struct bus *mmio)
{
    memset(host, 0, sizeof(*host));
    host->pio = pio;
    host->mmio = mmio;
    host->mem_next = GUEST_PCI_MMIO_START;
    host->mem_end = GUEST_PCI_MMIO_END + 1;
    host->io_next = GUEST_PCI_IO_START;
    host->io_end = GUEST_PCI_IO_END;
    bus_device_init(&host->conf, "pci-conf1", &conf_ops);
    pci_function_init(&host->bridge, "pci-host-bridge", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
                      PCI_CLASS_HOST_BRIDGE, NULL, NULL);
    /* A host bridge does not decode on behalf of itself: only the enables
     * a guest expects to read back. */
    pci_set(host->bridge.wmask, PCI_COMMAND, 2,
            PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    host->bridge.wmask[PCI_INTERRUPT_LINE] = 0;
    host->bridge.host = host;
    host->slot[0] = &host->bridge;
    if (bus_claim(pio, PORT_PCI_CONF_ADDR, 4, &host->conf, CONF_REGION_ADDR) ||
        bus_claim(pio, PORT_PCI_CONF_DATA, 4, &host->conf, CONF_REGION_DATA)) {
        pci_host_destroy(host); /* releases whichever claim succeeded */
        return -1;
    }
    return 0;
}

void pci_host_destroy(struct pci_host *host)
{
    bus_release(host->pio, PORT_PCI_CONF_ADDR, &host->conf);
    bus_release(host->pio, PORT_PCI_CONF_DATA, &host->conf);
    pci_function_destroy(&host->bridge);
    bus_device_destroy(&host->conf);
}

static void *host_realize(struct machine *m, char *err, size_t errlen)
{
    struct pci_host *host = calloc(1, sizeof(*host));

    if (!host) {
        snprintf(err, errlen, "pci-host: out of memory");
        return NULL;
    }
    if (pci_host_init(host, &m->pio, &m->mmio)) {
        snprintf(err, errlen, "pci-host: ports 0x%x-0x%x are taken", PORT_PCI_CONF_ADDR,
                 PORT_PCI_CONF_DATA + 3);
        free(host);
        return NULL;
    }
    m->pci = host;
    return host;
}

static void host_unrealize(struct machine *m, void *state)
{
    pci_host_destroy(state);
    free(state);
    m->pci = NULL;
}

const struct device_type pci_host_device = {
        .name = "pci-host", .realize = host_realize, .unrealize = host_unrealize};

static int host_add(struct pci_host *host, unsigned slot, struct pci_function *fn, bool place,
                    char *err, size_t errlen)
{
    for (unsigned i = 1; slot == PCI_SLOT_ANY && i < PCI_SLOTS; i++)
        if (!host->slot[i])
            slot = i;
    if (slot == PCI_SLOT_ANY) {
        snprintf(err, errlen, "%s: every PCI slot is taken", fn->dev.name);
        return -1;
    }
    if (slot >= PCI_SLOTS || host->slot[slot]) {
        snprintf(err, errlen, "%s: PCI slot %u is %s", fn->dev.name, slot,
                 slot >= PCI_SLOTS ? "out of range (0..31)" : "taken");
        return -1;
    }
    fn->host = host;
    fn->slot = slot;
    if (place && pci_bar_place(host, fn, err, errlen))
        return -1;
    __atomic_store_n(&host->slot[slot], fn, __ATOMIC_RELEASE);
    return 0;
}

int pci_host_add(struct pci_host *host, unsigned slot, struct pci_function *fn, char *err,
                 size_t errlen)
{
    return host_add(host, slot, fn, true, err, errlen);
}

int pci_host_plug(struct pci_host *host, unsigned slot, struct pci_function *fn, char *err,
                  size_t errlen)
{
    return host_add(host, slot, fn, false, err, errlen);
}

void pci_host_remove(struct pci_host *host, struct pci_function *fn)
{
    if (fn->slot < PCI_SLOTS && host->slot[fn->slot] == fn) {
        __atomic_store_n(&host->slot[fn->slot], NULL, __ATOMIC_RELEASE);
        pthread_mutex_lock(&fn->dev.lock);
        pci_set(fn->cfg, PCI_COMMAND, 2, 0);
        pci_bar_update(fn);
        pthread_mutex_unlock(&fn->dev.lock);
    }
}

unsigned pci_cap_add(struct pci_function *fn, uint8_t id, unsigned len)
{
    unsigned off = (fn->cap_next + 3) & ~3u;

    if (len < 2 || off + len > PCI_CFG_SIZE)
        return 0;
    fn->cfg[off] = id;
    fn->cfg[off + 1] = 0;
    if (fn->cap_last)
        fn->cfg[fn->cap_last + 1] = (uint8_t)off;
    else
        fn->cfg[PCI_CAP_PTR] = (uint8_t)off;
    pci_set(fn->cfg, PCI_STATUS, 2, pci_get(fn, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
    fn->cap_last = off;
    fn->cap_next = off + len;
    return off;
}

unsigned pci_cap_find(const struct pci_function *fn, uint8_t id)
{
    unsigned off;

    if (!(pci_get(fn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
        return 0;
    off = fn->cfg[PCI_CAP_PTR] & ~3u;
    for (unsigned step = 0; off >= PCI_CAP_START && step < CAP_LIST_STEPS; step++) {
        if (fn->cfg[off] == id)
            return off;
        off = fn->cfg[off + 1] & ~3u;
    }
    return 0;
}

static struct pci_function *lookup(struct pci_host *host, unsigned slot, unsigned func)
{
    return slot < PCI_SLOTS && func == 0 ? __atomic_load_n(&host->slot[slot], __ATOMIC_ACQUIRE)
                                         : NULL;
}

static bool overlaps(unsigned reg, unsigned size, unsigned start, unsigned len)
{
    return reg < start + len && start < reg + size;
}

uint32_t pci_cfg_read(struct pci_host *host, unsigned slot, unsigned func, unsigned reg,
                      unsigned size)
{
    struct pci_function *fn = lookup(host, slot, func);
    uint32_t v;

    if (!fn || reg + size > PCI_CFG_SIZE || reg % size)
        return (uint32_t)bus_all_ones(size);
    pthread_mutex_lock(&fn->dev.lock);
    v = pci_get(fn, reg, size);
    if (fn->ops && fn->ops->cfg_read)
        fn->ops->cfg_read(fn, reg, size, &v);
    pthread_mutex_unlock(&fn->dev.lock);
    return v;
}

void pci_cfg_write(struct pci_host *host, unsigned slot, unsigned func, unsigned reg, unsigned size,
                   uint32_t value)
{
    struct pci_function *fn = lookup(host, slot, func);

    if (!fn || reg + size > PCI_CFG_SIZE || reg % size)
        return;
    pthread_mutex_lock(&fn->dev.lock);
    for (unsigned i = 0; i < size; i++) {
        unsigned r = reg + i;
        uint8_t b = (uint8_t)(value >> (8 * i));
        uint8_t c = (uint8_t)((fn->cfg[r] & ~fn->wmask[r]) | (b & fn->wmask[r]));
        fn->cfg[r] = (uint8_t)(c & ~(b & fn->w1cmask[r]));
    }
    if (overlaps(reg, size, PCI_COMMAND, 2) || overlaps(reg, size, PCI_BAR0, 4 * PCI_BARS))
        pci_bar_update(fn);
    if (fn->msix && overlaps(reg, size, fn->msix->cap, MSIX_CAP_LEN))
        msix_control_written(fn->msix);
    if (fn->ops && fn->ops->cfg_write)
        fn->ops->cfg_write(fn, reg, size, value);
    pthread_mutex_unlock(&fn->dev.lock);
}

/* Mechanism #1. The address register is one for the whole bus, so these
 * ports run under their own lock (host->conf) and each access then takes
 * the function's. */
static uint64_t conf_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    struct pci_host *host = (struct pci_host *)((char *)dev - offsetof(struct pci_host, conf));
    uint32_t a = host->conf_addr;

    if (region == CONF_REGION_ADDR) {
        /* Only a 32-bit access at 0xcf8 is the address register; byte
         * accesses there belong to other legacy uses and read as zero. */
        return offset == 0 && size == 4 ? a : 0;
    }
    if (!(a & PCI_CONF1_ENABLE) || ((a >> 16) & 0xff) != 0 || size > 4 || offset % size)
        return bus_all_ones(size);
    return pci_cfg_read(host, (a >> 11) & 0x1f, (a >> 8) & 0x7, (a & 0xfc) + (unsigned)offset,
                        size);
}

static enum bus_effect conf_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                  unsigned size, uint64_t value)
{
    struct pci_host *host = (struct pci_host *)((char *)dev - offsetof(struct pci_host, conf));
    uint32_t a = host->conf_addr;

    if (region == CONF_REGION_ADDR) {
        if (offset == 0 && size == 4)
            host->conf_addr = (uint32_t)value & 0x80fffffcu;
        return BUS_OK;
    }
    /* Another bus, the enable bit clear, or misaligned for its size: not a
     * configuration access. */
    if ((a & PCI_CONF1_ENABLE) && ((a >> 16) & 0xff) == 0 && size <= 4 && offset % size == 0)
        pci_cfg_write(host, (a >> 11) & 0x1f, (a >> 8) & 0x7, (a & 0xfc) + (unsigned)offset, size,
                      (uint32_t)value);
    return BUS_OK;
}
