/* Unit tests of the emulated devices through the port I/O bus, as a guest
 * driver reaches them: the 16550A UART, PCI configuration mechanism #1 and
 * the host bridge, the ACPI PM registers and the i8042 reset line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "acpi.h"
#include "io_bus.h"
#include "layout.h"
#include "pci.h"
#include "power.h"
#include "uart.h"

struct sink {
    char out[64];
    unsigned n;
    int level;
    unsigned edges; /* 0 -> 1 transitions of the IRQ line */
};

static void tx(void *ctx, uint8_t b)
{
    struct sink *s = ctx;

    if (s->n < sizeof(s->out) - 1)
        s->out[s->n++] = (char)b;
}

static void irq(void *ctx, int level)
{
    struct sink *s = ctx;

    if (level && !s->level)
        s->edges++;
    s->level = level;
}

struct machine {
    struct io_bus bus;
    struct uart uart;
    struct pci_bus pci;
    struct acpi_pm pm;
    struct sink sink;
};

static int setup(void **state)
{
    static struct machine m;

    memset(&m, 0, sizeof(m));
    io_bus_init(&m.bus);
    uart_init(&m.uart, tx, irq, &m.sink);
    pci_bus_init(&m.pci);
    assert_int_equal(io_bus_register(&m.bus, PORT_COM1, 8, &uart_ops, &m.uart), 0);
    assert_int_equal(io_bus_register(&m.bus, PORT_PCI_CONF_ADDR, 4, &pci_conf_addr_ops, &m.pci), 0);
    assert_int_equal(io_bus_register(&m.bus, PORT_PCI_CONF_DATA, 4, &pci_conf_data_ops, &m.pci), 0);
    assert_int_equal(
            io_bus_register(&m.bus, PORT_ACPI_PM_BASE, PORT_ACPI_PM_LEN, &acpi_pm_ops, &m.pm), 0);
    assert_int_equal(io_bus_register(&m.bus, PORT_I8042_CMD, 1, &i8042_cmd_ops, NULL), 0);
    *state = &m;
    return 0;
}

static int teardown(void **state)
{
    struct machine *m = *state;

    io_bus_destroy(&m->bus);
    return 0;
}

static uint32_t in(struct machine *m, uint16_t port, unsigned size)
{
    int handled;

    return io_bus_read(&m->bus, port, size, &handled);
}

static enum io_effect out(struct machine *m, uint16_t port, unsigned size, uint32_t v)
{
    int handled;

    return io_bus_write(&m->bus, port, size, v, &handled);
}

static void uart_passes_the_linux_8250_probe(void **state)
{
    struct machine *m = *state;

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
    struct machine *m = *state;

    out(m, PORT_COM1, 1, 'h');
    out(m, PORT_COM1, 1, 'i');
    assert_string_equal(m->sink.out, "hi");
    assert_int_equal(m->sink.level, 0); /* THRI not enabled */
    out(m, PORT_COM1 + 1, 1, 0x02);     /* enable THRI: THR is empty, so it fires */
    assert_int_equal(m->sink.level, 1);
    assert_int_equal(m->sink.edges, 1);
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0x0f, 0x02); /* IIR: THR empty */
    assert_int_equal(m->sink.level, 0);                     /* reading IIR acknowledged it */
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0x0f, 0x01); /* no interrupt */
    out(m, PORT_COM1, 1, '!');                              /* next byte: fires again */
    assert_int_equal(m->sink.edges, 2);
    out(m, PORT_COM1 + 1, 1, 0x00);
    assert_int_equal(m->sink.level, 0);
}

static void uart_receives_into_its_fifo(void **state)
{
    struct machine *m = *state;
    uint8_t data[20];

    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)('a' + i);
    out(m, PORT_COM1 + 1, 1, 0x01); /* receive interrupt */
    assert_int_equal(uart_receive(&m->uart, data, sizeof(data)), UART_FIFO_LEN);
    assert_int_equal(m->sink.level, 1);
    assert_int_equal(in(m, PORT_COM1 + 2, 1) & 0x0f, 0x04);
    assert_int_equal(in(m, PORT_COM1 + 5, 1) & 0x01, 0x01);
    for (unsigned i = 0; i < UART_FIFO_LEN; i++)
        assert_int_equal(in(m, PORT_COM1, 1), 'a' + i);
    assert_int_equal(in(m, PORT_COM1 + 5, 1) & 0x01, 0);
    assert_int_equal(m->sink.level, 0);
}

