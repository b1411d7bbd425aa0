/* BARs: declaration, sizing through wmask, placement in the host bridge's
 * windows, and mapping while decoding is on; see pci.h. */
#include "layout.h"
#include "pci.h"

#include <errno.h>
#include <stdio.h>

#define BAR_IO_MAX  256ull
#define BAR_MEM_MAX (1ull << 30)

static bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static unsigned bar_reg(unsigned bar)
{
    return PCI_BAR0 + 4 * bar;
}

/* Whether bar is the upper half of a 64-bit BAR. */
static bool is_upper_half(const struct pci_function *fn, unsigned bar)
{
    return bar > 0 && fn->bar[bar - 1].kind == PCI_BAR_MEM64;
}

int pci_bar_add(struct pci_function *fn, unsigned bar, enum pci_bar_kind kind, uint64_t size,
                bool prefetchable)
{
    unsigned reg = bar_reg(bar);
    uint64_t mask = ~(size - 1);
    bool size_ok = kind == PCI_BAR_IO ? size >= 4 && size <= BAR_IO_MAX
                                      : size >= 16 && size <= BAR_MEM_MAX;

    if (bar >= PCI_BARS || kind == PCI_BAR_NONE || !pow2(size) || !size_ok ||
        fn->bar[bar].kind != PCI_BAR_NONE || is_upper_half(fn, bar) ||
        (kind == PCI_BAR_MEM64 && (bar + 1 >= PCI_BARS || fn->bar[bar + 1].kind != PCI_BAR_NONE)) ||
        (kind == PCI_BAR_IO && prefetchable)) {
        errno = EINVAL;
        return -1;
    }
    fn->bar[bar] = (struct pci_bar){
            .kind = kind, .prefetchable = prefetchable, .size = size, .mapped = PCI_BAR_UNMAPPED};
    /* The low bits say what the BAR is and are read-only; the address bits
     * below the size are read-only zero, which is what sizing reads back. */
    switch (kind) {
    case PCI_BAR_IO:
        pci_set(fn->cfg, reg, 4, PCI_BAR_IO_BIT);
        pci_set(fn->wmask, reg, 4, (uint32_t)mask & ~3u);
        break;
    case PCI_BAR_MEM32:
        pci_set(fn->cfg, reg, 4, prefetchable ? PCI_BAR_PREFETCH_BIT : 0);
        pci_set(fn->wmask, reg, 4, (uint32_t)mask & ~0xfu);
        break;
    case PCI_BAR_MEM64:
        pci_set(fn->cfg, reg, 4, PCI_BAR_MEM64_BITS | (prefetchable ? PCI_BAR_PREFETCH_BIT : 0));
        pci_set(fn->wmask, reg, 4, (uint32_t)mask & ~0xfu);
        pci_set(fn->cfg, reg + 4, 4, 0);
        pci_set(fn->wmask, reg + 4, 4, (uint32_t)(mask >> 32));
        break;
    case PCI_BAR_NONE:
        break;
    }
    return 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

int pci_bar_place(struct pci_host *host, struct pci_function *fn, char *err, size_t errlen)
{
    for (unsigned i = 0; i < PCI_BARS; i++) {
        struct pci_bar *b = &fn->bar[i];
        unsigned reg = bar_reg(i);
        uint64_t *next, end, addr;

        if (b->kind == PCI_BAR_NONE)
            continue;
        if (b->kind == PCI_BAR_IO) {
            next = &host->io_next;
            end = host->io_end;
            addr = align_up(*next, b->size);
        } else {
            next = &host->mem_next;
            end = host->mem_end;
            addr = align_up(*next,
                            b->size > PCI_BAR_MIN_MEM_ALIGN ? b->size : PCI_BAR_MIN_MEM_ALIGN);
        }
        if (addr > end || b->size > end - addr) {
            snprintf(err, errlen, "%s: no room for BAR %u (%llu bytes) in the PCI %s window",
                     fn->dev.name, i, (unsigned long long)b->size,
                     b->kind == PCI_BAR_IO ? "I/O" : "memory");
            return -1;
        }
        *next = addr + b->size;
        pci_set(fn->cfg, reg, 4, (pci_get(fn, reg, 4) & ~fn->wmask[reg]) | (uint32_t)addr);
        if (b->kind == PCI_BAR_MEM64)
            pci_set(fn->cfg, reg + 4, 4, (uint32_t)(addr >> 32));
    }
    return 0;
}

uint64_t pci_bar_decoded(const struct pci_function *fn, unsigned bar)
{
    const struct pci_bar *b = &fn->bar[bar];
    uint32_t cmd = pci_get(fn, PCI_COMMAND, 2);
    uint32_t lo = pci_get(fn, bar_reg(bar), 4);
    uint64_t addr;

    switch (b->kind) {
    case PCI_BAR_IO:
        addr = lo & ~3u;
        /* Ports stop at 0xffff: an address past them decodes nothing. */
        if (!(cmd & PCI_COMMAND_IO) || addr == 0 || addr + b->size > GUEST_PCI_IO_END)
            return PCI_BAR_UNMAPPED;
        return addr;
    case PCI_BAR_MEM32:
    case PCI_BAR_MEM64:
        addr = lo & ~0xfu;
        if (b->kind == PCI_BAR_MEM64)
            addr |= (uint64_t)pci_get(fn, bar_reg(bar) + 4, 4) << 32;
        /* Address 0 is where firmware parks a BAR it gave nothing to; the
         * all-ones sizing pattern of a 64-bit BAR would wrap. */
        if (!(cmd & PCI_COMMAND_MEMORY) || addr == 0 || addr + b->size < addr)
            return PCI_BAR_UNMAPPED;
        return addr;
    case PCI_BAR_NONE:
        break;
    }
    return PCI_BAR_UNMAPPED;
}

static struct bus *bar_bus(const struct pci_function *fn, unsigned bar)
{
    return fn->bar[bar].kind == PCI_BAR_IO ? fn->host->pio : fn->host->mmio;
}

int pci_bar_trap(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    if (!fn->host || bar >= PCI_BARS || fn->bar[bar].kind == PCI_BAR_NONE)
        return -1;
    return bus_claim(bar_bus(fn, bar), addr, fn->bar[bar].size, &fn->dev, bar);
}

void pci_bar_untrap(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    if (fn->host && bar < PCI_BARS && fn->bar[bar].kind != PCI_BAR_NONE)
        bus_release(bar_bus(fn, bar), addr, &fn->dev);
}

static int activate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    if (fn->ops && fn->ops->bar_activate)
        return fn->ops->bar_activate(fn, bar, addr);
    return pci_bar_trap(fn, bar, addr);
}

static void deactivate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    if (fn->ops && fn->ops->bar_deactivate)
        fn->ops->bar_deactivate(fn, bar, addr);
    else
        pci_bar_untrap(fn, bar, addr);
}

void pci_bar_update(struct pci_function *fn)
{
    for (unsigned i = 0; i < PCI_BARS; i++) {
        struct pci_bar *b = &fn->bar[i];
        uint64_t want;

        if (b->kind == PCI_BAR_NONE)
            continue;
        want = pci_bar_decoded(fn, i);
        if (want == b->mapped)
            continue;
        if (b->mapped != PCI_BAR_UNMAPPED) {
            deactivate(fn, i, b->mapped);
            b->mapped = PCI_BAR_UNMAPPED;
        }
        if (want != PCI_BAR_UNMAPPED && activate(fn, i, want) == 0)
            b->mapped = want;
    }
}
