/* Unit tests of interrupt delivery: MSI-X (msix.h) through the pci-test
 * function's BARs as a guest driver programs it, the GSI allocator and
 * routing table (gsi.h), and KVM_IOEVENTFD requests (ioeventfd.h), on a
 * fake KVM that records routes and irqfd binds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "device.h"
#include "fake_kvm.h"
#include "ioeventfd.h"
#include "msix.h"
#include "pci.h"
#include "pci_testdev.h"

static struct vmm_config cfg;
static struct machine m;
static struct pci_function *fn;
static uint64_t table; /* guest address of the MSI-X table */
static uint64_t regs;  /* guest address of BAR0 */
static unsigned cap;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(fake_kvm_machine(&m, &cfg, true, NULL, NULL), 0);
    fn = pci_testdev_function(&m);
    pci_cfg_write(m.pci, fn->slot, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    table = fn->bar[PCI_TESTDEV_MSIX_BAR].mapped;
    regs = fn->bar[PCI_TESTDEV_REGS_BAR].mapped;
    assert_true(table != PCI_BAR_UNMAPPED && regs != PCI_BAR_UNMAPPED);
    cap = pci_cap_find(fn, PCI_CAP_ID_MSIX);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    machine_destroy(&m);
    return 0;
}

static uint64_t rd(uint64_t addr, unsigned size)
{
    bool handled;

    return bus_read(&m.mmio, addr, size, &handled);
}

static void wr(uint64_t addr, unsigned size, uint64_t v)
{
    bool handled;

    bus_write(&m.mmio, addr, size, v, &handled);
}

static void control(uint16_t v)
{
    pci_cfg_write(m.pci, fn->slot, 0, cap + MSIX_CTRL, 2, v);
}

static void entry(unsigned vector, uint64_t addr, uint32_t data, uint32_t ctrl)
{
    uint64_t e = table + vector * MSIX_ENTRY_SIZE;

    wr(e, 4, (uint32_t)addr);
    wr(e + 4, 4, addr >> 32);
    wr(e + 8, 4, data);
    wr(e + 12, 4, ctrl);
}

/* The vector's GSI, which it has once it went live. */
static unsigned gsi_of(unsigned vector)
{
    int g = fn->msix->vec[vector].gsi;

    assert_true(g >= GSI_IOAPIC_PINS);
    return (unsigned)g;
}

static void the_capability_describes_table_and_pba(void **state)
{
    (void)state;
    assert_int_equal(cap, PCI_CAP_START);
    assert_int_equal(pci_cfg_read(m.pci, fn->slot, 0, cap, 1), PCI_CAP_ID_MSIX);
    assert_int_equal(pci_cfg_read(m.pci, fn->slot, 0, cap + MSIX_CTRL, 2), PCI_TESTDEV_VECTORS - 1);
    assert_int_equal(pci_cfg_read(m.pci, fn->slot, 0, cap + MSIX_TABLE, 4), PCI_TESTDEV_MSIX_BAR);
    assert_int_equal(pci_cfg_read(m.pci, fn->slot, 0, cap + MSIX_PBA, 4),
                     PCI_TESTDEV_PBA_OFF | PCI_TESTDEV_MSIX_BAR);
    /* only enable and function mask are writable */
    control(0xffff);
    assert_int_equal(pci_cfg_read(m.pci, fn->slot, 0, cap + MSIX_CTRL, 2),
                     MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL | (PCI_TESTDEV_VECTORS - 1));
    /* no vector has a GSI before it first goes live */
    for (unsigned i = 0; i < PCI_TESTDEV_VECTORS; i++)
        assert_int_equal(fn->msix->vec[i].gsi, -1);
}

static void table_writes_read_back_with_reserved_bits_clear(void **state)
{
    (void)state;
    /* reset: every vector masked, the rest zero */
    for (unsigned i = 0; i < PCI_TESTDEV_VECTORS; i++)
        assert_int_equal(rd(table + i * 16 + 12, 4), MSIX_VECTOR_MASKED);
    entry(1, 0xfee01003, 0x4041, 0xfffffffe);
    assert_int_equal(rd(table + 16, 4), 0xfee01000); /* dword aligned */
    assert_int_equal(rd(table + 20, 4), 0);
    assert_int_equal(rd(table + 24, 4), 0x4041);
    assert_int_equal(rd(table + 28, 4), 0); /* only the mask bit of vector control */
    /* 8-byte accesses: address in one, data and control in the other */
    wr(table + 32, 8, 0x00000001fee02000ull);
    wr(table + 40, 8, 0x0000000100000077ull);
    assert_true(rd(table + 32, 8) == 0x00000001fee02000ull);
    assert_true(rd(table + 40, 8) == 0x0000000100000077ull);
    /* misaligned or narrow: all ones, and dropped */
    assert_int_equal(rd(table + 18, 2), 0xffff);
    wr(table + 24, 2, 0x1234);
    wr(table + 26, 4, 0x1234);
    assert_int_equal(rd(table + 24, 4), 0x4041);
    /* the PBA is read-only */
    wr(table + PCI_TESTDEV_PBA_OFF, 8, ~0ull);
    assert_true(rd(table + PCI_TESTDEV_PBA_OFF, 8) == 0);
    /* past the table and PBA the BAR is the device's (which reads zero) */
    assert_int_equal(rd(table + 0x1000, 4), 0);
}

