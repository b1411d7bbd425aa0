/* libFuzzer harness of evr-vmm's PCI model: each input is a sequence of
 * guest accesses (configuration mechanism #1, MMIO and port I/O through
 * the exit switch, BAR-relative accesses that follow wherever the guest put
 * the BARs, device-side MSI-X signals) into a machine built from the device
 * table with the pci-test function and a virtio-net interface of 2 queue
 * pairs (virtio-pci, 5 queues with the control queue,
 * its vhost-user socket with no backend, RAM in a memfd), on a fake KVM.
 * After every access the model's invariants are checked: the buses' ranges
 * are sorted and apart, every mapped BAR is claimed where pci.c says and
 * decodes there, no MSI-X vector is bound unless it is live, and the
 * virtio-pci state holds (FEATURES_OK only with features the device
 * offered and VERSION_1, DRIVER_OK only after FEATURES_OK, an enabled queue
 * has a power-of-two size up to the max, vectors in the table). A broken
 * one aborts. Beside them, two passthrough functions (pci_passthru.h) over
 * fake devices shaped like the lab's e1000e, one with its MSI-X taken out
 * (so MSI is emulated): their memory BARs decode only inside the PCI
 * window, their memory slots are there exactly while their BAR is and
 * never cover the MSI-X table or PBA, the device sees no configuration
 * write but the command register (INTx off, no bit beyond the enables) and
 * no write into its table or PBA, and its vectors are connected exactly
 * while MSI-X (or MSI) is enabled.
 *
 * Input format, repeated: one opcode byte, then its operands (little
 * endian); a truncated operand ends the input.
 *   0 cfg write   slot(1) reg(1) size(1) value(4)
 *   1 cfg read    slot(1) reg(1) size(1)
 *   2 BAR write   bar(1) offset(2) size(1) value(8)
 *   3 BAR read    bar(1) offset(2) size(1)
 *                 (bar bit 7 set: bit 6 clear the virtio-net function's
 *                 BARs, set a passthrough function's, bit 5 the MSI one;
 *                 else pci-test's)
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
#include "pci_passthru.h"
#include "pci_testdev.h"
#include "guest_mem.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include <unistd.h>

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

/* The passthrough function's device: e1000e's shape (BAR0 128 KiB and
 * BAR1 128 KiB memory, BAR2 32 ports, BAR3 16 KiB with the MSI-X table of
 * 5 vectors at 0 and the PBA at 0x2000; capabilities PM, MSI, PCI Express
 * v1, MSI-X). What reaches it is checked, not stored. */
#define PT_NVEC     5
#define PT_PBA      0x2000
#define PT_MSIX_BAR 3
#define CMD_ENABLES (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)

static void check(bool ok, const char *what);

/* What reached one fake device. */
struct pt_state {
    bool has_msix;
    bool msix_connected, msi_connected, intx_connected;
};

static void pt_phys(uint8_t *c, bool msix)
{
    memset(c, 0, PCI_CFG_SIZE);
    pci_set(c, PCI_VENDOR_ID, 4, 0x10d38086);
    pci_set(c, PCI_REVISION, 4, 0x02000000);
    pci_set(c, PCI_STATUS, 2, PCI_STATUS_CAP_LIST);
    pci_set(c, PCI_BAR0 + 8, 4, PCI_BAR_IO_BIT);
    c[PCI_INTERRUPT_PIN] = 1;
    c[PCI_CAP_PTR] = 0xc8;
    pci_set(c, 0xc8, 4, 0x0022d001);                       /* PM -> 0xd0 */
    pci_set(c, 0xd0, 4, 0x0080e005);                       /* MSI -> 0xe0 */
    pci_set(c, 0xe0, 4, msix ? 0x0091a010 : 0x00910010);   /* PCI Express v1 -> MSI-X or end */
    pci_set(c, 0xa0, 4, 0x00040011 | (PT_NVEC - 1) << 16); /* MSI-X, end */
    pci_set(c, 0xa4, 4, PT_MSIX_BAR);
    pci_set(c, 0xa8, 4, PT_PBA | PT_MSIX_BAR);
}

/* Whether [off, off + len) of the MSI-X BAR touches the table (at 0) or the PBA. */
static bool in_table_or_pba(uint64_t off, uint64_t len)
{
    return off < PT_NVEC * MSIX_ENTRY_SIZE || (off < PT_PBA + 8 && PT_PBA < off + len);
}

static int pt_cfg_write(void *ctx, unsigned reg, const void *buf, unsigned len)
{
    uint16_t cmd;

    (void)ctx;
    check(reg == PCI_COMMAND && len == 2,
          "the device saw a configuration write beyond the command");
    memcpy(&cmd, buf, 2);
    check(!(cmd & ~(CMD_ENABLES | PCI_COMMAND_INTX_OFF)),
          "the device's command register got more than the enables and INTx disable");
    return 0;
}

