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

/* Registers take any access size at any offset, byte lanes as on a real
 * bus: a guest writing the scratch register byte by byte (port I/O through
 * /dev/port does) composes it. */
static uint64_t regs_read(struct pci_function *fn, unsigned bar, uint64_t offset, unsigned size)
{
    struct pci_testdev *t = fn->priv;
    uint64_t v = 0;

    (void)bar;
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = offset + i;
        uint32_t reg = o / 4 == PCI_TESTDEV_SCRATCH / 4 ? t->scratch
                       : o / 4 == PCI_TESTDEV_RUNG / 4  ? t->rung
                                                        : 0;
        v |= (uint64_t)((reg >> (8 * (o % 4))) & 0xff) << (8 * i);
    }
    return v;
}

static enum bus_effect regs_write(struct pci_function *fn, unsigned bar, uint64_t offset,
                                  unsigned size, uint64_t value)
{
    struct pci_testdev *t = fn->priv;
    bool ring = false;

    (void)bar;
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = offset + i;
        uint32_t b = (uint32_t)(value >> (8 * i)) & 0xff;
        if (o / 4 == PCI_TESTDEV_SCRATCH / 4)
            t->scratch = (t->scratch & ~(0xffu << (8 * (o % 4)))) | b << (8 * (o % 4));
        else if (o / 4 == PCI_TESTDEV_DOORBELL / 4)
            ring = true;
    }
    if (ring) {
        /* the vector is the value written at the doorbell's first byte */
        t->rung++;
        msix_notify(&t->msix, (unsigned)(offset <= PCI_TESTDEV_DOORBELL
                                                 ? value >> (8 * (PCI_TESTDEV_DOORBELL - offset))
                                                 : 0) &
                                      0xff); /* out of range: ignored */
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
