/* Unit tests of the guest's view of a passed-through PCI function
 * (pci_passthru.h), built from configuration spaces recorded in the lab
 * (fixtures/README.md: QEMU's e1000e and a VF of its nvme) on a machine of
 * the device table over a fake KVM, with a fake device behind the io ops
 * that records what reaches it: header and BAR sizing, relocation into
 * memory slots and what stays trapped, BARs pointed outside the PCI window,
 * the capability list and what is hidden or read-only, MSI-X table writes
 * and the connection of the device's vectors, MSI for a function
 * without MSI-X, and INTx beside them or alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "fake_kvm.h"
#include "msix.h"
#include "pci.h"
#include "pci_passthru.h"

#define E1000E_ADDR "0000:00:05.0"
#define SLOT_BASE   16
#define MAX_SLOTS   64

/* The device behind the io ops. */
struct fake_dev {
    uint8_t bar[PCI_BARS][0x4000]; /* what trapped accesses reach (first 16 KiB) */
    unsigned bar_reads, bar_writes;
    uint64_t last_write_off;
    unsigned last_write_bar;
    uint16_t cmd; /* the last command register written */
    unsigned cmd_writes, other_cfg_writes;
    unsigned connects, disconnects, nvec;
    int efds[MSIX_MAX_VECTORS];
    unsigned msi_connects, msi_disconnects;
    int msi_efd;
    unsigned intx_connects, intx_disconnects;
    int intx_efd, intx_resample_efd;
    /* every (dis)connection in order: I/i INTx, M/m MSI, X/x MSI-X */
    char irq_log[64];
};

static struct fake_dev dev;

static void irq_logged(char c)
{
    size_t n = strlen(dev.irq_log);

    if (n + 1 < sizeof(dev.irq_log))
        dev.irq_log[n] = c;
}

static int dev_cfg_write(void *ctx, unsigned reg, const void *buf, unsigned len)
{
    (void)ctx;
    if (reg == PCI_COMMAND && len == 2) {
        memcpy(&dev.cmd, buf, 2);
        dev.cmd_writes++;
    } else {
        dev.other_cfg_writes++;
    }
    return 0;
}

static int dev_bar_read(void *ctx, unsigned bar, uint64_t off, void *buf, unsigned len)
{
    (void)ctx;
    dev.bar_reads++;
    if (off + len > sizeof(dev.bar[0]))
        return -1;
    memcpy(buf, &dev.bar[bar][off], len);
    return 0;
}

static int dev_bar_write(void *ctx, unsigned bar, uint64_t off, const void *buf, unsigned len)
{
    (void)ctx;
    dev.bar_writes++;
    dev.last_write_bar = bar;
    dev.last_write_off = off;
    if (off + len > sizeof(dev.bar[0]))
        return -1;
    memcpy(&dev.bar[bar][off], buf, len);
    return 0;
}

static int dev_msix_connect(void *ctx, unsigned nvec, const int *efds)
{
    (void)ctx;
    irq_logged(nvec ? 'X' : 'x');
    if (nvec) {
        dev.connects++;
        dev.nvec = nvec;
        memcpy(dev.efds, efds, nvec * sizeof(int));
    } else {
        dev.disconnects++;
        dev.nvec = 0;
    }
    return 0;
}

static int dev_msi_connect(void *ctx, int efd)
{
    (void)ctx;
    irq_logged(efd >= 0 ? 'M' : 'm');
    if (efd >= 0)
        dev.msi_connects++;
    else
        dev.msi_disconnects++;
    dev.msi_efd = efd;
    return 0;
}

static int dev_intx_connect(void *ctx, int efd, int resample_efd)
{
    (void)ctx;
    irq_logged(efd >= 0 ? 'I' : 'i');
    if (efd >= 0)
        dev.intx_connects++;
    else
        dev.intx_disconnects++;
    dev.intx_efd = efd;
    dev.intx_resample_efd = resample_efd;
    return 0;
}

static const struct pci_passthru_io dev_io = {
        .cfg_write = dev_cfg_write,
        .bar_read = dev_bar_read,
        .bar_write = dev_bar_write,
        .msix_connect = dev_msix_connect,
        .msi_connect = dev_msi_connect,
        .intx_connect = dev_intx_connect,
};

/* KVM memory slots as the fake KVM saw them; other requests go to fake_kvm. */
static struct kvm_userspace_memory_region slot[MAX_SLOTS];
static unsigned slot_calls;

