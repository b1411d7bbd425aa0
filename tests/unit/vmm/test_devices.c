/* Unit tests of the emulated devices through the port I/O bus, as a guest
 * driver reaches them, on the machine the device table builds (device.h):
 * the 16550A UART, PCI configuration mechanism #1 and the host bridge, the
 * ACPI PM registers and the i8042 reset line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "acpi.h"
#include "config.h"
#include "device.h"
#include "fake_kvm.h"
#include "layout.h"
#include "pci.h"
#include "pci_testdev.h"
#include "power.h"
#include "uart.h"

struct sink {
    char out[64];
    unsigned n;
};

static void tx(void *ctx, uint8_t b)
{
    struct sink *s = ctx;

    if (s->n < sizeof(s->out) - 1)
        s->out[s->n++] = (char)b;
}

/* The machine vm_create builds, from the same device table, on a fake KVM. */
struct test_machine {
    struct vmm_config cfg;
    struct machine m;
    struct sink sink;
};

static int setup(void **state)
{
    static struct test_machine t;

    memset(&t, 0, sizeof(t));
    assert_int_equal(fake_kvm_machine(&t.m, &t.cfg, false, tx, &t.sink), 0);
    *state = &t;
    return 0;
}

static int teardown(void **state)
{
    struct test_machine *t = *state;

    machine_destroy(&t->m);
    return 0;
}

static uint32_t in(struct test_machine *t, uint16_t port, unsigned size)
{
    bool handled;

    return (uint32_t)bus_read(&t->m.pio, port, size, &handled);
}

static enum bus_effect out(struct test_machine *t, uint16_t port, unsigned size, uint32_t v)
{
    bool handled;

    return bus_write(&t->m.pio, port, size, v, &handled);
}

static void machine_walks_the_device_table(void **state)
{
    struct test_machine *t = *state;
    unsigned n = 0;

    for (unsigned i = 0; device_types[i]; i++)
        n += !device_types[i]->wanted || device_types[i]->wanted(&t->cfg);
    assert_int_equal(t->m.ndev, n);
    assert_non_null(machine_device(&t->m, &uart_device));
    assert_non_null(machine_device(&t->m, &pci_host_device));
    assert_non_null(machine_device(&t->m, &acpi_pm_device));
    assert_non_null(machine_device(&t->m, &i8042_device));
    assert_null(machine_device(&t->m, &pci_testdev_device)); /* not asked for */
    assert_ptr_equal(t->m.pci, machine_device(&t->m, &pci_host_device));
}

static void uart_passes_the_linux_8250_probe(void **state)
{
    struct test_machine *m = *state;

    /* scratch register */
    out(m, PORT_COM1 + 7, 1, 0xa5);
    assert_int_equal(in(m, PORT_COM1 + 7, 1), 0xa5);
    /* IER keeps its low 4 bits */
    out(m, PORT_COM1 + 1, 1, 0x00);
    assert_int_equal(in(m, PORT_COM1 + 1, 1) & 0x0f, 0);
    out(m, PORT_COM1 + 1, 1, 0xff);
    assert_int_equal(in(m, PORT_COM1 + 1, 1), 0x0f);
    out(m, PORT_COM1 + 1, 1, 0x00);
    /* loopback: MCR outputs show up as MSR inputs (0x1a -> CTS|DCD = 0x90) */
    out(m, PORT_COM1 + 4, 1, 0x1a);
    assert_int_equal(in(m, PORT_COM1 + 6, 1) & 0xf0, 0x90);
    out(m, PORT_COM1 + 4, 1, 0x00);
    /* FIFO enabled: IIR bits 7:6 set, a 16550A */
    out(m, PORT_COM1 + 2, 1, 0x01);
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0xc0, 0xc0);
    /* divisor latch behind DLAB */
    out(m, PORT_COM1 + 3, 1, 0x83);
    out(m, PORT_COM1 + 0, 1, 0x01);
    out(m, PORT_COM1 + 1, 1, 0x00);
    assert_int_equal(in(m, PORT_COM1 + 0, 1), 0x01);
    out(m, PORT_COM1 + 3, 1, 0x03);
    assert_int_equal(in(m, PORT_COM1 + 5, 1) & 0x60, 0x60); /* THRE | TEMT */
    assert_int_equal(m->sink.n, 0);                         /* nothing transmitted */
}

