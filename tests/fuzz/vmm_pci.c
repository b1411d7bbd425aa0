/* libFuzzer harness of evr-vmm's PCI model: each input is a sequence of
 * guest accesses (configuration mechanism #1, MMIO and port I/O through
 * the exit switch, BAR-relative accesses that follow wherever the guest put
 * the BARs, device-side MSI-X signals) into a machine built from the device
 * table with the pci-test function, on a fake KVM. After every access the
 * model's invariants are checked: the buses' ranges are sorted and apart,
 * every mapped BAR is claimed where pci.c says and decodes there, and no
 * MSI-X vector is bound unless it is live. A broken one aborts.
 *
 * Input format, repeated: one opcode byte, then its operands (little
 * endian); a truncated operand ends the input.
 *   0 cfg write   slot(1) reg(1) size(1) value(4)
 *   1 cfg read    slot(1) reg(1) size(1)
 *   2 BAR write   bar(1) offset(2) size(1) value(8)
 *   3 BAR read    bar(1) offset(2) size(1)
 *   4 MMIO write  addr(8) size(1) value(8)
 *   5 MMIO read   addr(8) size(1)
 *   6 port write  port(2) size(1) value(4)
 *   7 port read   port(2) size(1)
 *   8 signal      vector(1)
 * Opcodes are taken modulo 9; sizes map to 1, 2, 4 or 8 (4 at most for
 * ports and configuration space). */
#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "exit.h"
#include "layout.h"
#include "msix.h"
#include "pci.h"
#include "pci_testdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPS 9

/* KVM as the model sees it: accepts every request. */
static int accept_all(int fd, unsigned long request, void *arg)
{
    (void)fd;
    (void)request;
    (void)arg;
    return 0;
}

struct input {
    const uint8_t *p;
    size_t left;
};

static bool take(struct input *in, unsigned n, uint64_t *v)
{
    if (in->left < n)
        return false;
    *v = 0;
    for (unsigned i = 0; i < n; i++)
        *v |= (uint64_t)in->p[i] << (8 * i);
    in->p += n;
    in->left -= n;
    return true;
}

static unsigned access_size(uint64_t b, unsigned max)
{
    unsigned s = 1u << (b % 4);

    return s > max ? max : s;
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "vmm_pci fuzz: invariant broken: %s\n", what);
        abort();
    }
}

static void check_bus(const struct bus *bus)
{
    for (unsigned i = 1; i < bus->n; i++) {
        const struct bus_range *a = &bus->ranges[i - 1], *b = &bus->ranges[i];
        check(a->base < b->base && a->base + a->len - 1 < b->base, "bus ranges overlap");
    }
}

static void check_function(struct machine *m, struct pci_function *fn)
{
    for (unsigned i = 0; i < PCI_BARS; i++) {
        const struct pci_bar *b = &fn->bar[i];
        struct bus_range r;

        if (b->kind == PCI_BAR_NONE || b->mapped == PCI_BAR_UNMAPPED)
            continue;
        check(b->mapped == pci_bar_decoded(fn, i), "a BAR is mapped where it does not decode");
        check(bus_find(b->kind == PCI_BAR_IO ? &m->pio : &m->mmio, b->mapped, &r) &&
                      r.dev == &fn->dev && r.region == i && r.base == b->mapped && r.len == b->size,
              "a mapped BAR is not claimed on its bus");
    }
    if (fn->msix) {
        uint16_t ctl = (uint16_t)pci_get(fn, fn->msix->cap + MSIX_CTRL, 2);
        for (unsigned i = 0; i < fn->msix->nvec; i++) {
            const struct msix_vector *v = &fn->msix->vec[i];
            bool live = (ctl & MSIX_CTRL_ENABLE) && !(ctl & MSIX_CTRL_MASKALL) &&
                        !(v->ctrl & MSIX_VECTOR_MASKED);
            check(!v->bound || live, "a masked MSI-X vector is bound");
            check(live == v->bound, "a live MSI-X vector is not bound (KVM accepted it)");
        }
    }
}