static uint32_t conf1(unsigned slot, unsigned reg)
{
    return PCI_CONF1_ENABLE | slot << 11 | reg;
}

static void pci_host_bridge_through_mechanism_1(void **state)
{
    struct machine *m = *state;

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
    struct machine *m = *state;
    struct pci_function fn;

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
    memset(&fn, 0, sizeof(fn));
    fn.cfg[0] = 0xf4;
    fn.cfg[1] = 0x1a;
    assert_int_equal(pci_add_function(&m->pci, 3, &fn), 0);
    assert_int_equal(pci_add_function(&m->pci, 3, &fn), -1);
    assert_int_equal(pci_add_function(&m->pci, 0, &fn), -1);
    assert_int_equal(pci_add_function(&m->pci, 32, &fn), -1);
    out(m, PORT_PCI_CONF_ADDR, 4, conf1(3, 0));
    assert_int_equal(in(m, PORT_PCI_CONF_DATA, 2), 0x1af4);
}

static void acpi_pm1_s5_powers_off_and_reset_register_resets(void **state)
{
    struct machine *m = *state;

    assert_int_equal(in(m, PORT_ACPI_PM1_CNT, 2) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
    assert_int_equal(in(m, PORT_ACPI_PM1_EVT, 2), 0);
    out(m, PORT_ACPI_PM1_EVT + 2, 2, 0x0120);
    assert_int_equal(in(m, PORT_ACPI_PM1_EVT + 2, 2), 0x0120);
    /* Linux writes SLP_TYP first, then SLP_TYP | SLP_EN */
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, ACPI_S5_TYPE << 10), IO_OK);
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, ACPI_S5_TYPE << 10 | ACPI_PM1_SLP_EN),
                     IO_POWEROFF);
    /* another sleep type is not power-off */
    m->pm.pm1_cnt = 0;
    assert_int_equal(out(m, PORT_ACPI_PM1_CNT, 2, 3 << 10 | ACPI_PM1_SLP_EN), IO_OK);
    assert_int_equal(out(m, PORT_ACPI_RESET, 1, 0x02), IO_OK);
    assert_int_equal(out(m, PORT_ACPI_RESET, 1, ACPI_RESET_VALUE), IO_RESET);
    assert_int_equal(out(m, PORT_I8042_CMD, 1, 0xd1), IO_OK);
    assert_int_equal(out(m, PORT_I8042_CMD, 1, I8042_CMD_RESET), IO_RESET);
    assert_int_equal(in(m, PORT_I8042_CMD, 1), 0); /* controller idle */
}

static void io_bus_refuses_overlaps_and_leaves_holes_unclaimed(void **state)
{
    struct machine *m = *state;
    int handled = 1;

    assert_int_equal(io_bus_register(&m->bus, PORT_COM1 + 4, 8, &uart_ops, &m->uart), -1);
    assert_int_equal(io_bus_register(&m->bus, 0xfff8, 9, &uart_ops, &m->uart), -1);
    assert_int_equal(io_bus_read(&m->bus, 0x2f8, 1, &handled), 0xff);
    assert_false(handled);
    assert_int_equal(io_bus_read(&m->bus, 0x2f8, 2, &handled), 0xffff);
    assert_int_equal(io_bus_read(&m->bus, 0x2f8, 4, &handled), 0xffffffff);
    assert_int_equal(io_bus_write(&m->bus, 0x2f8, 1, 0, &handled), IO_OK);
    assert_false(handled);
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
            cmocka_unit_test_setup_teardown(io_bus_refuses_overlaps_and_leaves_holes_unclaimed,
                                            setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
