/* The PCI test function; see pci_testdev.h. */
#include "pci_testdev.h"
#include "config.h"
#include "msix.h"
#include "pci.h"

#include <stdio.h>
#include <stdlib.h>

struct pci_testdev {
    struct pci_function fn;
    struct msix msix;
    uint32_t scratch;
    uint32_t rung;
};

static uint64_t regs_read(struct pci_function *fn, unsigned bar, uint64_t offset, unsigned size)
{
    struct pci_testdev *t = fn->priv;

    (void)bar;
    (void)size;
    switch (offset) {
    case PCI_TESTDEV_SCRATCH:
        return t->scratch;
    case PCI_TESTDEV_RUNG:
        return t->rung;
    default:
        return 0;
    }
}

static enum bus_effect regs_write(struct pci_function *fn, unsigned bar, uint64_t offset,
                                  unsigned size, uint64_t value)
{
    struct pci_testdev *t = fn->priv;

    (void)bar;
    (void)size;
    switch (offset) {
    case PCI_TESTDEV_SCRATCH:
        t->scratch = (uint32_t)value;
        break;
    case PCI_TESTDEV_DOORBELL:
        t->rung++;
        msix_notify(&t->msix, (unsigned)value); /* out of range: ignored */
        break;
    default:
        break;
    }
    return BUS_OK;
}

static const struct pci_function_ops testdev_ops = {.bar_read = regs_read, .bar_write = regs_write};

static bool testdev_wanted(const struct vmm_config *cfg)
{
    return cfg && cfg->pci_test;
}

static void *testdev_realize(struct machine *m, char *err, size_t errlen)
{
    struct pci_testdev *t = calloc(1, sizeof(*t));

    if (!t) {
        snprintf(err, errlen, "pci-test: out of memory");
        return NULL;
    }
    if (!m->pci) {
        snprintf(err, errlen, "pci-test: no PCI host");
        free(t);
        return NULL;
    }
    pci_function_init(&t->fn, "pci-test", PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE, PCI_TESTDEV_CLASS,
                      &testdev_ops, t);
    if (pci_bar_add(&t->fn, PCI_TESTDEV_REGS_BAR, PCI_BAR_MEM32, 4096, false) ||
        pci_bar_add(&t->fn, PCI_TESTDEV_IO_BAR, PCI_BAR_IO, 16, false) ||
        pci_bar_add(&t->fn, PCI_TESTDEV_MSIX_BAR, PCI_BAR_MEM64, 16384, false)) {
        snprintf(err, errlen, "pci-test: BARs refused");
        goto fail;
    }
    if (msix_init(&t->msix, &t->fn, &m->gsi, PCI_TESTDEV_VECTORS, PCI_TESTDEV_MSIX_BAR, 0,
                  PCI_TESTDEV_MSIX_BAR, PCI_TESTDEV_PBA_OFF, err, errlen))
        goto fail;
    if (pci_host_add(m->pci, PCI_SLOT_ANY, &t->fn, err, errlen)) {
        msix_destroy(&t->msix);
        goto fail;
    }
    return t;
fail:
    pci_function_destroy(&t->fn);
    free(t);
    return NULL;
}

static void testdev_unrealize(struct machine *m, void *state)
{
    struct pci_testdev *t = state;

    if (m->pci)
        pci_host_remove(m->pci, &t->fn);
    msix_destroy(&t->msix);
    pci_function_destroy(&t->fn);
    free(t);
}

const struct device_type pci_testdev_device = {.name = "pci-test",
                                               .wanted = testdev_wanted,
                                               .realize = testdev_realize,
                                               .unrealize = testdev_unrealize};

struct pci_function *pci_testdev_function(const struct machine *m)
{
    struct pci_testdev *t = machine_device(m, &pci_testdev_device);

    return t ? &t->fn : NULL;
}
