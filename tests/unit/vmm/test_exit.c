/* Unit tests of the exit switch: a hand-made struct kvm_run (with room for
 * port I/O data after it, as in the real mmap'ed page) is dispatched to a
 * port I/O bus and an MMIO bus with one recording device on each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "exit.h"

struct rec {
    struct bus_device dev;
    uint8_t written[16];
    unsigned n;
    uint64_t last_value;
    unsigned last_size;
};

static uint64_t rec_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    (void)dev;
    (void)region;
    return size == 8 ? 0x1122334455667788ull : 0x40u + offset;
}

static enum bus_effect rec_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                 unsigned size, uint64_t v)
{
    struct rec *r = (struct rec *)dev;

    (void)region;
    r->last_value = v;
    r->last_size = size;
    if (offset == 1)
        return BUS_POWEROFF;
    if (r->n < sizeof(r->written))
        r->written[r->n++] = (uint8_t)v;
    return BUS_OK;
}

static const struct bus_ops rec_ops = {.read = rec_read, .write = rec_write};

static union {
    struct kvm_run run;
    uint8_t page[4096];
} page;

static struct bus bus, mmio;
static struct rec rec;
static struct exit_counters counters;

static int setup(void **state)
{
    (void)state;
    memset(&page, 0, sizeof(page));
    memset(&rec, 0, sizeof(rec));
    memset(&counters, 0, sizeof(counters));
    bus_device_init(&rec.dev, "rec", &rec_ops);
    bus_init(&bus, "pio", 0x10000);
    bus_init(&mmio, "mmio", 0);
    assert_int_equal(bus_claim(&bus, 0x500, 2, &rec.dev, 0), 0);
    assert_int_equal(bus_claim(&mmio, 0xd0000000, 0x1000, &rec.dev, 0), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bus_destroy(&bus);
    bus_destroy(&mmio);
    bus_device_destroy(&rec.dev);
    return 0;
}

static void io_exit(uint8_t dir, uint16_t port, uint8_t size, uint32_t count)
{
    page.run.exit_reason = KVM_EXIT_IO;
    page.run.io.direction = dir;
    page.run.io.port = port;
    page.run.io.size = size;
    page.run.io.count = count;
    page.run.io.data_offset = 1024;
}

static void port_io_reaches_the_device(void **state)
{
    (void)state;
    io_exit(KVM_EXIT_IO_OUT, 0x500, 1, 1);
    page.page[1024] = 'x';
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.written[0], 'x');

    /* rep outsb: three bytes in one exit */
    io_exit(KVM_EXIT_IO_OUT, 0x500, 1, 3);
    memcpy(page.page + 1024, "abc", 3);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_memory_equal(rec.written + 1, "abc", 3);

    io_exit(KVM_EXIT_IO_IN, 0x501, 1, 1);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_int_equal(page.page[1024], 0x41);

    /* unclaimed port: reads see all ones and are counted */
    io_exit(KVM_EXIT_IO_IN, 0x80, 2, 1);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_int_equal(page.page[1024], 0xff);
    assert_int_equal(page.page[1025], 0xff);
    assert_int_equal(counters.n[EXIT_KIND_IO], 4);
    assert_int_equal(counters.n[EXIT_KIND_IO_UNCLAIMED], 1);
}

static void device_effects_become_vm_actions(void **state)
{
    (void)state;
    io_exit(KVM_EXIT_IO_OUT, 0x501, 1, 1);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_POWEROFF);
    io_exit(KVM_EXIT_IO_OUT, 0x500, 3, 1); /* no such access size */
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_FATAL);
}

static void other_exits(void **state)
{
    (void)state;
    page.run.exit_reason = KVM_EXIT_SHUTDOWN;
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_TRIPLE_FAULT);
    page.run.exit_reason = KVM_EXIT_INTR;
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_INTERRUPTED);
    page.run.exit_reason = KVM_EXIT_FAIL_ENTRY;
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_FATAL);
    page.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_FATAL);
    page.run.exit_reason = KVM_EXIT_SYSTEM_EVENT;
    page.run.system_event.type = KVM_SYSTEM_EVENT_RESET;
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_RESET);
    page.run.exit_reason = KVM_EXIT_HYPERCALL; /* not one evr-vmm handles */
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_FATAL);
    assert_int_equal(counters.n[EXIT_KIND_SHUTDOWN], 1);
    assert_int_equal(counters.n[EXIT_KIND_INTR], 1);
    assert_int_equal(counters.n[EXIT_KIND_FAIL_ENTRY], 1);
    assert_int_equal(counters.n[EXIT_KIND_INTERNAL_ERROR], 1);
    assert_int_equal(counters.n[EXIT_KIND_SYSTEM_EVENT], 1);
    assert_int_equal(counters.n[EXIT_KIND_OTHER], 1);
    assert_string_equal(exit_kind_name(EXIT_KIND_IO_UNCLAIMED), "io_unclaimed");
}

static void mmio_exit(uint64_t addr, uint32_t len, bool write)
{
    page.run.exit_reason = KVM_EXIT_MMIO;
    page.run.mmio.phys_addr = addr;
    page.run.mmio.len = len;
    page.run.mmio.is_write = write;
}

static void mmio_reaches_the_device_on_the_mmio_bus(void **state)
{
    uint64_t v;

    (void)state;
    mmio_exit(0xd0000004, 4, false);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_int_equal(page.run.mmio.data[0], 0x44);
    mmio_exit(0xd0000008, 8, false);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    memcpy(&v, page.run.mmio.data, 8);
    assert_true(v == 0x1122334455667788ull);
    mmio_exit(0xd0000010, 8, true);
    v = 0x0102030405060708ull;
    memcpy(page.run.mmio.data, &v, 8);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_true(rec.last_value == 0x0102030405060708ull);
    assert_int_equal(rec.last_size, 8);
    /* a 3-byte piece (an access split across a page) goes byte by byte */
    mmio_exit(0xd0000020, 3, true);
    memcpy(page.run.mmio.data, "xyz", 3);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_int_equal(rec.last_size, 1);
    assert_memory_equal(rec.written + rec.n - 3, "xyz", 3);
    /* the port bus does not see MMIO and the other way round */
    mmio_exit(0x500, 1, false);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_CONTINUE);
    assert_int_equal(page.run.mmio.data[0], 0xff);
    assert_int_equal(counters.n[EXIT_KIND_MMIO], 5);
    assert_int_equal(counters.n[EXIT_KIND_MMIO_UNCLAIMED], 1);
    /* a write at offset 1 of the device powers off, as through port I/O */
    mmio_exit(0xd0000001, 1, true);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_POWEROFF);
    mmio_exit(0xd0000000, 0, false);
    assert_int_equal(exit_dispatch(&page.run, &bus, &mmio, &counters), EXIT_FATAL);
    assert_string_equal(exit_kind_name(EXIT_KIND_MMIO_UNCLAIMED), "mmio_unclaimed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(port_io_reaches_the_device, setup, teardown),
            cmocka_unit_test_setup_teardown(device_effects_become_vm_actions, setup, teardown),
            cmocka_unit_test_setup_teardown(other_exits, setup, teardown),
            cmocka_unit_test_setup_teardown(mmio_reaches_the_device_on_the_mmio_bus, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