static int slot_ioctl(int fd, unsigned long request, void *arg)
{
    if (request == KVM_SET_USER_MEMORY_REGION) {
        const struct kvm_userspace_memory_region *r = arg;
        slot_calls++;
        if (r->slot >= MAX_SLOTS)
            return -1;
        slot[r->slot] = *r;
        return 0;
    }
    return fake_kvm_ioctl(fd, request, arg);
}

static struct vmm_config cfg;
static struct machine m;
static struct pci_passthru p;
static uint8_t phys[PCI_CFG_SIZE];
static void *host[PCI_BARS]; /* the "mmap" of each BAR */
static char err[256];

static void load_hex(const char *name, uint8_t *out, size_t len)
{
    char path[512];
    FILE *f;
    size_t n = 0;
    unsigned byte;

    snprintf(path, sizeof(path), "%s/%s", getenv("EVR_FIXTURES") ? getenv("EVR_FIXTURES") : ".",
             name);
    f = fopen(path, "r");
    assert_non_null(f);
    while (n < len && fscanf(f, "%2x", &byte) == 1)
        out[n++] = (uint8_t)byte;
    fclose(f);
    assert_int_equal(n, len);
}

static uint32_t phys32(unsigned reg)
{
    return (uint32_t)phys[reg] | (uint32_t)phys[reg + 1] << 8 | (uint32_t)phys[reg + 2] << 16 |
           (uint32_t)phys[reg + 3] << 24;
}

static int build(const uint64_t sizes[PCI_BARS])
{
    struct pci_passthru_bar bars[PCI_BARS];

    for (unsigned b = 0; b < PCI_BARS; b++) {
        bars[b].size = sizes[b];
        bars[b].host = sizes[b] >= 4096 ? host[b] : NULL;
    }
    return pci_passthru_init(&p, E1000E_ADDR, phys, bars, &dev_io, NULL, &m.kvm, &m.gsi, SLOT_BASE,
                             err, sizeof(err));
}

/* e1000e's BARs as its resource file lists them. */
static const uint64_t e1000e_sizes[PCI_BARS] = {0x20000, 0x20000, 0x20, 0x4000, 0, 0};

static int setup_machine(void)
{
    memset(&dev, 0, sizeof(dev));
    memset(slot, 0, sizeof(slot));
    slot_calls = 0;
    if (fake_kvm_machine(&m, &cfg, false, NULL, NULL))
        return -1;
    m.kvm.ioctl = slot_ioctl;
    for (unsigned b = 0; b < PCI_BARS; b++)
        host[b] = aligned_alloc(4096, 0x20000);
    return 0;
}