/* One port I/O or MMIO exit, as KVM would hand it over. */
static void exit_access(struct machine *m, bool mmio, uint64_t addr, unsigned size, bool write,
                        uint64_t value)
{
    static union {
        struct kvm_run run;
        uint8_t page[4096];
    } page;
    struct exit_counters counters = {{0}};

    memset(&page.run, 0, sizeof(page.run));
    if (mmio) {
        page.run.exit_reason = KVM_EXIT_MMIO;
        page.run.mmio.phys_addr = addr;
        page.run.mmio.len = size;
        page.run.mmio.is_write = write;
        memcpy(page.run.mmio.data, &value, size);
    } else {
        page.run.exit_reason = KVM_EXIT_IO;
        page.run.io.direction = write ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
        page.run.io.port = (uint16_t)addr;
        page.run.io.size = (uint8_t)size;
        page.run.io.count = 1;
        page.run.io.data_offset = 1024;
        memcpy(page.page + 1024, &value, size);
    }
    exit_dispatch(&page.run, &m->pio, &m->mmio, &counters);
}

static void config_access(struct machine *m, uint64_t slot, uint64_t reg, unsigned size, bool write,
                          uint32_t value)
{
    uint32_t addr = PCI_CONF1_ENABLE | (uint32_t)(slot & 0x1f) << 11 | (uint32_t)(reg & 0xfc);

    exit_access(m, false, PORT_PCI_CONF_ADDR, 4, true, addr);
    exit_access(m, false, PORT_PCI_CONF_DATA + (reg & 3 & ~(size - 1)), size, write, value);
}

static uint64_t bar_address(struct pci_function *fn, uint64_t bar, uint64_t offset, bool *mmio)
{
    const struct pci_bar *b = &fn->bar[bar % PCI_BARS];

    *mmio = b->kind != PCI_BAR_IO;
    if (b->kind == PCI_BAR_NONE || b->mapped == PCI_BAR_UNMAPPED)
        return GUEST_PCI_MMIO_START + offset;
    return b->mapped + offset % b->size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vmm_config cfg;
    struct machine m;
    struct pci_function *fn;
    struct input in = {data, size};
    char err[256];
    uint64_t op;

    config_defaults(&cfg);
    cfg.pci_test = true;
    if (machine_init(&m, &cfg, (struct kvm_vm){.fd = 0, .ioctl = accept_all}, NULL, NULL, err,
                     sizeof(err))) {
        fprintf(stderr, "vmm_pci fuzz: %s\n", err);
        abort();
    }
    fn = pci_testdev_function(&m);
    while (take(&in, 1, &op)) {
        uint64_t a = 0, b = 0, s = 0, v = 0;
        bool mmio;

        switch (op % OPS) {
        case 0:
            if (!take(&in, 1, &a) || !take(&in, 1, &b) || !take(&in, 1, &s) || !take(&in, 4, &v))
                goto out;
            config_access(&m, a, b, access_size(s, 4), true, (uint32_t)v);
            break;
        case 1:
            if (!take(&in, 1, &a) || !take(&in, 1, &b) || !take(&in, 1, &s))
                goto out;
            config_access(&m, a, b, access_size(s, 4), false, 0);
            break;
        case 2:
        case 3:
            if (!take(&in, 1, &a) || !take(&in, 2, &b) || !take(&in, 1, &s) ||
                (op % OPS == 2 && !take(&in, 8, &v)))
                goto out;
            b = bar_address(fn, a, b, &mmio);
            exit_access(&m, mmio, b, access_size(s, mmio ? 8 : 4), op % OPS == 2, v);
            break;
        case 4:
        case 5:
            if (!take(&in, 8, &a) || !take(&in, 1, &s) || (op % OPS == 4 && !take(&in, 8, &v)))
                goto out;
            exit_access(&m, true, a, access_size(s, 8), op % OPS == 4, v);
            break;
        case 6:
        case 7:
            if (!take(&in, 2, &a) || !take(&in, 1, &s) || (op % OPS == 6 && !take(&in, 4, &v)))
                goto out;
            exit_access(&m, false, a, access_size(s, 4), op % OPS == 6, v);
            break;
        case 8:
            if (!take(&in, 1, &a))
                goto out;
            msix_notify(fn->msix, (unsigned)a % (PCI_TESTDEV_VECTORS + 1));
            break;
        }
        check_bus(&m.pio);
        check_bus(&m.mmio);
        check_function(&m, fn);
        check_function(&m, &m.pci->bridge);
    }
out:
    machine_destroy(&m);
    return 0;
}