static int pt_bar_read(void *ctx, unsigned bar, uint64_t off, void *buf, unsigned len)
{
    (void)ctx;
    (void)bar;
    (void)off;
    memset(buf, 0x5a, len);
    return 0;
}

static int pt_bar_write(void *ctx, unsigned bar, uint64_t off, const void *buf, unsigned len)
{
    const struct pt_state *st = ctx;

    (void)buf;
    check(!st->has_msix || bar != PT_MSIX_BAR || !in_table_or_pba(off, len),
          "the device saw a write into its MSI-X table or PBA");
    return 0;
}

static int pt_msix_connect(void *ctx, unsigned nvec, const int *efds)
{
    struct pt_state *st = ctx;

    (void)efds;
    check(st->has_msix, "MSI-X connected on a device without it");
    check(nvec == 0 || nvec == PT_NVEC, "the device's vectors connected in a wrong number");
    check(nvec == 0 || !st->intx_connected, "MSI-X connected while INTx is (VFIO refuses)");
    st->msix_connected = nvec != 0;
    return 0;
}

static int pt_msi_connect(void *ctx, int efd)
{
    struct pt_state *st = ctx;

    check(!st->has_msix, "MSI connected on a device with MSI-X");
    check(efd < 0 || !st->intx_connected, "MSI connected while INTx is (VFIO refuses)");
    st->msi_connected = efd >= 0;
    return 0;
}

static int pt_intx_connect(void *ctx, int efd, int resample_efd)
{
    struct pt_state *st = ctx;

    check((efd < 0) == (resample_efd < 0), "INTx connected without its resample eventfd");
    check(efd < 0 || (!st->msi_connected && !st->msix_connected),
          "INTx connected while MSI or MSI-X is (VFIO refuses)");
    st->intx_connected = efd >= 0;
    return 0;
}

static const struct pci_passthru_io pt_io = {
        .cfg_write = pt_cfg_write,
        .bar_read = pt_bar_read,
        .bar_write = pt_bar_write,
        .msix_connect = pt_msix_connect,
        .msi_connect = pt_msi_connect,
        .intx_connect = pt_intx_connect,
};

