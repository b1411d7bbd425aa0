/* The guest's view of a host PCI function; see pci_passthru.h. */
#include "pci_passthru.h"
#include "layout.h"

#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/kvm.h>

#define PAGE_SIZE  4096ull
#define CMD_PASSED (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)

static bool overlaps(unsigned reg, unsigned size, unsigned start, unsigned len)
{
    return reg < start + len && start < reg + size;
}

/* MSI as the guest left it: live while enabled, the GSI routed to the
 * address and data it wrote, the eventfd bound to the GSI and the device's
 * vector connected to the eventfd; none of it while disabled. */
static void msi_sync(struct pci_passthru *p)
{
    const struct pci_function *fn = &p->fn;
    unsigned c = p->msi_cap;
    bool on = pci_get(fn, c + PCI_MSI_CTRL, 2) & PCI_MSI_ENABLE;
    uint64_t addr = (uint64_t)pci_get(fn, c + PCI_MSI_ADDR_HI, 4) << 32 |
                    pci_get(fn, c + PCI_MSI_ADDR_LO, 4);
    uint32_t data = pci_get(fn, c + PCI_MSI_DATA, 2);

    if (!on) {
        if (p->msi_connected && p->io->msi_connect(p->ctx, -1))
            p->io_errors++;
        p->msi_connected = false;
        if (p->msi_bound && gsi_irqfd(p->gsi, (unsigned)p->msi_gsi, p->msi_efd, false) == 0)
            p->msi_bound = false;
        return;
    }
    if (!p->msi_routed || p->msi_addr != addr || p->msi_data != data) {
        if (gsi_route_msi(p->gsi, (unsigned)p->msi_gsi, addr, data) == 0) {
            p->msi_routed = true;
            p->msi_addr = addr;
            p->msi_data = data;
        } else {
            p->io_errors++;
        }
    }
    if (!p->msi_bound && gsi_irqfd(p->gsi, (unsigned)p->msi_gsi, p->msi_efd, true) == 0)
        p->msi_bound = true;
    if (!p->msi_connected) {
        if (p->io->msi_connect(p->ctx, p->msi_efd) == 0)
            p->msi_connected = true;
        else
            p->io_errors++;
    }
}

/* Whether the guest drives the function on MSI-X or MSI now; a device
 * then leaves INTx alone, and VFIO takes only one of them at a time. */
static bool vectors_on(const struct pci_passthru *p)
{
    return (p->fn.msix && (pci_get(&p->fn, p->msix.cap + MSIX_CTRL, 2) & MSIX_CTRL_ENABLE)) ||
           (p->msi_cap && (pci_get(&p->fn, p->msi_cap + PCI_MSI_CTRL, 2) & PCI_MSI_ENABLE));
}

/* INTx as the guest left it: bound to the slot's pin and connected while
 * the function is on a bus, INTx is not disabled in its command register,
 * neither MSI-X nor MSI is on and off is false (the function is going
 * away); neither otherwise. With may_connect false it only disconnects:
 * INTx must be off before the device's MSI or MSI-X is connected, and may
 * come on only once they are disconnected. */
static void intx_sync(struct pci_passthru *p, bool off, bool may_connect)
{
    bool want = !off && p->fn.host && !(pci_get(&p->fn, PCI_COMMAND, 2) & PCI_COMMAND_INTX_OFF) &&
                !vectors_on(p);

    if (want && !p->intx_on && may_connect) {
        p->intx_gsi = pci_intx_gsi(p->fn.slot);
        if (gsi_irqfd_resample(p->gsi, p->intx_gsi, p->intx_efd, p->intx_resample_efd, true)) {
            p->io_errors++;
            return;
        }
        if (p->io->intx_connect(p->ctx, p->intx_efd, p->intx_resample_efd)) {
            gsi_irqfd_resample(p->gsi, p->intx_gsi, p->intx_efd, -1, false);
            p->io_errors++;
            return;
        }
        p->intx_on = true;
    } else if (!want && p->intx_on) {
        if (p->io->intx_connect(p->ctx, -1, -1))
            p->io_errors++;
        gsi_irqfd_resample(p->gsi, p->intx_gsi, p->intx_efd, -1, false);
        p->intx_on = false;
    }
}