static void masking_binds_and_unbinds_the_vector(void **state)
{
    const struct kvm_irq_routing_entry *r;
    unsigned g;

    (void)state;
    entry(0, 0xfee00000, 0x4022, MSIX_VECTOR_MASKED);
    control(MSIX_CTRL_ENABLE); /* enabled, but the vector is masked: no GSI yet */
    assert_int_equal(fn->msix->vec[0].gsi, -1);
    wr(table + 12, 4, 0); /* unmask: a GSI, routed and bound */
    g = gsi_of(0);
    assert_int_equal(g, GSI_IOAPIC_PINS); /* the lowest free */
    r = fake_kvm_msi_route(g);
    assert_int_equal(r->type, KVM_IRQ_ROUTING_MSI);
    assert_int_equal(r->u.msi.address_lo, 0xfee00000);
    assert_int_equal(r->u.msi.data, 0x4022);
    assert_true(fake_kvm.bound[g]);
    assert_int_equal(fake_kvm.bound_fd[g], msix_vector_eventfd(fn->msix, 0));
    assert_int_equal(fn->msix->vec[1].gsi, -1);
    /* the function mask unbinds; a signal then waits and shows in the PBA */
    control(MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
    assert_false(fake_kvm.bound[g]);
    wr(regs + PCI_TESTDEV_DOORBELL, 4, 0); /* the device rings vector 0 */
    assert_true(msix_pending(fn->msix, 0));
    assert_int_equal(rd(table + PCI_TESTDEV_PBA_OFF, 4), 0x1);
    assert_int_equal(rd(regs + PCI_TESTDEV_RUNG, 4), 1);
    /* unmasked: bound again, the waiting signal is KVM's to deliver */
    control(MSIX_CTRL_ENABLE);
    assert_true(fake_kvm.bound[g]);
    assert_false(msix_pending(fn->msix, 0));
    assert_int_equal(rd(table + PCI_TESTDEV_PBA_OFF, 4), 0);
    /* a live entry rewritten gets its new route */
    wr(table + 8, 4, 0x4023);
    assert_int_equal(fake_kvm_msi_route(g)->u.msi.data, 0x4023);
    /* vector mask alone, then disabling MSI-X */
    wr(table + 12, 4, MSIX_VECTOR_MASKED);
    assert_false(fake_kvm.bound[g]);
    wr(table + 12, 4, 0);
    assert_true(fake_kvm.bound[g]);
    control(0);
    assert_false(fake_kvm.bound[g]);
    /* a vector out of range is refused */
    assert_int_equal(msix_notify(fn->msix, PCI_TESTDEV_VECTORS), -1);
    assert_int_equal(msix_vector_eventfd(fn->msix, PCI_TESTDEV_VECTORS), -1);
    assert_int_equal(fn->msix->errors, 0);
}

static void kvm_refusing_a_route_leaves_the_vector_unbound(void **state)
{
    unsigned g;

    (void)state;
    control(MSIX_CTRL_ENABLE);
    fake_kvm.refuse = KVM_SET_GSI_ROUTING;
    entry(2, 0xfee00000, 0x4030, 0);
    g = gsi_of(2);
    assert_false(fake_kvm.bound[g]);
    assert_int_equal(fake_kvm_msi_route(g)->type, 0);
    assert_true(fn->msix->errors > 0);
    fake_kvm.refuse = 0;
    wr(table + 2 * 16 + 12, 4, 0); /* the guest touches it again: now it works */
    assert_true(fake_kvm.bound[g]);
    assert_int_equal(fake_kvm_msi_route(g)->type, KVM_IRQ_ROUTING_MSI);
}

static void msix_refuses_bad_layouts(void **state)
{
    struct pci_function f;
    struct msix x;
    char err[256];

    (void)state;
    pci_function_init(&f, "bad", 0x1af4, 2, 0, NULL, NULL);
    assert_int_equal(pci_bar_add(&f, 0, PCI_BAR_MEM32, 4096, false), 0);
    assert_int_equal(pci_bar_add(&f, 1, PCI_BAR_IO, 16, false), 0);
    assert_int_equal(msix_init(&x, &f, &m.gsi, 0, 0, 0, 0, 0x800, err, sizeof(err)), -1);
    assert_string_equal(err, "bad: MSI-X: 0 vectors is not 1..2048");
    assert_int_equal(msix_init(&x, &f, &m.gsi, 4, 1, 0, 0, 0x800, err, sizeof(err)), -1);
    assert_string_equal(err, "bad: MSI-X: the table and PBA must be in memory BARs");
    assert_int_equal(msix_init(&x, &f, &m.gsi, 4, 0, 0, 0, 0x20, err, sizeof(err)),
                     -1); /* overlap */
    assert_int_equal(msix_init(&x, &f, &m.gsi, 4, 0, 4, 0, 0x800, err, sizeof(err)),
                     -1); /* align */
    assert_int_equal(msix_init(&x, &f, &m.gsi, 256, 0, 0, 0, 0x800, err, sizeof(err)),
                     -1);                                   /* size */
    assert_int_equal(pci_cap_find(&f, PCI_CAP_ID_MSIX), 0); /* nothing was added */
    assert_int_equal(msix_init(&x, &f, &m.gsi, 128, 0, 0, 0, 0x800, err, sizeof(err)), 0);
    assert_int_equal(pci_cap_find(&f, PCI_CAP_ID_MSIX), PCI_CAP_START);
    msix_destroy(&x);
    pci_function_destroy(&f);
}

/* A function with the most vectors (a PF's 2048) on a VM of GSI_MAX GSIs:
 * GSIs are taken as vectors go live, not for every vector at init. */
static void a_function_may_have_more_vectors_than_the_vm_has_gsis(void **state)
{
    struct pci_function f;
    struct msix x;
    struct rlimit lim;
    char err[256];
    int g;

    (void)state;
    /* 2048 eventfds: the test takes what its hard limit allows, as evr-vmm does */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
    lim.rlim_cur = lim.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_cur < MSIX_MAX_VECTORS + 256)
        fail_msg("RLIMIT_NOFILE hard limit %llu is below 2304", (unsigned long long)lim.rlim_cur);
    pci_function_init(&f, "pf", 0x8086, 0x1572, 0, NULL, NULL);
    assert_int_equal(pci_bar_add(&f, 0, PCI_BAR_MEM64, 0x10000, false), 0);
    if (msix_init(&x, &f, &m.gsi, MSIX_MAX_VECTORS, 0, 0, 0, 0x8000, err, sizeof(err)))
        fail_msg("msix_init: %s", err);
    pci_set(f.cfg, x.cap + MSIX_CTRL, 2, MSIX_CTRL_ENABLE | (MSIX_MAX_VECTORS - 1));
    msix_control_written(&x);
    assert_int_equal(x.vec[MSIX_MAX_VECTORS - 1].gsi, -1);
    /* the last vector unmasked: a GSI, routed and bound to its eventfd */
    assert_true(msix_bar_write(&x, 0, (MSIX_MAX_VECTORS - 1) * MSIX_ENTRY_SIZE, 4, 0xfee00000));
    assert_true(msix_bar_write(&x, 0, (MSIX_MAX_VECTORS - 1) * MSIX_ENTRY_SIZE + 12, 4, 0));
    g = x.vec[MSIX_MAX_VECTORS - 1].gsi;
    assert_true(g >= GSI_IOAPIC_PINS);
    assert_true(fake_kvm.bound[g]);
    assert_int_equal(fake_kvm.bound_fd[g], msix_vector_eventfd(&x, MSIX_MAX_VECTORS - 1));
    assert_int_equal(x.errors, 0);
    msix_destroy(&x);
    assert_false(fake_kvm.bound[g]);
    pci_function_destroy(&f);
}