static void check_passthru(const struct pci_passthru *p, const struct pt_state *st)
{
    check(st->intx_connected == p->intx_on, "INTx connected and evr-vmm does not know it");
    check(!p->intx_on || !(pci_get(&p->fn, PCI_COMMAND, 2) & PCI_COMMAND_INTX_OFF),
          "INTx connected while the guest has it disabled");
    if (st->has_msix) {
        uint16_t ctl = (uint16_t)pci_get(&p->fn, p->msix.cap + MSIX_CTRL, 2);
        check(st->msix_connected == p->msix_connected &&
                      p->msix_connected == ((ctl & MSIX_CTRL_ENABLE) != 0),
              "the device's vectors are connected while MSI-X is off, or not while on");
    } else {
        bool on = pci_get(&p->fn, p->msi_cap + PCI_MSI_CTRL, 2) & PCI_MSI_ENABLE;
        check(st->msi_connected == on && p->msi_connected == on && p->msi_bound == on,
              "MSI is connected or bound while off, or not while on");
    }
    for (unsigned i = 0; i < PCI_BARS; i++) {
        const struct pci_bar *b = &p->fn.bar[i];
        bool on = b->kind != PCI_BAR_NONE && b->mapped != PCI_BAR_UNMAPPED;

        if (on && b->kind != PCI_BAR_IO)
            check(b->mapped >= GUEST_PCI_MMIO_START &&
                          b->mapped + b->size - 1 <= GUEST_PCI_MMIO_END,
                  "a passthrough memory BAR decodes outside the PCI window");
        for (unsigned k = 0; k < p->nseg[i]; k++) {
            const struct pci_passthru_seg *g = &p->seg[i][k];
            check(g->mapped == on, "a memory slot outlives its BAR, or is missing");
            check(!st->has_msix || i != PT_MSIX_BAR || !in_table_or_pba(g->off, g->len),
                  "a memory slot covers the MSI-X table or PBA");
        }
    }
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

static void check_virtio(struct pci_function *fn)
{
    struct virtio_pci *vp = fn->priv;
    uint64_t offered = vp->info.ops->features(vp->info.dev);

    if (vp->status & VIRTIO_STATUS_FEATURES_OK)
        check(!(vp->driver_features & ~offered) &&
                      (vp->driver_features & (1ull << VIRTIO_F_VERSION_1)),
              "FEATURES_OK with features never offered or without VERSION_1");
    if (vp->status & VIRTIO_STATUS_DRIVER_OK)
        check(vp->status & VIRTIO_STATUS_FEATURES_OK, "DRIVER_OK without FEATURES_OK");
    check(vp->config_vector == VIRTIO_MSI_NO_VECTOR || vp->config_vector < vp->msix.nvec,
          "a configuration vector beyond the table");
    for (unsigned i = 0; i < vp->info.num_queues; i++) {
        const struct virtio_pci_queue *q = &vp->q[i];
        check(q->size && !(q->size & (q->size - 1)) && q->size <= vp->info.queue_max,
              "a queue size that is not a power of two up to the max");
        check(q->vector == VIRTIO_MSI_NO_VECTOR || q->vector < vp->msix.nvec,
              "a queue vector beyond the table");
        check(!q->enabled || (vp->status & VIRTIO_STATUS_FEATURES_OK),
              "a queue enabled without FEATURES_OK");
    }
}

/* RAM the virtio-net backend would share, and the directory of its socket:
 * made once for every input. */
static struct guest_mem fuzz_mem;
static char fuzz_dir[64];

static void fuzz_cleanup(void)
{
    rmdir(fuzz_dir); /* each machine removed its socket */
}

static void fuzz_setup(struct vmm_config *cfg)
{
    char err[256];

    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/evr-fuzz-vmm-pci-XXXXXX");
        if (!mkdtemp(fuzz_dir) || guest_mem_create(&fuzz_mem, 16 << 20, false, err, sizeof(err))) {
            fprintf(stderr, "vmm_pci fuzz: no RAM or socket directory for virtio-net\n");
            abort();
        }
        atexit(fuzz_cleanup);
    }
    config_defaults(cfg);
    cfg->pci_test = true;
    cfg->nnet = 1;
    snprintf(cfg->net[0].vhost_user, sizeof(cfg->net[0].vhost_user), "%s/net.sock", fuzz_dir);
    config_parse_mac("02:00:00:00:00:01", cfg->net[0].mac);
    cfg->net[0].queues = 2; /* MQ: 5 queues, the control queue among them */
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
    static uint8_t bar0[0x20000] __attribute__((aligned(4096)));
    static uint8_t bar1[0x20000] __attribute__((aligned(4096)));
    static uint8_t bar3[0x4000] __attribute__((aligned(4096)));
    static struct pci_passthru pt, pt_msi;
    static struct pt_state st, st_msi;
    const struct pci_passthru_bar bars[PCI_BARS] = {{0x20000, bar0}, {0x20000, bar1}, {0x20, NULL},
                                                    {0x4000, bar3},  {0, NULL},       {0, NULL}};
    uint8_t phys[PCI_CFG_SIZE];
    struct machine m;
    struct pci_function *fn, *net, *target;
    struct input in = {data, size};
    char err[256];
    uint64_t op;

    fuzz_setup(&cfg);
    if (machine_init(&m, &cfg, (struct kvm_vm){.fd = 0, .ioctl = accept_all}, &fuzz_mem, NULL, NULL,
                     err, sizeof(err))) {
        fprintf(stderr, "vmm_pci fuzz: %s\n", err);
        abort();
    }
    fn = pci_testdev_function(&m);
    net = virtio_net_function(&m, 0);
    st = (struct pt_state){.has_msix = true};
    st_msi = (struct pt_state){.has_msix = false};
    pt_phys(phys, true);
    if (pci_passthru_init(&pt, "0000:00:05.0", phys, bars, &pt_io, &st, &m.kvm, &m.gsi, 16, err,
                          sizeof(err)) ||
        pci_host_add(m.pci, PCI_SLOT_ANY, &pt.fn, err, sizeof(err))) {
        fprintf(stderr, "vmm_pci fuzz: %s\n", err);
        abort();
    }
    pt_phys(phys, false);
    if (pci_passthru_init(&pt_msi, "0000:00:06.0", phys, bars, &pt_io, &st_msi, &m.kvm, &m.gsi,
                          16 + PCI_PASSTHRU_SLOTS, err, sizeof(err)) ||
        pci_host_add(m.pci, PCI_SLOT_ANY, &pt_msi.fn, err, sizeof(err))) {
        fprintf(stderr, "vmm_pci fuzz: %s\n", err);
        abort();
    }
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
            target = !(a & 0x80) ? fn : !(a & 0x40) ? net : a & 0x20 ? &pt_msi.fn : &pt.fn;
            b = bar_address(target, a & 0x1f, b, &mmio);
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
        check_function(&m, net);
        check_virtio(net);
        check_function(&m, &m.pci->bridge);
        check_function(&m, &pt.fn);
        check_function(&m, &pt_msi.fn);
        check_passthru(&pt, &st);
        check_passthru(&pt_msi, &st_msi);
    }
out:
    pci_host_remove(m.pci, &pt.fn);
    pci_host_remove(m.pci, &pt_msi.fn);
    check_passthru(&pt, &st);
    check_passthru(&pt_msi, &st_msi);
    pci_passthru_destroy(&pt);
    pci_passthru_destroy(&pt_msi);
    check(!st_msi.msi_connected, "MSI still connected after the function went");
    check(!st.intx_connected && !st_msi.intx_connected,
          "INTx still connected after the function went");
    machine_destroy(&m);
    return 0;
}
