/* The device "vfio-pci": host PCI functions given to the guest through
 * VFIO; see vfio_pci.h. */
#include "vfio_pci.h"
#include "config.h"
#include "pci.h"
#include "vfio/bind.h"
#include "vfio/vfio_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define VFIO_ROOT "" /* the host's own sysfs and /dev/vfio */

struct vfio_fn {
    struct pci_passthru pt;
    struct evr_vfio_binding binding;
    struct evr_vfio_device dev;
    void *map[PCI_BARS];
    size_t map_len[PCI_BARS];
    bool bound, dev_open, pt_ready, on_bus;
};

struct vfio_pci {
    struct evr_vfio_container container;
    bool container_open;
    unsigned ngroups;
    struct evr_vfio_group group[CONFIG_MAX_PASSTHROUGH];
    unsigned nfn;
    struct vfio_fn fn[CONFIG_MAX_PASSTHROUGH];
    unsigned ndma;
    struct guest_mem_region dma[GUEST_MEM_MAX_REGIONS];
};

/* A failed device access cannot be told to the guest; the first one of
 * each function is told to the operator (a guest could repeat it forever). */
static int io_failed(struct vfio_fn *f, const struct evr_err *err)
{
    if (f->pt.io_errors == 0)
        fprintf(stderr, "evr-vmm: passthrough %s\n", err->msg);
    return -1;
}

static int io_cfg_write(void *ctx, unsigned reg, const void *buf, unsigned len)
{
    struct vfio_fn *f = ctx;
    struct evr_err err;

    if (evr_vfio_region_write(&f->dev, VFIO_PCI_CONFIG_REGION_INDEX, reg, buf, len, &err))
        return io_failed(f, &err);
    return 0;
}

static int io_bar_read(void *ctx, unsigned bar, uint64_t off, void *buf, unsigned len)
{
    struct vfio_fn *f = ctx;
    struct evr_err err;

    if (evr_vfio_region_read(&f->dev, VFIO_PCI_BAR0_REGION_INDEX + bar, off, buf, len, &err))
        return io_failed(f, &err);
    return 0;
}

static int io_bar_write(void *ctx, unsigned bar, uint64_t off, const void *buf, unsigned len)
{
    struct vfio_fn *f = ctx;
    struct evr_err err;

    if (evr_vfio_region_write(&f->dev, VFIO_PCI_BAR0_REGION_INDEX + bar, off, buf, len, &err))
        return io_failed(f, &err);
    return 0;
}

static int io_msix_connect(void *ctx, unsigned nvec, const int *efds)
{
    struct vfio_fn *f = ctx;
    struct evr_err err;
    int rc = nvec ? evr_vfio_irq_set_eventfds(&f->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, nvec, efds, &err)
                  : evr_vfio_irq_disable(&f->dev, VFIO_PCI_MSIX_IRQ_INDEX, &err);

    return rc ? io_failed(f, &err) : 0;
}

static int io_msi_connect(void *ctx, int efd)
{
    struct vfio_fn *f = ctx;
    struct evr_err err;
    int rc = efd >= 0 ? evr_vfio_irq_set_eventfds(&f->dev, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &efd, &err)
                      : evr_vfio_irq_disable(&f->dev, VFIO_PCI_MSI_IRQ_INDEX, &err);

    return rc ? io_failed(f, &err) : 0;
}

static const struct pci_passthru_io vfio_io = {
        .cfg_write = io_cfg_write,
        .bar_read = io_bar_read,
        .bar_write = io_bar_write,
        .msix_connect = io_msix_connect,
        .msi_connect = io_msi_connect,
};

static bool vfio_pci_wanted(const struct vmm_config *cfg)
{
    return cfg && cfg->npassthrough > 0;
}

static struct evr_vfio_group *group_of(struct vfio_pci *s, int id, struct evr_err *err)
{
    for (unsigned i = 0; i < s->ngroups; i++)
        if (s->group[i].id == id)
            return &s->group[i];
    if (!s->container_open) {
        if (evr_vfio_container_open(&s->container, VFIO_ROOT, err))
            return NULL;
        s->container_open = true;
    }
    if (evr_vfio_group_open(&s->container, VFIO_ROOT, id, &s->group[s->ngroups], err))
        return NULL;
    return &s->group[s->ngroups++];
}

/* The BARs as VFIO offers them: sizes, and a mapping of those it lets us
 * map. One it says it can map but whose mmap fails stays trapped. */
static void bar_regions(struct vfio_fn *f, struct pci_passthru_bar bars[PCI_BARS])
{
    for (unsigned b = 0; b < PCI_BARS; b++) {
        struct vfio_region_info info;
        struct evr_err err;

        bars[b] = (struct pci_passthru_bar){0};
        if (evr_vfio_region_info(&f->dev, VFIO_PCI_BAR0_REGION_INDEX + b, &info, &err))
            continue;
        bars[b].size = info.size;
        if (info.size == 0 || !(info.flags & VFIO_REGION_INFO_FLAG_MMAP))
            continue;
        if (evr_vfio_region_mmap(&f->dev, VFIO_PCI_BAR0_REGION_INDEX + b, &f->map[b],
                                 &f->map_len[b], &err)) {
            fprintf(stderr, "evr-vmm: passthrough %s: BAR %u stays trapped\n", err.msg, b);
            f->map[b] = NULL;
            continue;
        }
        bars[b].host = f->map[b];
    }
}