static void uart_transmits_and_raises_thr_empty(void **state)
{
    struct test_machine *m = *state;

    out(m, PORT_COM1, 1, 'h');
    out(m, PORT_COM1, 1, 'i');
    assert_string_equal(m->sink.out, "hi");
    assert_int_equal(fake_kvm.irq_level[PORT_COM1_IRQ], 0); /* THRI not enabled */
    out(m, PORT_COM1 + 1, 1, 0x02); /* enable THRI: THR is empty, so it fires */
    assert_int_equal(fake_kvm.irq_level[PORT_COM1_IRQ], 1);
    assert_int_equal(fake_kvm.irq_edges[PORT_COM1_IRQ], 1);
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0x0f, 0x02); /* IIR: THR empty */
    assert_int_equal(fake_kvm.irq_level[PORT_COM1_IRQ], 0); /* reading IIR acknowledged it */
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0x0f, 0x01); /* no interrupt */
    out(m, PORT_COM1, 1, '!');                              /* next byte: fires again */
    assert_int_equal(fake_kvm.irq_edges[PORT_COM1_IRQ], 2);
    out(m, PORT_COM1 + 1, 1, 0x00);
    assert_int_equal(fake_kvm.irq_level[PORT_COM1_IRQ], 0);
}

static void uart_receives_into_its_fifo(void **state)
{
    struct test_machine *m = *state;
    uint8_t data[20];

    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)('a' + i);
    out(m, PORT_COM1 + 1, 1, 0x01); /* receive interrupt */
    assert_int_equal(uart_receive(&m->m, data, sizeof(data)), UART_FIFO_LEN);
    assert_int_equal(fake_kvm.irq_level[PORT_COM1_IRQ], 1);
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0x0f, 0x04);
    assert_int_equal(in(m, PORT_COM1 + 5, 1) & 0x01, 0x01);
    for (unsigned i = 0; i < UART_FIFO_LEN; i++)
        assert_int_equal(in(m, PORT_COM1, 1), 'a' + i);
    assert_int_equal(in(m, PORT_COM1 + 5, 1) & 0x01, 0);
    assert_int_equal(fake_kvm.irq_level[PORT_COM1_IRQ], 0);
}

static uint32_t conf1(unsigned slot, unsigned reg)
{
    return PCI_CONF1_ENABLE | slot << 11 | reg;
}

static void pci_host_bridge_through_mechanism_1(void **state)
{
    struct test_machine *m = *state;

    /* Linux's pci_check_type1: the address register reads back */
    out(m, PORT_PCI_CONF_ADDR, 4, 0x80000000);
    assert_int_equal(in(m, PORT_PCI_CONF_ADDR, 4), 0x80000000);
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(0, 0x00));
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA + 2, 2), PCI_HOST_DEVICE);
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(0, 0x08));
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4) >> 8, PCI_CLASS_HOST_BRIDGE);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA + 3, 1), 0x06);
    /* vendor id is read-only; command register takes only its enable bits */
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(0, 0x00));
    out(m, PORT_PCI_CONF_DATA, 2, 0x1234);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 2), PCI_HOST_VENDOR);
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(0, 0x04));
    out(m, PORT_PCI_CONF_DATA, 2, 0xffff);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 2), 0x0007);
    /* BARs of the bridge do not exist: writes of all ones read back zero */
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(0, 0x10));
    out(m, PORT_PCI_CONF_DATA, 4, 0xffffffff);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), 0);
}

static void pci_absent_functions_read_all_ones(void **state)
{
    struct test_machine *m = *state;
    struct pci_function fn, other;
    char err[128];

    out(m, PORT_PCI_CONF_ADDR, 4, conf1(3, 0));
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), 0xffffffff);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 2), 0xffff);
    out(m, PORT_PCI_CONF_ADDR, 4, PCI_CONF1_ENABLE | 1 << 8); /* 00:00.1 */
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), 0xffffffff);
    out(m, PORT_PCI_CONF_ADDR, 4, PCI_CONF1_ENABLE | 1 << 16); /* bus 1 */
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), 0xffffffff);
    out(m, PORT_PCI_CONF_ADDR, 4, 0x00000000); /* enable bit clear */
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), 0xffffffff);
    /* a later device's function appears in its slot; a taken slot is refused */
    pci_function_init(&fn, "test", 0x1af4, 0x1000, 0x020000, NULL, NULL);
    pci_function_init(&other, "other", 0x1af4, 0x1001, 0x020000, NULL, NULL);
    assert_int_equal(pci_host_add(m->m.pci, 3, &fn, err, sizeof(err)), 0);
    assert_int_equal(pci_host_add(m->m.pci, 3, &other, err, sizeof(err)), -1);
    assert_string_equal(err, "other: PCI slot 3 is taken");
    assert_int_equal(pci_host_add(m->m.pci, 0, &other, err, sizeof(err)), -1);
    assert_int_equal(pci_host_add(m->m.pci, 32, &other, err, sizeof(err)), -1);
    assert_string_equal(err, "other: PCI slot 32 is out of range (0..31)");
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(3, 0));
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 2), 0x1af4);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA + 2, 2), 0x1000);
    pci_host_remove(m->m.pci, &fn);
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 2), 0xffff);
    pci_function_destroy(&fn);
    pci_function_destroy(&other);
}