static void pt_cfg_write(struct pci_function *fn, unsigned reg, unsigned size, uint32_t value)
{
    struct pci_passthru *p = fn->priv;
    bool msi = p->msi_cap && overlaps(reg, size, p->msi_cap, PCI_MSI_CAP_LEN);
    bool msix = fn->msix && overlaps(reg, size, p->msix.cap, MSIX_CAP_LEN);
    bool irq = p->intx && (msi || msix || overlaps(reg, size, PCI_COMMAND, 2));

    (void)value;
    if (p->unplugged)
        return;
    if (overlaps(reg, size, PCI_COMMAND, 2)) {
        /* The enables the guest chose; INTx only for a function that has
         * it emulated, else a device asserting it would only raise a host
         * interrupt. */
        uint16_t cmd = (uint16_t)(pci_get(fn, PCI_COMMAND, 2) &
                                  (p->intx ? CMD_PASSED | PCI_COMMAND_INTX_OFF : CMD_PASSED));
        if (!p->intx)
            cmd |= PCI_COMMAND_INTX_OFF;
        if (p->io->cfg_write(p->ctx, PCI_COMMAND, &cmd, sizeof(cmd)))
            p->io_errors++;
    }
    if (irq) /* off before MSI or MSI-X may come on */
        intx_sync(p, false, false);
    if (msi)
        msi_sync(p);
    if (msix) {
        bool on = pci_get(fn, p->msix.cap + MSIX_CTRL, 2) & MSIX_CTRL_ENABLE;

        if (on && !p->msix_connected) {
            int efds[MSIX_MAX_VECTORS];
            for (unsigned i = 0; i < p->msix.nvec; i++)
                efds[i] = msix_vector_eventfd(&p->msix, i);
            if (p->io->msix_connect(p->ctx, p->msix.nvec, efds) == 0)
                p->msix_connected = true;
            else
                p->io_errors++;
        } else if (!on && p->msix_connected) {
            if (p->io->msix_connect(p->ctx, 0, NULL))
                p->io_errors++;
            p->msix_connected = false;
        }
    }
    if (irq) /* on again only once they are off */
        intx_sync(p, false, true);
}

/* Whether an access msix.c did not take (it goes by the first byte) still
 * reaches into the table or PBA: one that starts just before them. The
 * device's own table holds the host's addresses; the guest never writes
 * it, and such a read sees all ones, as msix.c answers a misaligned one. */
static bool straddles_msix(const struct pci_passthru *p, unsigned bar, uint64_t off, unsigned size)
{
    const struct msix *m = &p->msix;
    uint64_t table_len = (uint64_t)m->nvec * MSIX_ENTRY_SIZE, pba_len = (m->nvec + 63) / 64 * 8;

    if (!p->fn.msix)
        return false;
    return (bar == m->table_bar && off < m->table_off + table_len && m->table_off < off + size) ||
           (bar == m->pba_bar && off < m->pba_off + pba_len && m->pba_off < off + size);
}

static uint64_t pt_bar_read(struct pci_function *fn, unsigned bar, uint64_t offset, unsigned size)
{
    struct pci_passthru *p = fn->priv;
    uint64_t v = 0;

    if (p->unplugged || straddles_msix(p, bar, offset, size))
        return bus_all_ones(size);
    if (p->io->bar_read(p->ctx, bar, offset, &v, size)) {
        p->io_errors++;
        return bus_all_ones(size);
    }
    return v;
}