static void gsis_are_allocated_lowest_first_and_routed_in_one_table(void **state)
{
    struct gsi_router r;
    struct kvm_vm kvm = fake_kvm_vm();
    struct kvm_irq_routing_entry e[64];
    unsigned n, allocated = 0;
    int g;

    (void)state;
    gsi_router_init(&r, &kvm);
    assert_int_equal(gsi_alloc(&r), 24);
    assert_int_equal(gsi_alloc(&r), 25);
    assert_int_equal(gsi_alloc(&r), 26);
    gsi_free(&r, 25);
    gsi_free(&r, 25); /* twice: no-op */
    gsi_free(&r, 4);  /* an IOAPIC pin: not the allocator's */
    assert_int_equal(gsi_alloc(&r), 25);
    /* KVM's default routes come first: 16 pins on both chips, 8 on the IOAPIC */
    n = gsi_routing_entries(&r, e, 64);
    assert_int_equal(n, 40);
    assert_int_equal(e[0].u.irqchip.irqchip, KVM_IRQCHIP_PIC_MASTER);
    assert_int_equal(e[1].u.irqchip.irqchip, KVM_IRQCHIP_IOAPIC);
    assert_int_equal(e[39].gsi, 23);
    assert_int_equal(gsi_route_msi(&r, 26, 0xfee00000, 0x30), 0);
    assert_int_equal(gsi_route_msi(&r, 24, 0x1fee00000ull, 0x31), 0);
    assert_int_equal(fake_kvm.tables, 2);
    assert_int_equal(fake_kvm.routes, 42);
    assert_int_equal(fake_kvm.route[40].gsi, 24);
    assert_int_equal(fake_kvm.route[40].u.msi.address_hi, 1);
    assert_int_equal(fake_kvm.route[41].gsi, 26);
    /* routes only for allocated GSIs above the pins */
    assert_int_equal(gsi_route_msi(&r, 27, 0xfee00000, 0), -1);
    assert_int_equal(gsi_route_msi(&r, 9, 0xfee00000, 0), -1);
    /* KVM refuses: the old route stays */
    fake_kvm.refuse = KVM_SET_GSI_ROUTING;
    assert_int_equal(gsi_route_msi(&r, 26, 0xfee00000, 0x99), -1);
    fake_kvm.refuse = 0;
    assert_int_equal(gsi_unroute(&r, 24), 0);
    assert_int_equal(fake_kvm.routes, 41);
    assert_int_equal(fake_kvm.route[40].u.msi.data, 0x30);
    /* freeing a routed GSI sends the table without it */
    gsi_free(&r, 26);
    assert_int_equal(fake_kvm.routes, 40);
    /* until none is left */
    while ((g = gsi_alloc(&r)) >= 0)
        allocated++;
    assert_int_equal(allocated, GSI_MAX - GSI_IOAPIC_PINS - 2);
    assert_int_equal(errno, ENOSPC);
    /* irqfds: bind and unbind through KVM_IRQFD */
    assert_int_equal(gsi_irqfd(&r, 30, 7, true), 0);
    assert_true(fake_kvm.bound[30]);
    assert_int_equal(gsi_irqfd(&r, 30, 7, false), 0);
    assert_false(fake_kvm.bound[30]);
    assert_int_equal(gsi_irqfd(&r, 30, -1, true), -1);
    gsi_router_destroy(&r);
}

