/* Unit tests of PCI functions (pci.h): BAR declaration, sizing as a guest
 * does it (all ones, read the mask back), placement in the windows,
 * mapping on the buses as the command register and the BARs change,
 * activate/deactivate hooks, and the capability list. The functions are the
 * pci-test device of a machine built from the device table, and one of the
 * test's own that records its hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "fake_kvm.h"
#include "layout.h"
#include "pci.h"
#include "pci_testdev.h"

static struct vmm_config cfg;
static struct machine m;
static unsigned slot; /* of the test function */

static int setup(void **state)
{
    (void)state;
    assert_int_equal(fake_kvm_machine(&m, &cfg, true, NULL, NULL), 0);
    slot = pci_testdev_function(&m)->slot;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    machine_destroy(&m);
    return 0;
}

static uint32_t cfg_read(unsigned reg, unsigned size)
{
    return pci_cfg_read(m.pci, slot, 0, reg, size);
}

static void cfg_write(unsigned reg, unsigned size, uint32_t v)
{
    pci_cfg_write(m.pci, slot, 0, reg, size, v);
}

static bool claimed(struct bus *bus, uint64_t addr)
{
    struct bus_range r;

    return bus_find(bus, addr, &r);
}

static void bars_are_placed_in_the_windows_and_not_decoded(void **state)
{
    struct pci_function *fn = pci_testdev_function(&m);
    uint32_t bar0 = cfg_read(PCI_BAR0, 4), bar1 = cfg_read(PCI_BAR0 + 4, 4);
    uint64_t bar2 = cfg_read(PCI_BAR0 + 8, 4) | (uint64_t)cfg_read(PCI_BAR0 + 12, 4) << 32;

    (void)state;
    assert_int_equal(bar0, GUEST_PCI_MMIO_START); /* 32-bit memory, not prefetchable */
    assert_int_equal(bar1, GUEST_PCI_IO_START | PCI_BAR_IO_BIT);
    assert_int_equal(bar2 & 0xf, PCI_BAR_MEM64_BITS);
    bar2 &= ~0xfull;
    assert_true(bar2 >= GUEST_PCI_MMIO_START + 4096 && bar2 + 16384 <= GUEST_PCI_MMIO_END + 1);
    assert_int_equal(bar2 % 16384, 0); /* naturally aligned */
    assert_int_equal(cfg_read(PCI_COMMAND, 2) & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY), 0);
    for (unsigned i = 0; i < PCI_BARS; i++)
        assert_true(fn->bar[i].mapped == PCI_BAR_UNMAPPED);
    assert_false(claimed(&m.mmio, GUEST_PCI_MMIO_START));
    assert_false(claimed(&m.pio, GUEST_PCI_IO_START));
}

static void sizing_reads_back_the_size_mask(void **state)
{
    (void)state;
    cfg_write(PCI_BAR0, 4, 0xffffffff);
    assert_int_equal(cfg_read(PCI_BAR0, 4), 0xfffff000); /* 4 KiB, 32-bit memory */
    cfg_write(PCI_BAR0 + 4, 4, 0xffffffff);
    assert_int_equal(cfg_read(PCI_BAR0 + 4, 4), 0xfffffff1); /* 16 ports */
    cfg_write(PCI_BAR0 + 8, 4, 0xffffffff);
    cfg_write(PCI_BAR0 + 12, 4, 0xffffffff);
    assert_int_equal(cfg_read(PCI_BAR0 + 8, 4), 0xffffc004); /* 16 KiB, 64-bit */
    assert_int_equal(cfg_read(PCI_BAR0 + 12, 4), 0xffffffff);
    /* BARs 4 and 5 do not exist: they read zero whatever is written */
    cfg_write(PCI_BAR0 + 16, 4, 0xffffffff);
    assert_int_equal(cfg_read(PCI_BAR0 + 16, 4), 0);
    /* an address written back reads back, type bits kept */
    cfg_write(PCI_BAR0, 4, 0xd0000000);
    assert_int_equal(cfg_read(PCI_BAR0, 4), 0xd0000000);
    cfg_write(PCI_BAR0 + 4, 4, 0xe000);
    assert_int_equal(cfg_read(PCI_BAR0 + 4, 4), 0xe001);
    cfg_write(PCI_BAR0 + 8, 4, 0x12345678); /* low bits below the size are read-only */
    assert_int_equal(cfg_read(PCI_BAR0 + 8, 4), 0x12344004);
    /* byte writes go through the same mask */
    cfg_write(PCI_BAR0 + 1, 1, 0xff);
    assert_int_equal(cfg_read(PCI_BAR0, 4), 0xd000f000);
}