static enum bus_effect pt_bar_write(struct pci_function *fn, unsigned bar, uint64_t offset,
                                    unsigned size, uint64_t value)
{
    struct pci_passthru *p = fn->priv;

    if (p->unplugged)
        return BUS_OK;
    if (straddles_msix(p, bar, offset, size)) {
        p->refused++;
        return BUS_OK;
    }
    if (p->io->bar_write(p->ctx, bar, offset, &value, size))
        p->io_errors++;
    return BUS_OK;
}

static int set_slot(struct pci_passthru *p, unsigned bar, unsigned k, uint64_t addr, bool on)
{
    const struct pci_passthru_seg *g = &p->seg[bar][k];
    struct kvm_userspace_memory_region r = {
            .slot = p->memslot_base + bar * PCI_PASSTHRU_SEGS + k,
            .guest_phys_addr = addr + g->off,
            .memory_size = on ? g->len : 0,
            .userspace_addr = (uintptr_t)p->bar[bar].host + g->off,
    };

    return kvm_vm_ioctl(p->kvm, KVM_SET_USER_MEMORY_REGION, &r);
}

/* A memory BAR decodes only inside the PCI window; there, the range is
 * claimed on the bus (so it cannot overlap another function's BAR, and
 * what no slot covers traps) and its segments are laid over it as memory
 * slots, whose accesses never leave KVM. A slot KVM refuses leaves its
 * pages trapped: slower, still right. */
static int pt_bar_activate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    struct pci_passthru *p = fn->priv;
    const struct pci_bar *b = &fn->bar[bar];

    if (p->unplugged)
        return -1;
    if (b->kind != PCI_BAR_IO && (addr < GUEST_PCI_MMIO_START || addr > GUEST_PCI_MMIO_END ||
                                  b->size - 1 > GUEST_PCI_MMIO_END - addr)) {
        p->refused++;
        return -1;
    }
    if (pci_bar_trap(fn, bar, addr))
        return -1;
    for (unsigned k = 0; k < p->nseg[bar]; k++) {
        if (set_slot(p, bar, k, addr, true) == 0)
            p->seg[bar][k].mapped = true;
        else
            p->io_errors++;
    }
    return 0;
}

static void pt_bar_deactivate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    struct pci_passthru *p = fn->priv;

    for (unsigned k = 0; k < p->nseg[bar]; k++) {
        if (!p->seg[bar][k].mapped)
            continue;
        if (set_slot(p, bar, k, addr, false))
            p->io_errors++;
        p->seg[bar][k].mapped = false;
    }
    pci_bar_untrap(fn, bar, addr);
}

static unsigned pt_counters(struct pci_function *fn, struct pci_counter *out)
{
    struct pci_passthru *p = fn->priv;

    out[0] = (struct pci_counter){"refused", __atomic_load_n(&p->refused, __ATOMIC_RELAXED)};
    out[1] = (struct pci_counter){"io_errors", __atomic_load_n(&p->io_errors, __ATOMIC_RELAXED)};
    return 2;
}

static const struct pci_function_ops passthru_ops = {
        .cfg_write = pt_cfg_write,
        .bar_read = pt_bar_read,
        .bar_write = pt_bar_write,
        .bar_activate = pt_bar_activate,
        .bar_deactivate = pt_bar_deactivate,
        .counters = pt_counters,
};

static int bar_refused(char *err, size_t errlen, const char *name, unsigned bar, uint64_t size,
                       const char *why)
{
    snprintf(err, errlen, "%s: BAR %u (%llu bytes) %s", name, bar, (unsigned long long)size, why);
    return -1;
}