static int add_function(struct machine *m, struct vfio_pci *s, struct vfio_fn *f, unsigned index,
                        const char *addr, char *err, size_t errlen)
{
    struct evr_err verr;
    struct evr_vfio_group *g;
    struct pci_passthru_bar bars[PCI_BARS];
    uint8_t phys[PCI_CFG_SIZE];

    if (evr_vfio_bind(VFIO_ROOT, addr, &f->binding, &verr))
        goto vfio_fail;
    f->bound = true;
    g = group_of(s, f->binding.iommu_group, &verr);
    if (!g || evr_vfio_device_open(g, addr, &f->dev, &verr))
        goto vfio_fail;
    f->dev_open = true;
    if (evr_vfio_device_reset(&f->dev, &verr))
        fprintf(stderr, "evr-vmm: passthrough %s: not reset, used as it is\n", verr.msg);
    if (evr_vfio_region_read(&f->dev, VFIO_PCI_CONFIG_REGION_INDEX, 0, phys, sizeof(phys), &verr))
        goto vfio_fail;
    bar_regions(f, bars);
    if (pci_passthru_init(&f->pt, addr, phys, bars, &vfio_io, f, &m->kvm, &m->gsi,
                          VFIO_PCI_MEMSLOT_BASE + index * PCI_PASSTHRU_SLOTS, err, errlen))
        return -1;
    f->pt_ready = true;
    if (pci_host_add(m->pci, PCI_SLOT_ANY, &f->pt.fn, err, errlen))
        return -1;
    f->on_bus = true;
    return 0;
vfio_fail:
    snprintf(err, errlen, "passthrough %s", verr.msg);
    return -1;
}

static void vfio_pci_unrealize(struct machine *m, void *state);

/* Guest RAM for DMA at its guest-physical addresses, once the container
 * has its IOMMU (after the first group): every group of the container
 * shares the mappings. */
static int map_memory(struct vfio_pci *s, const struct guest_mem *mem, char *err, size_t errlen)
{
    struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
    unsigned n = guest_mem_regions(mem, r);

    for (unsigned i = 0; i < n; i++) {
        struct evr_err verr;

        if (evr_vfio_dma_map(&s->container, r[i].host, r[i].gpa, r[i].size, 1, &verr)) {
            snprintf(err, errlen, "passthrough: guest RAM for DMA: %s", verr.msg);
            return -1;
        }
        s->dma[s->ndma++] = r[i];
    }
    return 0;
}

static void *vfio_pci_realize(struct machine *m, char *err, size_t errlen)
{
    struct vfio_pci *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(err, errlen, "passthrough: out of memory");
        return NULL;
    }
    if (!m->pci) {
        snprintf(err, errlen, "passthrough: no PCI host");
        free(s);
        return NULL;
    }
    if (!m->mem) {
        snprintf(err, errlen, "passthrough: no guest RAM to map for DMA");
        free(s);
        return NULL;
    }
    for (unsigned i = 0; i < m->cfg->npassthrough; i++) {
        s->nfn = i + 1;
        if (add_function(m, s, &s->fn[i], i, m->cfg->passthrough[i], err, errlen) ||
            (i == 0 && map_memory(s, m->mem, err, errlen))) {
            vfio_pci_unrealize(m, s);
            return NULL;
        }
    }
    return s;
}

static void vfio_pci_unrealize(struct machine *m, void *state)
{
    struct vfio_pci *s = state;
    struct evr_err verr;

    for (unsigned i = s->nfn; i-- > 0;) {
        struct vfio_fn *f = &s->fn[i];

        if (f->on_bus && m->pci)
            pci_host_remove(m->pci, &f->pt.fn);
        if (f->pt_ready)
            pci_passthru_destroy(&f->pt);
        if (f->dev_open) {
            evr_vfio_irq_disable(&f->dev,
                                 f->pt.fn.msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX,
                                 &verr);
            if (evr_vfio_device_reset(&f->dev, &verr) &&
                (f->dev.info.flags & VFIO_DEVICE_FLAGS_RESET))
                fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
        }
        for (unsigned b = 0; b < PCI_BARS; b++)
            if (f->map[b])
                munmap(f->map[b], f->map_len[b]);
        if (f->dev_open)
            evr_vfio_device_close(&f->dev);
    }
    for (unsigned i = 0; i < s->ndma; i++)
        if (evr_vfio_dma_unmap(&s->container, s->dma[i].gpa, s->dma[i].size, &verr))
            fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
    for (unsigned i = s->ngroups; i-- > 0;)
        evr_vfio_group_close(&s->group[i]);
    if (s->container_open)
        evr_vfio_container_close(&s->container);
    /* Given back only now: release is refused while the group is open. */
    for (unsigned i = s->nfn; i-- > 0;)
        if (s->fn[i].bound && evr_vfio_release(VFIO_ROOT, &s->fn[i].binding, &verr))
            fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
    free(s);
}

const struct device_type vfio_pci_device = {.name = "vfio-pci",
                                            .wanted = vfio_pci_wanted,
                                            .realize = vfio_pci_realize,
                                            .unrealize = vfio_pci_unrealize};