static void decoding_maps_and_unmaps_every_bar(void **state)
{
    struct pci_function *fn = pci_testdev_function(&m);
    uint64_t bar2 = (cfg_read(PCI_BAR0 + 8, 4) & ~0xfu) | (uint64_t)cfg_read(PCI_BAR0 + 12, 4)
                                                                  << 32;
    bool handled;

    (void)state;
    cfg_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_true(claimed(&m.mmio, GUEST_PCI_MMIO_START));
    assert_true(claimed(&m.mmio, bar2 + 16383));
    assert_false(claimed(&m.pio, GUEST_PCI_IO_START));
    /* the registers answer on the MMIO bus */
    bus_write(&m.mmio, GUEST_PCI_MMIO_START + PCI_TESTDEV_SCRATCH, 4, 0xcafe, &handled);
    assert_int_equal(bus_read(&m.mmio, GUEST_PCI_MMIO_START + PCI_TESTDEV_SCRATCH, 4, &handled),
                     0xcafe);
    cfg_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    assert_true(claimed(&m.pio, GUEST_PCI_IO_START + 15));
    assert_int_equal(bus_read(&m.pio, GUEST_PCI_IO_START + PCI_TESTDEV_SCRATCH, 4, &handled),
                     0xcafe);
    assert_true(fn->bar[1].mapped == GUEST_PCI_IO_START);
    /* byte writes compose the register, as outb to each port does */
    for (unsigned i = 0; i < 4; i++)
        bus_write(&m.pio, GUEST_PCI_IO_START + i, 1, (0xdeadbeefu >> (8 * i)) & 0xff, &handled);
    assert_int_equal(bus_read(&m.mmio, GUEST_PCI_MMIO_START, 4, &handled), 0xdeadbeef);
    assert_int_equal(bus_read(&m.pio, GUEST_PCI_IO_START + 2, 2, &handled), 0xdead);
    cfg_write(PCI_COMMAND, 2, 0);
    assert_false(claimed(&m.mmio, GUEST_PCI_MMIO_START));
    assert_false(claimed(&m.mmio, bar2));
    assert_false(claimed(&m.pio, GUEST_PCI_IO_START));
    assert_int_equal(bus_read(&m.mmio, GUEST_PCI_MMIO_START, 4, &handled), 0xffffffff);
    assert_false(handled);
}

static void a_bar_moves_while_decoded(void **state)
{
    struct pci_function *fn = pci_testdev_function(&m);
    bool handled;

    (void)state;
    cfg_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    cfg_write(PCI_BAR0, 4, 0xd0000000);
    assert_false(claimed(&m.mmio, GUEST_PCI_MMIO_START));
    assert_true(claimed(&m.mmio, 0xd0000fff));
    assert_true(fn->bar[0].mapped == 0xd0000000);
    bus_write(&m.mmio, 0xd0000000, 4, 0x1234, &handled);
    assert_true(handled);
    assert_int_equal(bus_read(&m.mmio, 0xd0000000, 4, &handled), 0x1234);
    /* the 64-bit pair moves above 4 GiB once both halves are written */
    cfg_write(PCI_BAR0 + 12, 4, 0x1);
    cfg_write(PCI_BAR0 + 8, 4, 0x00010000);
    assert_true(fn->bar[2].mapped == 0x100010000ull);
    assert_true(claimed(&m.mmio, 0x100010000ull + 16383));
    /* moved onto BAR0: refused, the BAR stays unmapped until moved away */
    cfg_write(PCI_BAR0 + 12, 4, 0);
    cfg_write(PCI_BAR0 + 8, 4, 0xd0000000);
    assert_true(fn->bar[2].mapped == PCI_BAR_UNMAPPED);
    assert_true(fn->bar[0].mapped == 0xd0000000);
    cfg_write(PCI_BAR0 + 8, 4, 0xd0004000);
    assert_true(fn->bar[2].mapped == 0xd0004000);
    /* address 0 decodes nothing */
    cfg_write(PCI_BAR0, 4, 0);
    assert_true(fn->bar[0].mapped == PCI_BAR_UNMAPPED);
    /* an I/O BAR that would pass port 0xffff decodes nothing */
    cfg_write(PCI_COMMAND, 2, PCI_COMMAND_IO);
    cfg_write(PCI_BAR0 + 4, 4, 0x1fff0);
    assert_true(fn->bar[1].mapped == PCI_BAR_UNMAPPED);
    cfg_write(PCI_BAR0 + 4, 4, 0xfff0);
    assert_true(fn->bar[1].mapped == 0xfff0);
}

/* A function of the test's own whose hooks record what pci.c asks. */
struct hooked {
    struct pci_function fn;
    unsigned activations, deactivations;
    unsigned bar;
    uint64_t addr;
    unsigned cfg_writes;
    unsigned last_reg;
};