static void ioeventfd_requests_are_checked(void **state)
{
    struct kvm_vm kvm = fake_kvm_vm();
    struct kvm_ioeventfd req;
    struct ioeventfd e = {.addr = 0xc010, .len = 2, .pio = true, .efd = 5};

    (void)state;
    assert_int_equal(ioeventfd_request(&e, false, &req), 0);
    assert_true(req.addr == 0xc010);
    assert_int_equal(req.len, 2);
    assert_int_equal(req.flags, KVM_IOEVENTFD_FLAG_PIO);
    e.match = true;
    e.datamatch = 0x1234;
    assert_int_equal(ioeventfd_request(&e, true, &req), 0);
    assert_int_equal(req.flags, KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH |
                                        KVM_IOEVENTFD_FLAG_DEASSIGN);
    assert_true(req.datamatch == 0x1234);
    e.datamatch = 0x12345; /* does not fit 2 bytes */
    assert_int_equal(ioeventfd_request(&e, false, &req), -1);
    e.match = false;
    e.len = 0; /* any length: MMIO only */
    assert_int_equal(ioeventfd_request(&e, false, &req), -1);
    e.pio = false;
    e.addr = 0xc0001000;
    assert_int_equal(ioeventfd_request(&e, false, &req), 0);
    e.len = 3;
    assert_int_equal(ioeventfd_request(&e, false, &req), -1);
    e.len = 4;
    e.pio = true;
    e.addr = 0xfffe; /* past port 0xffff */
    assert_int_equal(ioeventfd_request(&e, false, &req), -1);
    e.addr = 0xc000;
    e.efd = -1;
    assert_int_equal(ioeventfd_assign(&kvm, &e), -1);
    assert_int_equal(fake_kvm.ioeventfds, 0);
    e.efd = 5;
    assert_int_equal(ioeventfd_assign(&kvm, &e), 0);
    assert_int_equal(ioeventfd_deassign(&kvm, &e), 0);
    assert_int_equal(fake_kvm.ioeventfds, 2);
    assert_int_equal(fake_kvm.last_ioeventfd.flags,
                     KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(the_capability_describes_table_and_pba, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(table_writes_read_back_with_reserved_bits_clear, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(masking_binds_and_unbinds_the_vector, setup, teardown),
            cmocka_unit_test_setup_teardown(kvm_refusing_a_route_leaves_the_vector_unbound, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(msix_refuses_bad_layouts, setup, teardown),
            cmocka_unit_test_setup_teardown(a_function_may_have_more_vectors_than_the_vm_has_gsis,
                                            setup, teardown),
            cmocka_unit_test(gsis_are_allocated_lowest_first_and_routed_in_one_table),
            cmocka_unit_test(ioeventfd_requests_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