static int setup_e1000e(void **state)
{
    (void)state;
    if (setup_machine())
        return -1;
    load_hex("e1000e-8086-10d3.config.hex", phys, sizeof(phys));
    if (build(e1000e_sizes)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return pci_host_add(m.pci, PCI_SLOT_ANY, &p.fn, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    pci_host_remove(m.pci, &p.fn);
    pci_passthru_destroy(&p);
    machine_destroy(&m);
    for (unsigned b = 0; b < PCI_BARS; b++)
        free(host[b]);
    return 0;
}

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
    return pci_cfg_read(m.pci, p.fn.slot, 0, reg, size);
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t v)
{
    pci_cfg_write(m.pci, p.fn.slot, 0, reg, size, v);
}

static void test_header(void **state)
{
    (void)state;
    assert_int_equal(cfg_rd(PCI_VENDOR_ID, 2), 0x8086);
    assert_int_equal(cfg_rd(PCI_DEVICE_ID, 2), 0x10d3);
    assert_int_equal(cfg_rd(PCI_REVISION, 4) >> 8, 0x020000); /* Ethernet */
    assert_int_equal(cfg_rd(PCI_REVISION, 1), phys[PCI_REVISION]);
    assert_int_equal(cfg_rd(PCI_SUBSYSTEM_VENDOR, 4), phys32(PCI_SUBSYSTEM_VENDOR));
    assert_int_equal(cfg_rd(PCI_HEADER_TYPE, 1), 0);
    /* INTA, as the device has it (a guest booted with pci=nomsi uses it) */
    assert_int_equal(phys[PCI_INTERRUPT_PIN], 1);
    assert_int_equal(cfg_rd(PCI_INTERRUPT_PIN, 1), 1);
    /* no ROM: the device has one (0x30 is set in the fixture); the guest
     * sizes nothing there */
    assert_int_not_equal(phys32(PCI_ROM_ADDRESS), 0);
    cfg_wr(PCI_ROM_ADDRESS, 4, 0xffffffff);
    assert_int_equal(cfg_rd(PCI_ROM_ADDRESS, 4), 0);
    assert_true(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    /* header writes other than the command register never reach the device */
    cfg_wr(PCI_INTERRUPT_LINE, 1, 11);
    cfg_wr(PCI_BAR0, 4, 0xffffffff);
    assert_int_equal(dev.other_cfg_writes, 0);
}

static void test_bar_sizing(void **state)
{
    static const uint32_t want[4] = {0xfffe0000, 0xfffe0000, 0xffffffe1, 0xffffc000};

    (void)state;
    for (unsigned b = 0; b < 4; b++) {
        uint32_t saved = cfg_rd(PCI_BAR0 + 4 * b, 4);
        cfg_wr(PCI_BAR0 + 4 * b, 4, 0xffffffff);
        assert_int_equal(cfg_rd(PCI_BAR0 + 4 * b, 4), want[b]);
        cfg_wr(PCI_BAR0 + 4 * b, 4, saved);
    }
    cfg_wr(PCI_BAR0 + 16, 4, 0xffffffff);
    assert_int_equal(cfg_rd(PCI_BAR0 + 16, 4), 0); /* not implemented */
}

static void test_relocation_and_slots(void **state)
{
    uint64_t bar0, bar3, moved = 0xd0000000;
    struct kvm_userspace_memory_region *s0 = &slot[SLOT_BASE + 0];

    (void)state;
    /* placed in the guest's window, not where the host has it */
    bar0 = cfg_rd(PCI_BAR0, 4) & ~0xfu;
    assert_true(bar0 >= 0xc0000000 && bar0 < 0xfec00000);
    assert_int_not_equal(bar0, phys32(PCI_BAR0) & ~0xfu);
    assert_int_equal(slot_calls, 0); /* nothing mapped before decoding */

    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    assert_int_equal(dev.cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    /* BAR0 and BAR1: memory slots over the host's mapping */
    assert_int_equal(pci_passthru_slot_bytes(&p, 0), 0x20000);
    assert_int_equal(pci_passthru_slot_bytes(&p, 1), 0x20000);
    assert_int_equal(s0->guest_phys_addr, bar0);
    assert_int_equal(s0->memory_size, 0x20000);
    assert_int_equal(s0->userspace_addr, (uintptr_t)host[0]);
    assert_int_equal(slot[SLOT_BASE + 3].userspace_addr, (uintptr_t)host[1]);
    /* BAR2 (ports) is trapped */
    assert_int_equal(pci_passthru_slot_bytes(&p, 2), 0);
    assert_int_not_equal(p.fn.bar[2].mapped, PCI_BAR_UNMAPPED);
    /* BAR3: the table's page (0) and the PBA's (2) trap; pages 1 and 3 are
     * slots 9 and 10 */
    bar3 = p.fn.bar[3].mapped;
    assert_int_not_equal(bar3, PCI_BAR_UNMAPPED);
    assert_int_equal(pci_passthru_slot_bytes(&p, 3), 0x2000);
    assert_int_equal(slot[SLOT_BASE + 9].guest_phys_addr, bar3 + 0x1000);
    assert_int_equal(slot[SLOT_BASE + 9].memory_size, 0x1000);
    assert_int_equal(slot[SLOT_BASE + 9].userspace_addr, (uintptr_t)host[3] + 0x1000);
    assert_int_equal(slot[SLOT_BASE + 10].guest_phys_addr, bar3 + 0x3000);
    assert_int_equal(slot[SLOT_BASE + 10].memory_size, 0x1000);
    assert_int_equal(slot[SLOT_BASE + 11].memory_size, 0);

    /* the guest moves BAR0: the slot follows */
    cfg_wr(PCI_BAR0, 4, (uint32_t)moved);
    assert_int_equal(s0->guest_phys_addr, moved);
    assert_int_equal(s0->memory_size, 0x20000);
    assert_int_equal(p.fn.bar[0].mapped, moved);

    /* decoding off: every slot goes */
    cfg_wr(PCI_COMMAND, 2, 0);
    for (unsigned i = 0; i < PCI_PASSTHRU_SLOTS; i++)
        assert_int_equal(slot[SLOT_BASE + i].memory_size, 0);
    assert_int_equal(dev.cmd, 0);
}

/* A BAR pointed at guest RAM, at the IOAPIC or across the window's end
 * decodes nothing and reaches nothing. */
static void test_bar_outside_window(void **state)
{
    static const uint32_t bad[] = {0x00100000, 0x80000000, 0xfec00000, 0xfee00000};

    (void)state;
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned calls = slot_calls;
        cfg_wr(PCI_BAR0, 4, bad[i]);
        assert_int_equal(p.fn.bar[0].mapped, PCI_BAR_UNMAPPED);
        assert_int_equal(p.refused, i + 1);
        /* the old slot went; no new one came */
        assert_int_equal(slot[SLOT_BASE].memory_size, 0);
        assert_true(slot_calls <= calls + 1);
    }
    cfg_wr(PCI_BAR0, 4, 0xd0000000);
    assert_int_equal(p.fn.bar[0].mapped, 0xd0000000);
    assert_int_equal(slot[SLOT_BASE].memory_size, 0x20000);
}

static unsigned find_cap(uint8_t id, unsigned *order, unsigned *count)
{
    unsigned off = cfg_rd(PCI_CAP_PTR, 1), at = 0;

    *count = 0;
    for (unsigned step = 0; off && step < 48; step++) {
        if (cfg_rd(off, 1) == id)
            at = off;
        order[(*count)++] = cfg_rd(off, 1);
        off = cfg_rd(off + 1, 1);
    }
    return at;
}

static void test_capabilities(void **state)
{
    unsigned order[48], n, pm, exp, msix;

    (void)state;
    pm = find_cap(PCI_CAP_ID_PM, order, &n);
    exp = find_cap(PCI_CAP_ID_EXP, order, &n);
    msix = find_cap(PCI_CAP_ID_MSIX, order, &n);
    assert_int_equal(n, 3); /* MSI (0xd0 on the device) is hidden */
    assert_int_equal(order[0], PCI_CAP_ID_PM);
    assert_int_equal(order[1], PCI_CAP_ID_EXP);
    assert_int_equal(order[2], PCI_CAP_ID_MSIX);
    assert_int_equal(find_cap(PCI_CAP_ID_MSI, order, &n), 0);
    /* PM and PCI Express: the device's bodies, read-only (QEMU's e1000e
     * has a version 1 endpoint capability: 0x14 bytes) */
    assert_int_equal(phys[0xe2] & 0xf, 1);
    assert_memory_equal(&p.fn.cfg[exp + 2], &phys[0xe0 + 2], PCI_EXP_V1_LEN - 2);
    assert_int_equal(p.fn.cfg[exp + PCI_EXP_V1_LEN], PCI_CAP_ID_MSIX); /* and no more */
    assert_int_equal(cfg_rd(pm + 2, 2), phys[0xc8 + 2] | phys[0xc8 + 3] << 8);
    cfg_wr(pm + PCI_PM_CTRL, 2, 3); /* D3hot */
    assert_int_equal(cfg_rd(pm + PCI_PM_CTRL, 2) & 3, 0);
    cfg_wr(exp + 8, 2, 0x8000); /* device control: initiate FLR */
    assert_int_equal(cfg_rd(exp + 8, 2), phys[0xe0 + 8] | phys[0xe0 + 9] << 8);
    assert_int_equal(dev.other_cfg_writes, 0);
    /* MSI-X as the device has it: 5 vectors, table at BAR3 + 0, PBA at
     * BAR3 + 0x2000, and off until the guest turns it on (it is on in the
     * recording, where the lab's driver had it) */
    assert_int_equal(cfg_rd(msix + MSIX_CTRL, 2), 4);
    assert_int_equal(cfg_rd(msix + MSIX_TABLE, 4), 0x3);
    assert_int_equal(cfg_rd(msix + MSIX_PBA, 4), 0x2003);
}

static void test_msix(void **state)
{
    unsigned order[48], n, cap = find_cap(PCI_CAP_ID_MSIX, order, &n);
    uint64_t table;
    bool handled;

    (void)state;
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    table = p.fn.bar[3].mapped;
    assert_int_not_equal(table, PCI_BAR_UNMAPPED);
    /* entry 1: address, data, unmasked: emulated, never the device's */
    bus_write(&m.mmio, table + 16, 4, 0xfee00000, &handled);
    bus_write(&m.mmio, table + 20, 4, 0, &handled);
    bus_write(&m.mmio, table + 24, 4, 0x41, &handled);
    bus_write(&m.mmio, table + 28, 4, 0, &handled);
    assert_int_equal(dev.bar_writes, 0);
    assert_int_equal(bus_read(&m.mmio, table + 24, 4, &handled), 0x41);
    assert_int_equal(dev.bar_reads, 0);
    assert_int_equal(dev.connects, 0);
    /* the guest turns MSI-X on: the device's 5 vectors get the eventfds */
    cfg_wr(cap + MSIX_CTRL, 2, MSIX_CTRL_ENABLE);
    assert_int_equal(dev.connects, 1);
    assert_int_equal(dev.nvec, 5);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(dev.efds[i], msix_vector_eventfd(&p.msix, i));
    assert_int_equal(fake_kvm_msi_route((unsigned)p.msix.vec[1].gsi)->u.msi.data, 0x41);
    assert_true(fake_kvm.bound[p.msix.vec[1].gsi]);
    assert_int_equal(p.msix.vec[0].gsi, -1); /* still masked: no GSI yet */
    /* a rewrite while enabled connects nothing again */
    cfg_wr(cap + MSIX_CTRL, 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
    assert_int_equal(dev.connects, 1);
    assert_false(fake_kvm.bound[p.msix.vec[1].gsi]);
    /* the rest of the table's page is the device's, through the trap */
    bus_write(&m.mmio, table + 0x800, 4, 0xabcd, &handled);
    assert_int_equal(dev.bar_writes, 1);
    assert_int_equal(dev.last_write_bar, 3);
    assert_int_equal(dev.last_write_off, 0x800);
    assert_int_equal(bus_read(&m.mmio, table + 0x800, 4, &handled), 0xabcd);
    /* an access that starts before the PBA and runs into it reaches
     * neither the device nor msix.c (found by the fuzzer) */
    bus_write(&m.mmio, table + 0x1ffc, 8, ~0ull, &handled);
    assert_int_equal(dev.bar_writes, 1);
    assert_int_equal(p.refused, 1);
    assert_int_equal(bus_read(&m.mmio, table + 0x1ffc, 8, &handled), ~0ull);
    assert_int_equal(dev.bar_reads, 1); /* only the one at 0x800 above */
    /* the PBA is emulated too */
    bus_read(&m.mmio, table + 0x2000, 8, &handled);
    assert_int_equal(dev.bar_reads, 1);
    /* off: the vectors are disconnected */
    cfg_wr(cap + MSIX_CTRL, 2, 0);
    assert_int_equal(dev.disconnects, 1);
    assert_int_equal(dev.nvec, 0);
}

static void test_io_bar(void **state)
{
    uint64_t port;
    bool handled;

    (void)state;
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_IO);
    port = p.fn.bar[2].mapped;
    assert_true(port >= 0xc000 && port < 0x10000);
    dev.bar[2][4] = 0x5a;
    assert_int_equal(bus_read(&m.pio, port + 4, 1, &handled), 0x5a);
    bus_write(&m.pio, port + 8, 4, 0x12345678, &handled);
    assert_int_equal(dev.last_write_bar, 2);
    assert_int_equal(dev.last_write_off, 8);
    assert_int_equal(pci_passthru_slot_bytes(&p, 2), 0);
}

/* The nvme VF: VFIO fills in a VF's ids and BAR types from the kernel's
 * record (its config space has 0xffff ids and zero BARs); so does this. */
static int setup_nvme_vf(void **state)
{
    static const uint64_t sizes[PCI_BARS] = {0x4000, 0, 0, 0, 0, 0};

    (void)state;
    if (setup_machine())
        return -1;
    load_hex("nvme-vf-1b36-0010.config.hex", phys, sizeof(phys));
    pci_set(phys, PCI_VENDOR_ID, 2, 0x1b36);
    pci_set(phys, PCI_DEVICE_ID, 2, 0x0010);
    pci_set(phys, PCI_BAR0, 4, PCI_BAR_MEM64_BITS); /* resource flags 0x140204: 64-bit */
    if (build(sizes)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return pci_host_add(m.pci, PCI_SLOT_ANY, &p.fn, err, sizeof(err));
}

static void test_nvme_vf(void **state)
{
    unsigned order[48], n, cap = find_cap(PCI_CAP_ID_MSIX, order, &n);

    (void)state;
    assert_int_equal(cfg_rd(PCI_VENDOR_ID, 4), 0x00101b36);
    assert_int_equal(cfg_rd(PCI_REVISION, 4) >> 8, 0x010802); /* NVMe */
    assert_int_equal(n, 3);
    assert_int_equal(cfg_rd(cap + MSIX_CTRL, 2), 0); /* one vector */
    assert_int_equal(cfg_rd(cap + MSIX_TABLE, 4), 0x2000);
    assert_int_equal(cfg_rd(cap + MSIX_PBA, 4), 0x3000);
    /* a 64-bit BAR: sized through both halves */
    cfg_wr(PCI_BAR0, 4, 0xffffffff);
    cfg_wr(PCI_BAR0 + 4, 4, 0xffffffff);
    assert_int_equal(cfg_rd(PCI_BAR0, 4), 0xffffc004);
    assert_int_equal(cfg_rd(PCI_BAR0 + 4, 4), 0xffffffff);
    cfg_wr(PCI_BAR0, 4, 0xc0000000);
    cfg_wr(PCI_BAR0 + 4, 4, 0);
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    /* BAR0 holds the registers and doorbells (pages 0 and 1, one memory
     * slot) and the MSI-X table and PBA (pages 2 and 3, trapped) */
    assert_int_equal(p.fn.bar[0].mapped, 0xc0000000);
    assert_int_equal(pci_passthru_slot_bytes(&p, 0), 0x2000);
    assert_int_equal(slot[SLOT_BASE].guest_phys_addr, 0xc0000000);
    assert_int_equal(slot[SLOT_BASE].memory_size, 0x2000);
    assert_int_equal(slot[SLOT_BASE + 1].memory_size, 0);
    assert_int_equal(slot_calls, 1);
    /* a BAR above 4 GiB is outside the window the guest was given */
    cfg_wr(PCI_BAR0 + 4, 4, 1);
    assert_int_equal(p.fn.bar[0].mapped, PCI_BAR_UNMAPPED);
    assert_int_equal(p.refused, 1);
}

/* A function with MSI and no MSI-X (e1000e's recording with MSI-X unlinked):
 * one emulated MSI vector, routed and connected while enabled. */
static int setup_msi_only(void **state)
{
    (void)state;
    if (setup_machine())
        return -1;
    load_hex("e1000e-8086-10d3.config.hex", phys, sizeof(phys));
    phys[0xe1] = 0; /* PCIe no longer points to MSI-X */
    if (build(e1000e_sizes)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return pci_host_add(m.pci, PCI_SLOT_ANY, &p.fn, err, sizeof(err));
}

static void test_msi(void **state)
{
    unsigned order[48], n, cap = find_cap(PCI_CAP_ID_MSI, order, &n);
    unsigned gsi = (unsigned)p.msi_gsi;

    (void)state;
    assert_int_equal(n, 3);
    assert_int_equal(order[0], PCI_CAP_ID_PM);
    assert_int_equal(order[1], PCI_CAP_ID_EXP);
    assert_int_equal(order[2], PCI_CAP_ID_MSI);
    assert_null(p.fn.msix);
    /* one vector, 64-bit; multiple-message enable stays 0 */
    assert_int_equal(cfg_rd(cap + PCI_MSI_CTRL, 2), PCI_MSI_64BIT);
    cfg_wr(cap + PCI_MSI_CTRL, 2, 0x0070);
    assert_int_equal(cfg_rd(cap + PCI_MSI_CTRL, 2), PCI_MSI_64BIT);
    /* the driver's order: address, data, then enable */
    cfg_wr(cap + PCI_MSI_ADDR_LO, 4, 0xfee00003);
    cfg_wr(cap + PCI_MSI_ADDR_HI, 4, 0);
    cfg_wr(cap + PCI_MSI_DATA, 2, 0x41);
    assert_int_equal(cfg_rd(cap + PCI_MSI_ADDR_LO, 4), 0xfee00000);
    assert_int_equal(dev.msi_connects, 0);
    assert_false(fake_kvm.bound[gsi]);
    assert_string_equal(dev.irq_log, "I"); /* INTx, as the command register allows */
    cfg_wr(cap + PCI_MSI_CTRL, 2, PCI_MSI_ENABLE);
    assert_string_equal(dev.irq_log, "IiM"); /* let go before MSI comes on */
    assert_int_equal(dev.msi_connects, 1);
    assert_int_equal(dev.msi_efd, p.msi_efd);
    assert_true(fake_kvm.bound[gsi]);
    assert_int_equal(fake_kvm.bound_fd[gsi], p.msi_efd);
    assert_int_equal(fake_kvm_msi_route(gsi)->u.msi.address_lo, 0xfee00000);
    assert_int_equal(fake_kvm_msi_route(gsi)->u.msi.data, 0x41);
    /* a new vector while enabled: rerouted, not reconnected */
    cfg_wr(cap + PCI_MSI_DATA, 2, 0x42);
    assert_int_equal(fake_kvm_msi_route(gsi)->u.msi.data, 0x42);
    assert_int_equal(dev.msi_connects, 1);
    /* off: disconnected and unbound, and INTx back */
    cfg_wr(cap + PCI_MSI_CTRL, 2, 0);
    assert_string_equal(dev.irq_log, "IiMmI");
    assert_int_equal(dev.msi_disconnects, 1);
    assert_false(fake_kvm.bound[gsi]);
    /* no MSI-X table now: BAR3 is a memory slot whole */
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(pci_passthru_slot_bytes(&p, 3), 0x4000);
}

/* A function with neither MSI-X nor MSI (e1000e's recording with both
 * unlinked; its pin is INTA): INTx through a resample irqfd on the slot's
 * IOAPIC pin, connected while the guest leaves INTx enabled. */
static int setup_intx_only(void **state)
{
    (void)state;
    if (setup_machine())
        return -1;
    load_hex("e1000e-8086-10d3.config.hex", phys, sizeof(phys));
    phys[0xc9] = 0xe0; /* PM -> PCIe */
    phys[0xe1] = 0;    /* PCIe -> the end */
    if (build(e1000e_sizes)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return pci_host_add(m.pci, PCI_SLOT_ANY, &p.fn, err, sizeof(err));
}

static void test_intx(void **state)
{
    unsigned order[48], n, gsi = pci_intx_gsi(p.fn.slot);

    (void)state;
    assert_int_equal(phys[PCI_INTERRUPT_PIN], 1);
    assert_int_equal(find_cap(PCI_CAP_ID_MSI, order, &n), 0);
    assert_int_equal(n, 2); /* PM, PCI Express */
    assert_null(p.fn.msix);
    assert_true(p.intx);
    assert_int_equal(cfg_rd(PCI_INTERRUPT_PIN, 1), 1);
    assert_true(gsi >= PCI_INTX_GSI_BASE && gsi < GSI_IOAPIC_PINS);
    assert_int_equal(dev.intx_connects, 0);
    assert_false(fake_kvm.bound[gsi]);
    /* the driver enables the function: INTx is not disabled, so it is live */
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_int_equal(dev.cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_int_equal(dev.intx_connects, 1);
    assert_int_equal(dev.intx_efd, p.intx_efd);
    assert_int_equal(dev.intx_resample_efd, p.intx_resample_efd);
    assert_true(fake_kvm.bound[gsi]);
    assert_int_equal(fake_kvm.bound_fd[gsi], p.intx_efd);
    assert_int_equal(fake_kvm.resample_fd[gsi], p.intx_resample_efd);
    /* another command write changes nothing of it */
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_IO);
    assert_int_equal(dev.intx_connects, 1);
    /* INTx disabled by the guest: the device is told, the line let go */
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_OFF);
    assert_int_equal(dev.cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_OFF);
    assert_int_equal(dev.intx_disconnects, 1);
    assert_int_equal(dev.intx_efd, -1);
    assert_false(fake_kvm.bound[gsi]);
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(dev.intx_connects, 2);
    assert_true(fake_kvm.bound[gsi]);
    /* unplugged: disconnected and unbound */
    pci_host_remove(m.pci, &p.fn);
    pci_passthru_unplug(&p);
    assert_int_equal(dev.intx_disconnects, 2);
    assert_false(fake_kvm.bound[gsi]);
}

/* INTx beside MSI-X and MSI (the e1000e has INTA, MSI and MSI-X): live
 * while neither is on, so a guest booted with pci=nomsi drives the device
 * on it; VFIO takes one kind at a time, so INTx is let go before MSI-X or
 * MSI is connected and taken up again only after they are disconnected. */
static void test_intx_beside_vectors(void **state)
{
    unsigned order[48], n, msix = find_cap(PCI_CAP_ID_MSIX, order, &n);
    unsigned gsi = pci_intx_gsi(p.fn.slot);

    (void)state;
    assert_true(p.intx);
    assert_non_null(p.fn.msix);
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_string_equal(dev.irq_log, "I");
    assert_int_equal(fake_kvm.bound_fd[gsi], p.intx_efd);
    assert_int_equal(fake_kvm.resample_fd[gsi], p.intx_resample_efd);
    /* MSI-X on (Linux also sets INTx disable, after): INTx first let go */
    cfg_wr(msix + MSIX_CTRL, 2, MSIX_CTRL_ENABLE);
    assert_string_equal(dev.irq_log, "IiX");
    assert_false(fake_kvm.bound[gsi]);
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
    assert_int_equal(dev.cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
    /* MSI-X off with INTx still disabled: nothing comes back */
    cfg_wr(msix + MSIX_CTRL, 2, 0);
    assert_string_equal(dev.irq_log, "IiXx");
    /* MSI-X on and off with INTx enabled: disconnected before INTx returns */
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    cfg_wr(msix + MSIX_CTRL, 2, MSIX_CTRL_ENABLE);
    cfg_wr(msix + MSIX_CTRL, 2, 0);
    assert_string_equal(dev.irq_log, "IiXxIiXxI");
    assert_true(fake_kvm.bound[gsi]);
    /* unplugged: disconnected and unbound */
    pci_host_remove(m.pci, &p.fn);
    pci_passthru_unplug(&p);
    assert_string_equal(dev.irq_log, "IiXxIiXxIi");
    assert_false(fake_kvm.bound[gsi]);
}

/* Refusals, each naming the host's PCI address. */
static void test_refused(void **state)
{
    uint64_t sizes[PCI_BARS];

    (void)state;
    assert_int_equal(setup_machine(), 0);
    load_hex("e1000e-8086-10d3.config.hex", phys, sizeof(phys));
    /* neither MSI-X nor MSI (unlink both: PM at 0xc8 -> MSI at 0xd0 ->
     * PCIe at 0xe0 -> MSI-X at 0xa0) nor an INTx pin */
    phys[0xc9] = 0xe0;
    phys[0xe1] = 0;
    phys[PCI_INTERRUPT_PIN] = 0;
    assert_int_equal(build(e1000e_sizes), -1);
    assert_non_null(strstr(err, E1000E_ADDR ": has neither MSI-X, MSI nor an INTx pin"));
    phys[0xc9] = 0xd0;
    phys[0xe1] = 0xa0;
    phys[PCI_INTERRUPT_PIN] = 1;
    /* a BAR larger than the window */
    memcpy(sizes, e1000e_sizes, sizeof(sizes));
    sizes[1] = 2ull << 30;
    assert_int_equal(build(sizes), -1);
    assert_non_null(strstr(err, E1000E_ADDR ": BAR 1"));
    /* I/O BAR above 256 ports */
    memcpy(sizes, e1000e_sizes, sizeof(sizes));
    sizes[2] = 512;
    assert_int_equal(build(sizes), -1);
    assert_non_null(strstr(err, E1000E_ADDR ": BAR 2"));
    /* a bridge */
    phys[PCI_HEADER_TYPE] = 1;
    assert_int_equal(build(e1000e_sizes), -1);
    assert_non_null(strstr(err, E1000E_ADDR ": header type 1"));
    phys[PCI_HEADER_TYPE] = 0;
    /* the MSI-X table (5 entries, 80 bytes) does not fit a 64-byte BAR3 */
    memcpy(sizes, e1000e_sizes, sizeof(sizes));
    sizes[3] = 64;
    assert_int_equal(build(sizes), -1);
    assert_non_null(strstr(err, E1000E_ADDR ": MSI-X"));
    /* and the recording as it is builds */
    assert_int_equal(build(e1000e_sizes), 0);
    pci_passthru_destroy(&p);
    machine_destroy(&m);
    for (unsigned b = 0; b < PCI_BARS; b++)
        free(host[b]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_header, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_bar_sizing, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_relocation_and_slots, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_bar_outside_window, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_capabilities, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_msix, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_io_bar, setup_e1000e, teardown),
            cmocka_unit_test_setup_teardown(test_nvme_vf, setup_nvme_vf, teardown),
            cmocka_unit_test_setup_teardown(test_msi, setup_msi_only, teardown),
            cmocka_unit_test_setup_teardown(test_intx, setup_intx_only, teardown),
            cmocka_unit_test_setup_teardown(test_intx_beside_vectors, setup_e1000e, teardown),
            cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