static int declare_bars(struct pci_passthru *p, const struct pci_function *dev,
                        const struct pci_passthru_bar bars[PCI_BARS], char *err, size_t errlen)
{
    for (unsigned i = 0; i < PCI_BARS; i++) {
        uint32_t reg = pci_get(dev, PCI_BAR0 + 4 * i, 4);
        uint64_t size = bars[i].size;
        enum pci_bar_kind kind;

        if (size == 0)
            continue;
        if (reg & PCI_BAR_IO_BIT)
            kind = PCI_BAR_IO;
        else
            kind = ((reg >> 1) & 3) == 2 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
        if (kind == PCI_BAR_IO && size > 256)
            return bar_refused(err, errlen, p->name, i, size,
                               "is an I/O BAR larger than the 256 ports emulated");
        if (kind != PCI_BAR_IO && size > GIB)
            return bar_refused(err, errlen, p->name, i, size,
                               "is larger than the guest's 1 GiB PCI window");
        if (pci_bar_add(&p->fn, i, kind, size, kind != PCI_BAR_IO && (reg & PCI_BAR_PREFETCH_BIT)))
            return bar_refused(err, errlen, p->name, i, size, "cannot be emulated");
        p->bar[i].size = size;
        /* Only whole pages can be a memory slot. */
        if (kind != PCI_BAR_IO && bars[i].host && size % PAGE_SIZE == 0)
            p->bar[i].host = bars[i].host;
        if (kind == PCI_BAR_MEM64)
            i++;
    }
    return 0;
}

static uint64_t page_down(uint64_t v)
{
    return v & ~(PAGE_SIZE - 1);
}