static void acpi_pm1_s5_powers_off_and_reset_register_resets(void **state)
{
    struct test_machine *m = *state;

    assert_int_equal(in(m, PORT_ACPI_PM1_CNT, 2) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
    assert_int_equal(in(m, PORT_ACPI_PM1_EVT, 2), 0);
    out(m, PORT_ACPI_PM1_EVT + 2, 2, 0x0120);
    assert_int_equal(in(m, PORT_ACPI_PM1_EVT + 2, 2), 0x0120);
    /* Linux writes SLP_TYP first, then SLP_TYP | SLP_EN */
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, ACPI_S5_TYPE << 10), BUS_OK);
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, ACPI_S5_TYPE << 10 | ACPI_PM1_SLP_EN),
                     BUS_POWEROFF);
    /* another sleep type is not power-off */
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, 0), BUS_OK);
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, 3 << 10 | ACPI_PM1_SLP_EN), BUS_OK);
    assert_int_equal(out(m, PORT_ACPI_RESET, 1, 0x02), BUS_OK);
    assert_int_equal(out(m, PORT_ACPI_RESET, 1, ACPI_RESET_VALUE), BUS_RESET);
    assert_int_equal(out(m, PORT_I8042_CMD, 1, 0xd1), BUS_OK);
    assert_int_equal(out(m, PORT_I8042_CMD, 1, I8042_CMD_RESET), BUS_RESET);
    assert_int_equal(in(m, PORT_I8042_CMD, 1), 0); /* controller idle */
}

static void devices_claim_their_ports_and_leave_holes_unclaimed(void **state)
{
    struct test_machine *m = *state;
    struct bus_device intruder;
    bool handled = true;

    bus_device_init(&intruder, "intruder", NULL);
    assert_int_equal(bus_claim(&m->m.pio, PORT_COM1 + 4, 8, &intruder, 0), -1);
    assert_int_equal(bus_claim(&m->m.pio, PORT_PCI_CONF_DATA + 3, 1, &intruder, 0), -1);
    assert_int_equal(bus_claim(&m->m.pio, 0xfff8, 9, &intruder, 0), -1); /* past 0xffff */
    assert_int_equal(bus_read(&m->m.pio, 0x2f8, 1, &handled), 0xff);
    assert_false(handled);
    assert_int_equal(bus_read(&m->m.pio, 0x2f8, 2, &handled), 0xffff);
    assert_int_equal(bus_read(&m->m.pio, 0x2f8, 4, &handled), 0xffffffff);
    assert_int_equal(bus_write(&m->m.pio, 0x2f8, 1, 0, &handled), BUS_OK);
    assert_false(handled);
    bus_device_destroy(&intruder);
}

static void pci_test_function_is_realized_when_configured(void **state)
{
    struct test_machine *m = *state;
    struct pci_function *fn;

    machine_destroy(&m->m);
    assert_int_equal(fake_kvm_machine(&m->m, &m->cfg, true, tx, &m->sink), 0);
    fn = pci_testdev_function(&m->m);
    assert_non_null(fn);
    assert_int_equal(fn->slot, 1); /* the lowest free slot */
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(1, 0));
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 4), PCI_TESTDEV_DEVICE << 16 | PCI_TESTDEV_VENDOR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(uart_passes_the_linux_8250_probe, setup, teardown),
            cmocka_unit_test_setup_teardown(uart_transmits_and_raises_thr_empty, setup, teardown),
            cmocka_unit_test_setup_teardown(uart_receives_into_its_fifo, setup, teardown),
            cmocka_unit_test_setup_teardown(pci_host_bridge_through_mechanism_1, setup, teardown),
            cmocka_unit_test_setup_teardown(pci_absent_functions_read_all_ones, setup, teardown),
            cmocka_unit_test_setup_teardown(acpi_pm1_s5_powers_off_and_reset_register_resets, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(devices_claim_their_ports_and_leave_holes_unclaimed,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(pci_test_function_is_realized_when_configured, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(machine_walks_the_device_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