static int hook_activate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    struct hooked *h = fn->priv;

    h->activations++;
    h->bar = bar;
    h->addr = addr;
    if (addr == 0xdead0000)
        return -1;                                               /* the device may refuse a place */
    return addr == 0xd2000000 ? pci_bar_trap(fn, bar, addr) : 0; /* and trap, besides */
}

static void hook_deactivate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    struct hooked *h = fn->priv;

    h->deactivations++;
    h->bar = bar;
    h->addr = addr;
    if (addr == 0xd2000000)
        pci_bar_untrap(fn, bar, addr);
}

static void hook_cfg_write(struct pci_function *fn, unsigned reg, unsigned size, uint32_t value)
{
    struct hooked *h = fn->priv;

    (void)size;
    (void)value;
    h->cfg_writes++;
    h->last_reg = reg;
}

static void hook_cfg_read(struct pci_function *fn, unsigned reg, unsigned size, uint32_t *value)
{
    (void)fn;
    (void)size;
    if (reg == 0x80)
        *value = 0x600d;
}

static const struct pci_function_ops hook_ops = {.cfg_read = hook_cfg_read,
                                                 .cfg_write = hook_cfg_write,
                                                 .bar_activate = hook_activate,
                                                 .bar_deactivate = hook_deactivate};

static void decode_toggling_calls_activate_and_deactivate(void **state)
{
    struct hooked h;
    char err[128];

    (void)state;
    memset(&h, 0, sizeof(h));
    pci_function_init(&h.fn, "hooked", 0x1af4, 0x1234, 0x020000, &hook_ops, &h);
    assert_int_equal(pci_bar_add(&h.fn, 3, PCI_BAR_MEM32, 0x10000, true), 0);
    assert_int_equal(pci_host_add(m.pci, 9, &h.fn, err, sizeof(err)), 0);
    assert_int_equal(pci_cfg_read(m.pci, 9, 0, PCI_BAR0 + 12, 4) & 0xf, PCI_BAR_PREFETCH_BIT);
    pci_cfg_write(m.pci, 9, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(h.activations, 1);
    assert_int_equal(h.bar, 3);
    assert_true(h.addr == (pci_cfg_read(m.pci, 9, 0, PCI_BAR0 + 12, 4) & ~0xfu));
    /* the hook replaces the trap: nothing is claimed on the bus */
    assert_false(claimed(&m.mmio, h.addr));
    /* I/O decoding does not concern a memory BAR */
    pci_cfg_write(m.pci, 9, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    assert_int_equal(h.activations, 1);
    assert_int_equal(h.deactivations, 0);
    pci_cfg_write(m.pci, 9, 0, PCI_BAR0 + 12, 4, 0xd1000000);
    assert_int_equal(h.deactivations, 1);
    assert_int_equal(h.activations, 2);
    assert_true(h.addr == 0xd1000000);
    pci_cfg_write(m.pci, 9, 0, PCI_BAR0 + 12, 4, 0xdead0000); /* refused by the device */
    assert_int_equal(h.deactivations, 2);
    assert_true(h.fn.bar[3].mapped == PCI_BAR_UNMAPPED);
    pci_cfg_write(m.pci, 9, 0, PCI_COMMAND, 2, 0); /* nothing mapped: nothing to undo */
    assert_int_equal(h.deactivations, 2);
    pci_cfg_write(m.pci, 9, 0, PCI_BAR0 + 12, 4, 0xd2000000);
    pci_cfg_write(m.pci, 9, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(h.activations, 4);
    assert_true(claimed(&m.mmio, 0xd200ffff)); /* the hook also trapped it */
    pci_cfg_write(m.pci, 9, 0, PCI_COMMAND, 2, 0);
    assert_int_equal(h.deactivations, 3);
    assert_false(claimed(&m.mmio, 0xd2000000));
    assert_true(h.addr == 0xd2000000);
    /* the device hears of writes after pci.c applied them, and may answer reads */
    assert_int_equal(h.cfg_writes, 8);
    assert_int_equal(h.last_reg, PCI_COMMAND);
    assert_int_equal(pci_cfg_read(m.pci, 9, 0, 0x80, 4), 0x600d);
    pci_host_remove(m.pci, &h.fn);
    pci_function_destroy(&h.fn);
}

static void bar_declarations_are_checked(void **state)
{
    struct pci_function fn;
    struct pci_host small;
    struct bus pio, mmio;
    char err[128];

    (void)state;
    pci_function_init(&fn, "bars", 0x1af4, 1, 0, NULL, NULL);
    assert_int_equal(pci_bar_add(&fn, 0, PCI_BAR_MEM32, 3000, false), -1); /* not a power of 2 */
    assert_int_equal(pci_bar_add(&fn, 0, PCI_BAR_MEM32, 8, false), -1);    /* too small */
    assert_int_equal(pci_bar_add(&fn, 0, PCI_BAR_IO, 512, false), -1);     /* too many ports */
    assert_int_equal(pci_bar_add(&fn, 0, PCI_BAR_IO, 16, true), -1);       /* prefetchable I/O */
    assert_int_equal(pci_bar_add(&fn, 5, PCI_BAR_MEM64, 4096, false), -1); /* no BAR 6 */
    assert_int_equal(pci_bar_add(&fn, 6, PCI_BAR_MEM32, 4096, false), -1);
    assert_int_equal(pci_bar_add(&fn, 0, PCI_BAR_MEM64, 1ull << 29, false), 0);
    assert_int_equal(pci_bar_add(&fn, 1, PCI_BAR_MEM32, 4096, false), -1); /* upper half */
    assert_int_equal(pci_bar_add(&fn, 0, PCI_BAR_IO, 4, false), -1);       /* declared */
    assert_int_equal(pci_bar_add(&fn, 2, PCI_BAR_MEM64, 1ull << 29, false), 0);
    assert_int_equal(pci_bar_add(&fn, 4, PCI_BAR_MEM32, 1ull << 29, false), 0);
    /* two 512 MiB BARs do not fit the 1 GiB - 20 MiB window */
    bus_init(&pio, "pio", 0x10000);
    bus_init(&mmio, "mmio", 0);
    assert_int_equal(pci_host_init(&small, &pio, &mmio), 0);
    assert_int_equal(pci_host_add(&small, 2, &fn, err, sizeof(err)), -1);
    assert_string_equal(err, "bars: no room for BAR 2 (536870912 bytes) in the PCI memory window");
    pci_host_destroy(&small);
    assert_int_equal(pio.n, 0); /* the mechanism #1 ports were given back */
    bus_destroy(&pio);
    bus_destroy(&mmio);
    pci_function_destroy(&fn);
}

static void capabilities_form_a_list(void **state)
{
    struct pci_function fn;
    unsigned a, b, c;

    (void)state;
    pci_function_init(&fn, "caps", 0x1af4, 1, 0, NULL, NULL);
    assert_int_equal(pci_get(&fn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
    assert_int_equal(pci_cap_find(&fn, 0x09), 0);
    a = pci_cap_add(&fn, 0x09, 5); /* vendor-specific, odd length */
    b = pci_cap_add(&fn, 0x05, 14);
    c = pci_cap_add(&fn, 0x09, 16);
    assert_int_equal(a, PCI_CAP_START);
    assert_int_equal(b, 0x48); /* 4-byte aligned after 5 bytes */
    assert_int_equal(c, 0x58);
    assert_int_equal(pci_get(&fn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
    assert_int_equal(fn.cfg[PCI_CAP_PTR], a);
    assert_int_equal(fn.cfg[a + 1], b);
    assert_int_equal(fn.cfg[b + 1], c);
    assert_int_equal(fn.cfg[c + 1], 0);
    assert_int_equal(pci_cap_find(&fn, 0x05), b);
    assert_int_equal(pci_cap_find(&fn, 0x09), a); /* the first of two */
    assert_int_equal(pci_cap_find(&fn, 0x11), 0);
    /* until configuration space is full */
    assert_int_equal(pci_cap_add(&fn, 0x09, 256 - 0x68 + 1), 0);
    assert_int_equal(pci_cap_add(&fn, 0x09, 256 - 0x68), 0x68);
    assert_int_equal(pci_cap_add(&fn, 0x09, 4), 0);
    /* a list that loops (a device's bug) does not hang the walk */
    fn.cfg[c + 1] = (uint8_t)a;
    assert_int_equal(pci_cap_find(&fn, 0x11), 0);
    /* the guest cannot write the list */
    pci_function_destroy(&fn);
    assert_int_equal(pci_cfg_read(m.pci, slot, 0, PCI_CAP_PTR, 1), 0x40);
    pci_cfg_write(m.pci, slot, 0, PCI_CAP_PTR, 1, 0x80);
    pci_cfg_write(m.pci, slot, 0, 0x41, 1, 0x80);
    assert_int_equal(pci_cfg_read(m.pci, slot, 0, PCI_CAP_PTR, 1), 0x40);
    assert_int_equal(pci_cfg_read(m.pci, slot, 0, 0x40, 2), PCI_CAP_ID_MSIX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(bars_are_placed_in_the_windows_and_not_decoded, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(sizing_reads_back_the_size_mask, setup, teardown),
            cmocka_unit_test_setup_teardown(decoding_maps_and_unmaps_every_bar, setup, teardown),
            cmocka_unit_test_setup_teardown(a_bar_moves_while_decoded, setup, teardown),
            cmocka_unit_test_setup_teardown(decode_toggling_calls_activate_and_deactivate, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(bar_declarations_are_checked, setup, teardown),
            cmocka_unit_test_setup_teardown(capabilities_form_a_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