static uint64_t page_up(uint64_t v)
{
    return (v + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

/* The memory slots of a mapped BAR: all of it but the pages of the MSI-X
 * table and PBA, which msix.c emulates (the guest must never write the
 * device's own table: its addresses are the host's). */
static void plan_segments(struct pci_passthru *p, unsigned bar)
{
    uint64_t hole[2][2], nhole = 0, at = 0, size = p->bar[bar].size;

    p->nseg[bar] = 0;
    if (!p->bar[bar].host)
        return;
    if (p->fn.msix && p->msix.table_bar == bar) {
        hole[nhole][0] = page_down(p->msix.table_off);
        hole[nhole++][1] = page_up(p->msix.table_off + (uint64_t)p->msix.nvec * MSIX_ENTRY_SIZE);
    }
    if (p->fn.msix && p->msix.pba_bar == bar) {
        hole[nhole][0] = page_down(p->msix.pba_off);
        hole[nhole++][1] = page_up(p->msix.pba_off + (p->msix.nvec + 63) / 64 * 8);
    }
    if (nhole == 2 && hole[1][0] < hole[0][0]) {
        uint64_t t0 = hole[0][0], t1 = hole[0][1];
        hole[0][0] = hole[1][0];
        hole[0][1] = hole[1][1];
        hole[1][0] = t0;
        hole[1][1] = t1;
    }
    for (unsigned h = 0; h <= nhole; h++) {
        uint64_t end = h < nhole ? hole[h][0] : size;
        if (end > at) {
            p->seg[bar][p->nseg[bar]++] = (struct pci_passthru_seg){.off = at, .len = end - at};
        }
        if (h < nhole && hole[h][1] > at)
            at = hole[h][1];
    }
}

/* Copies a capability the guest may read but not change. */
static int copy_cap(struct pci_passthru *p, const struct pci_function *dev, uint8_t id,
                    unsigned len)
{
    unsigned from = pci_cap_find(dev, id), to;

    if (!from)
        return 0;
    if (from + len > PCI_CFG_SIZE)
        len = PCI_CFG_SIZE - from;
    to = pci_cap_add(&p->fn, id, len);
    if (!to)
        return -1;
    memcpy(&p->fn.cfg[to + 2], &dev->cfg[from + 2], len - 2);
    return (int)to;
}

/* One MSI vector, 64-bit address, no per-vector mask. */
static int msi_init(struct pci_passthru *p, struct gsi_router *gsi, char *err, size_t errlen)
{
    unsigned c = pci_cap_add(&p->fn, PCI_CAP_ID_MSI, PCI_MSI_CAP_LEN);

    if (!c) {
        snprintf(err, errlen, "%s: no room for MSI", p->name);
        return -1;
    }
    p->gsi = gsi;
    p->msi_cap = c;
    p->msi_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->msi_gsi = gsi_alloc(gsi);
    if (p->msi_efd < 0 || p->msi_gsi < 0) {
        snprintf(err, errlen, "%s: MSI: %s", p->name,
                 p->msi_gsi < 0 ? "no free GSI" : "no eventfd");
        if (p->msi_efd >= 0)
            close(p->msi_efd);
        if (p->msi_gsi >= 0)
            gsi_free(gsi, (unsigned)p->msi_gsi);
        p->msi_cap = 0;
        return -1;
    }
    pci_set(p->fn.cfg, c + PCI_MSI_CTRL, 2, PCI_MSI_64BIT); /* one vector (MMC 0) */
    pci_set(p->fn.wmask, c + PCI_MSI_CTRL, 2, PCI_MSI_ENABLE);
    pci_set(p->fn.wmask, c + PCI_MSI_ADDR_LO, 4, ~3u);
    pci_set(p->fn.wmask, c + PCI_MSI_ADDR_HI, 4, ~0u);
    pci_set(p->fn.wmask, c + PCI_MSI_DATA, 2, 0xffff);
    return 0;
}

/* INTA, with its two eventfds; bound and connected by intx_sync. */
static int intx_init(struct pci_passthru *p, char *err, size_t errlen)
{
    p->intx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->intx_resample_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->intx_efd < 0 || p->intx_resample_efd < 0 || !p->io->intx_connect) {
        snprintf(err, errlen, "%s: INTx: %s", p->name,
                 p->io->intx_connect ? "no eventfd" : "not offered by its io");
        if (p->intx_efd >= 0)
            close(p->intx_efd);
        if (p->intx_resample_efd >= 0)
            close(p->intx_resample_efd);
        return -1;
    }
    p->intx = true;
    p->fn.cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
    return 0;
}

int pci_passthru_init(struct pci_passthru *p, const char *name, const uint8_t *phys,
                      const struct pci_passthru_bar bars[PCI_BARS],
                      const struct pci_passthru_io *io, void *ctx, struct kvm_vm *kvm,
                      struct gsi_router *gsi, unsigned memslot_base, char *err, size_t errlen)
{
    /* The device's configuration space, read through pci.h's accessors and
     * capability walk (bounded, so a looping list cannot hang us). */
    struct pci_function dev = {0};
    unsigned msix_cap, exp_cap, exp_len = PCI_EXP_CAP_LEN, nvec;
    uint32_t table, pba;
    int pm;

    memcpy(dev.cfg, phys, PCI_CFG_SIZE);
    msix_cap = pci_cap_find(&dev, PCI_CAP_ID_MSIX);
    exp_cap = pci_cap_find(&dev, PCI_CAP_ID_EXP);
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->io = io;
    p->ctx = ctx;
    p->kvm = kvm;
    p->memslot_base = memslot_base;
    if ((phys[PCI_HEADER_TYPE] & 0x7f) != 0) {
        snprintf(err, errlen, "%s: header type %u is not a PCI endpoint (type 0)", p->name,
                 phys[PCI_HEADER_TYPE] & 0x7f);
        return -1;
    }
    p->gsi = gsi;
    if (!msix_cap && !pci_cap_find(&dev, PCI_CAP_ID_MSI) && !phys[PCI_INTERRUPT_PIN]) {
        snprintf(err, errlen, "%s: has neither MSI-X, MSI nor an INTx pin", p->name);
        return -1;
    }
    pci_function_init(&p->fn, p->name, (uint16_t)pci_get(&dev, PCI_VENDOR_ID, 2),
                      (uint16_t)pci_get(&dev, PCI_DEVICE_ID, 2), pci_get(&dev, PCI_CLASS_PROG, 3),
                      &passthru_ops, p);
    p->fn.cfg[PCI_REVISION] = phys[PCI_REVISION];
    pci_set(p->fn.cfg, PCI_SUBSYSTEM_VENDOR, 4, pci_get(&dev, PCI_SUBSYSTEM_VENDOR, 4));
    if (declare_bars(p, &dev, bars, err, errlen))
        goto fail;
    pm = copy_cap(p, &dev, PCI_CAP_ID_PM, PCI_PM_CAP_LEN);
    if (pm > 0) /* the guest sees D0 whatever it writes */
        p->fn.cfg[pm + PCI_PM_CTRL] &= (uint8_t)~3u;
    if (exp_cap && (pci_get(&dev, exp_cap + 2, 2) & 0xf) < 2)
        exp_len = PCI_EXP_V1_LEN;
    if (pm < 0 || copy_cap(p, &dev, PCI_CAP_ID_EXP, exp_len) < 0) {
        snprintf(err, errlen, "%s: no room for its capabilities", p->name);
        goto fail;
    }
    if (phys[PCI_INTERRUPT_PIN] && intx_init(p, err, errlen))
        goto fail;
    if (!msix_cap && pci_cap_find(&dev, PCI_CAP_ID_MSI)) {
        if (msi_init(p, gsi, err, errlen))
            goto fail;
    } else if (msix_cap) {
        nvec = (pci_get(&dev, msix_cap + MSIX_CTRL, 2) & 0x7ff) + 1;
        table = pci_get(&dev, msix_cap + MSIX_TABLE, 4);
        pba = pci_get(&dev, msix_cap + MSIX_PBA, 4);
        if (msix_init(&p->msix, &p->fn, gsi, nvec, table & 7, table & ~7u, pba & 7, pba & ~7u, err,
                      errlen))
            goto fail;
    }
    for (unsigned b = 0; b < PCI_BARS; b++)
        plan_segments(p, b);
    return 0;
fail:
    if (p->intx) {
        close(p->intx_efd);
        close(p->intx_resample_efd);
        p->intx = false;
    }
    pci_function_destroy(&p->fn);
    return -1;
}

/* Disconnects and frees the vectors (MSI or MSI-X) once no guest access
 * can reach them. */
static void release_vectors(struct pci_passthru *p)
{
    if (p->intx) {
        intx_sync(p, true, false);
        close(p->intx_efd);
        close(p->intx_resample_efd);
        p->intx = false;
    }
    if (p->msi_cap) {
        pci_set(p->fn.cfg, p->msi_cap + PCI_MSI_CTRL, 2, PCI_MSI_64BIT);
        msi_sync(p); /* disconnected and unbound */
        gsi_free(p->gsi, (unsigned)p->msi_gsi);
        close(p->msi_efd);
        p->msi_cap = 0;
    }
    if (p->msix_connected && p->io->msix_connect(p->ctx, 0, NULL))
        p->io_errors++;
    p->msix_connected = false;
    msix_destroy(&p->msix);
}

void pci_passthru_unplug(struct pci_passthru *p)
{
    pthread_mutex_lock(&p->fn.dev.lock);
    p->unplugged = true;
    p->fn.msix = NULL; /* pci.c no longer hands the table or its control to msix.c */
    pthread_mutex_unlock(&p->fn.dev.lock);
    release_vectors(p);
}

void pci_passthru_destroy(struct pci_passthru *p)
{
    if (!p->unplugged)
        release_vectors(p);
    pci_function_destroy(&p->fn);
}

uint64_t pci_passthru_slot_bytes(const struct pci_passthru *p, unsigned bar)
{
    uint64_t n = 0;

    for (unsigned k = 0; bar < PCI_BARS && k < p->nseg[bar]; k++)
        if (p->seg[bar][k].mapped)
            n += p->seg[bar][k].len;
    return n;
}
