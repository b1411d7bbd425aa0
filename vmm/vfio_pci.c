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

struct vfio_group_ref {
    struct evr_vfio_group g; /* g.fd -1: a free entry */
    unsigned users;          /* functions of the VM in the group */
    /* functions of the group taken off while another stays: given back
     * when the group closes (release is refused while it is open) */
    unsigned npending;
    struct evr_vfio_binding pending[CONFIG_MAX_PASSTHROUGH];
};

struct vfio_fn {
    struct pci_passthru pt;
    struct evr_vfio_binding binding;
    struct evr_vfio_device dev;
    struct vfio_group_ref *group;
    void *map[PCI_BARS];
    size_t map_len[PCI_BARS];
    bool bound, dev_open, pt_ready, on_bus;
    struct vfio_fn *next; /* in the list of unplugged functions */
};

/* Functions live in fn[] by their block of memory slots; an unplugged one
 * goes to the unplugged list, freed with the VM (a vCPU may still hold an
 * access to it in flight: pci_passthru_unplug). The control thread adds
 * and removes them while the vCPUs run; realize and unrealize run with no
 * control op in flight (control.h). */
struct vfio_pci {
    struct evr_vfio_container container;
    bool container_open;
    struct vfio_group_ref group[CONFIG_MAX_PASSTHROUGH];
    struct vfio_fn *fn[CONFIG_MAX_PASSTHROUGH];
    struct vfio_fn *unplugged;
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

static int io_intx_connect(void *ctx, int efd, int resample_efd)
{
    struct vfio_fn *f = ctx;
    struct evr_err err;
    int rc;

    if (efd < 0)
        rc = evr_vfio_irq_disable(&f->dev, VFIO_PCI_INTX_IRQ_INDEX, &err);
    else
        rc = evr_vfio_irq_set_eventfds(&f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd, &err) ||
             evr_vfio_irq_unmask_eventfd(&f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, resample_efd, &err);
    return rc ? io_failed(f, &err) : 0;
}

static const struct pci_passthru_io vfio_io = {
        .cfg_write = io_cfg_write,
        .bar_read = io_bar_read,
        .bar_write = io_bar_write,
        .msix_connect = io_msix_connect,
        .msi_connect = io_msi_connect,
        .intx_connect = io_intx_connect,
};

static struct vfio_group_ref *group_get(struct vfio_pci *s, int id, struct evr_err *err)
{
    struct vfio_group_ref *free_ref = NULL;

    for (unsigned i = 0; i < CONFIG_MAX_PASSTHROUGH; i++) {
        struct vfio_group_ref *r = &s->group[i];
        if (r->users && r->g.id == id) {
            r->users++;
            return r;
        }
        if (!r->users && !free_ref)
            free_ref = r;
    }
    if (!free_ref) { /* not reached: as many entries as functions */
        evr_fail(err, ENOSPC, "VFIO group %d: no room", id);
        return NULL;
    }
    if (!s->container_open) {
        if (evr_vfio_container_open(&s->container, VFIO_ROOT, err))
            return NULL;
        s->container_open = true;
    }
    if (evr_vfio_group_open(&s->container, VFIO_ROOT, id, &free_ref->g, err))
        return NULL;
    free_ref->users = 1;
    return free_ref;
}

/* The last function of a group gone: the group leaves the container. With
 * the last group the kernel drops the container's IOMMU and its mappings:
 * they are unmapped first, and mapped again for the next function. */
static void group_put(struct vfio_pci *s, struct vfio_group_ref *r)
{
    struct evr_err verr;

    if (--r->users)
        return;
    if (s->container.groups == 1) {
        for (unsigned i = 0; i < s->ndma; i++)
            if (evr_vfio_dma_unmap(&s->container, s->dma[i].gpa, s->dma[i].size, &verr))
                fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
        s->ndma = 0;
    }
    evr_vfio_group_close(&r->g);
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

/* Guest RAM for DMA at its guest-physical addresses, once the container
 * has its IOMMU (after its first group): every group of the container
 * shares the mappings. */
static int map_memory(struct vfio_pci *s, const struct guest_mem *mem, const char *addr,
                      struct evr_err *err)
{
    struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
    unsigned n = guest_mem_regions(mem, r);

    for (unsigned i = 0; i < n; i++) {
        struct evr_err verr;

        if (evr_vfio_dma_map(&s->container, r[i].host, r[i].gpa, r[i].size, 1, &verr))
            return evr_fail(err, verr.code, "%s: guest RAM for DMA: %s", addr, verr.msg);
        s->dma[s->ndma++] = r[i];
    }
    return 0;
}

/* Everything of f undone, in the order that lets each step succeed: off
 * the bus (its memory slots go), vectors disconnected, the device reset,
 * unmapped and closed, its group put, and only then the function given
 * back (release is refused while the group is open: a function whose group
 * holds another of the VM's waits for the group to close). f is freed unless it
 * was on the bus, where a vCPU may still hold an access to it: then it is
 * kept, inert, until the VM ends. */
/* The vector kind f's guest view drives: MSI-X, else MSI, else INTx (INTx
 * beside vectors is disconnected by pci_passthru_unplug itself). Read
 * before pci_passthru_unplug, which clears fn.msix, msi_cap and intx. */
static unsigned irq_index_of(const struct vfio_fn *f)
{
    if (f->pt_ready && f->pt.fn.msix)
        return VFIO_PCI_MSIX_IRQ_INDEX;
    if (f->pt_ready && f->pt.intx)
        return VFIO_PCI_INTX_IRQ_INDEX;
    return VFIO_PCI_MSI_IRQ_INDEX;
}

static void fn_teardown(struct machine *m, struct vfio_pci *s, struct vfio_fn *f)
{
    struct evr_err verr;
    bool was_on_bus = f->on_bus;
    unsigned irq_index = irq_index_of(f); /* before the unplug forgets it */

    if (f->on_bus && m->pci)
        pci_host_remove(m->pci, &f->pt.fn);
    f->on_bus = false;
    if (f->pt_ready)
        pci_passthru_unplug(&f->pt);
    if (f->dev_open) {
        evr_vfio_irq_disable(&f->dev, irq_index, &verr);
        if (evr_vfio_device_reset(&f->dev, &verr) && (f->dev.info.flags & VFIO_DEVICE_FLAGS_RESET))
            fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
    }
    for (unsigned b = 0; b < PCI_BARS; b++)
        if (f->map[b])
            munmap(f->map[b], f->map_len[b]);
    memset(f->map, 0, sizeof(f->map));
    if (f->dev_open)
        evr_vfio_device_close(&f->dev);
    f->dev_open = false;
    if (f->group) {
        struct vfio_group_ref *r = f->group;
        if (f->bound)
            r->pending[r->npending++] = f->binding;
        f->bound = false;
        group_put(s, r);
        for (unsigned i = 0; !r->users && i < r->npending; i++)
            if (evr_vfio_release(VFIO_ROOT, &r->pending[i], &verr))
                fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
        if (!r->users)
            r->npending = 0;
    }
    f->group = NULL;
    if (f->bound && evr_vfio_release(VFIO_ROOT, &f->binding, &verr))
        fprintf(stderr, "evr-vmm: passthrough %s\n", verr.msg);
    f->bound = false;
    if (was_on_bus) {
        f->next = s->unplugged;
        s->unplugged = f;
        return;
    }
    if (f->pt_ready)
        pci_passthru_destroy(&f->pt);
    free(f);
}

/* Binds addr and puts it on the bus: the passthrough key's and device-add's
 * one way. what ("passthrough", "device-add") starts each message, the PCI
 * address next. slot is PCI_SLOT_ANY or the one to take. Nothing is left of
 * a failure. */
static int add_function(struct machine *m, struct vfio_pci *s, const char *what, const char *addr,
                        unsigned slot, bool place_bars, unsigned *slot_out, struct evr_err *err)
{
    struct vfio_fn *f;
    struct evr_err verr;
    struct pci_passthru_bar bars[PCI_BARS];
    uint8_t phys[PCI_CFG_SIZE];
    char msg[400];
    unsigned index;

    for (index = 0; index < CONFIG_MAX_PASSTHROUGH && s->fn[index]; index++)
        ;
    if (index == CONFIG_MAX_PASSTHROUGH)
        return evr_fail(err, ENOSPC, "%s %s: the VM has %d passthrough functions already", what,
                        addr, CONFIG_MAX_PASSTHROUGH);
    f = calloc(1, sizeof(*f));
    if (!f)
        return evr_fail(err, ENOMEM, "%s %s: out of memory", what, addr);
    if (evr_vfio_bind(VFIO_ROOT, addr, &f->binding, &verr))
        goto vfio_fail;
    f->bound = true;
    f->group = group_get(s, f->binding.iommu_group, &verr);
    if (!f->group || evr_vfio_device_open(&f->group->g, addr, &f->dev, &verr))
        goto vfio_fail;
    f->dev_open = true;
    if (!s->ndma && map_memory(s, m->mem, addr, &verr))
        goto vfio_fail;
    if (evr_vfio_device_reset(&f->dev, &verr))
        fprintf(stderr, "evr-vmm: passthrough %s: not reset, used as it is\n", verr.msg);
    if (evr_vfio_region_read(&f->dev, VFIO_PCI_CONFIG_REGION_INDEX, 0, phys, sizeof(phys), &verr))
        goto vfio_fail;
    bar_regions(f, bars);
    if (pci_passthru_init(&f->pt, addr, phys, bars, &vfio_io, f, &m->kvm, &m->gsi,
                          VFIO_PCI_MEMSLOT_BASE + index * PCI_PASSTHRU_SLOTS, msg, sizeof(msg))) {
        evr_fail(err, EINVAL, "%s %s", what, msg);
        fn_teardown(m, s, f);
        return -1;
    }
    f->pt_ready = true;
    f->pt.fn.removable = true;
    if ((place_bars ? pci_host_add : pci_host_plug)(m->pci, slot, &f->pt.fn, msg, sizeof(msg))) {
        evr_fail(err, ENOSPC, "%s %s", what, msg);
        fn_teardown(m, s, f);
        return -1;
    }
    f->on_bus = true;
    s->fn[index] = f;
    if (slot_out)
        *slot_out = f->pt.fn.slot;
    return 0;
vfio_fail:
    evr_fail(err, verr.code ? verr.code : EIO, "%s %s", what, verr.msg);
    fn_teardown(m, s, f);
    return -1;
}

static bool vfio_pci_wanted(const struct vmm_config *cfg)
{
    (void)cfg;
    return true; /* device-add may come at any time */
}

static void vfio_pci_unrealize(struct machine *m, void *state);

static void *vfio_pci_realize(struct machine *m, char *err, size_t errlen)
{
    struct vfio_pci *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(err, errlen, "passthrough: out of memory");
        return NULL;
    }
    for (unsigned i = 0; i < CONFIG_MAX_PASSTHROUGH; i++)
        s->group[i].g.fd = -1;
    if (m->cfg && m->cfg->npassthrough && (!m->pci || !m->mem)) {
        snprintf(err, errlen, "passthrough: %s",
                 !m->pci ? "no PCI host" : "no guest RAM to map for DMA");
        free(s);
        return NULL;
    }
    for (unsigned i = 0; m->cfg && i < m->cfg->npassthrough; i++) {
        struct evr_err verr;

        if (add_function(m, s, "passthrough", m->cfg->passthrough[i], PCI_SLOT_ANY, true, NULL,
                         &verr)) {
            snprintf(err, errlen, "%s", verr.msg);
            vfio_pci_unrealize(m, s);
            return NULL;
        }
    }
    return s;
}

static void vfio_pci_unrealize(struct machine *m, void *state)
{
    struct vfio_pci *s = state;

    for (unsigned i = CONFIG_MAX_PASSTHROUGH; i-- > 0;) {
        if (s->fn[i]) {
            fn_teardown(m, s, s->fn[i]);
            s->fn[i] = NULL;
        }
    }
    while (s->unplugged) {
        struct vfio_fn *f = s->unplugged;
        s->unplugged = f->next;
        pci_passthru_destroy(&f->pt);
        free(f);
    }
    if (s->container_open)
        evr_vfio_container_close(&s->container);
    free(s);
}

const struct device_type vfio_pci_device = {.name = "vfio-pci",
                                            .wanted = vfio_pci_wanted,
                                            .realize = vfio_pci_realize,
                                            .unrealize = vfio_pci_unrealize};

static struct vfio_fn *find(const struct vfio_pci *s, const char *addr, unsigned *index)
{
    for (unsigned i = 0; s && i < CONFIG_MAX_PASSTHROUGH; i++) {
        if (s->fn[i] && !strcmp(s->fn[i]->binding.addr, addr)) {
            if (index)
                *index = i;
            return s->fn[i];
        }
    }
    return NULL;
}

unsigned vfio_pci_list(const struct machine *m, struct vfio_pci_assigned *out, unsigned max)
{
    const struct vfio_pci *s = machine_device(m, &vfio_pci_device);
    unsigned n = 0;

    for (unsigned i = 0; s && i < CONFIG_MAX_PASSTHROUGH && n < max; i++) {
        if (!s->fn[i])
            continue;
        snprintf(out[n].host, sizeof(out[n].host), "%s", s->fn[i]->binding.addr);
        out[n].slot = s->fn[i]->pt.fn.slot;
        n++;
    }
    return n;
}

int vfio_pci_slot_of(const struct machine *m, const char *addr, unsigned *slot)
{
    struct vfio_fn *f = find(machine_device(m, &vfio_pci_device), addr, NULL);

    if (!f)
        return -1;
    *slot = f->pt.fn.slot;
    return 0;
}

int vfio_pci_plug(struct machine *m, const char *addr, unsigned *slot, struct evr_err *err)
{
    struct vfio_pci *s = machine_device(m, &vfio_pci_device);
    unsigned have;

    if (!s || !m->pci || !m->mem)
        return evr_fail(err, EOPNOTSUPP, "device-add %s: this VM cannot take PCI functions", addr);
    if (vfio_pci_slot_of(m, addr, &have) == 0)
        return evr_fail(err, EEXIST, "device-add %s: already assigned to this VM (guest 00:%02x.0)",
                        addr, have);
    return add_function(m, s, "device-add", addr, PCI_SLOT_ANY, false, slot, err);
}

int vfio_pci_unplug(struct machine *m, const char *addr, struct evr_err *err)
{
    struct vfio_pci *s = machine_device(m, &vfio_pci_device);
    unsigned index;
    struct vfio_fn *f = find(s, addr, &index);

    if (!f)
        return evr_fail(err, ENOENT, "device-del %s: not assigned to this VM", addr);
    s->fn[index] = NULL;
    fn_teardown(m, s, f);
    return 0;
}
