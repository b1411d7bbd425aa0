/* Unit tests of the exit switch: a hand-made struct kvm_run (with room for
 * port I/O data after it, as in the real mmap'ed page) is dispatched to a
 * port I/O bus with one recording device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "exit.h"

struct rec {
    uint8_t written[16];
    unsigned n;
};

static uint32_t rec_read(void *dev, uint16_t offset, unsigned size)
{
    (void)dev;
    (void)size;
    return 0x40u + offset;
}

static enum io_effect rec_write(void *dev, uint16_t offset, unsigned size, uint32_t v)
{
    struct rec *r = dev;

    (void)size;
    if (offset == 1)
        return IO_POWEROFF;
    if (r->n < sizeof(r->written))
        r->written[r->n++] = (uint8_t)v;
    return IO_OK;
}

static const struct io_dev_ops rec_ops = {.read = rec_read, .write = rec_write};

static union {
    struct kvm_run run;
    uint8_t page[4096];
} page;

static struct io_bus bus;
static struct rec rec;
static struct exit_counters counters;

static int setup(void **state)
{
    (void)state;
    memset(&page, 0, sizeof(page));
    memset(&rec, 0, sizeof(rec));
    memset(&counters, 0, sizeof(counters));
    io_bus_init(&bus);
    assert_int_equal(io_bus_register(&bus, 0x500, 2, &rec_ops, &rec), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    io_bus_destroy(&bus);
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
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_CONTINUE);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.written[0], 'x');

    /* rep outsb: three bytes in one exit */
    io_exit(KVM_EXIT_IO_OUT, 0x500, 1, 3);
    memcpy(page.page + 1024, "abc", 3);
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_CONTINUE);
    assert_memory_equal(rec.written + 1, "abc", 3);

    io_exit(KVM_EXIT_IO_IN, 0x501, 1, 1);
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_CONTINUE);
    assert_int_equal(page.page[1024], 0x41);

    /* unclaimed port: reads see all ones and are counted */
    io_exit(KVM_EXIT_IO_IN, 0x80, 2, 1);
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_CONTINUE);
    assert_int_equal(page.page[1024], 0xff);
    assert_int_equal(page.page[1025], 0xff);
    assert_int_equal(counters.n[EXIT_KIND_IO], 4);
    assert_int_equal(counters.n[EXIT_KIND_IO_UNCLAIMED], 1);
}

static void device_effects_become_vm_actions(void **state)
{
    (void)state;
    io_exit(KVM_EXIT_IO_OUT, 0x501, 1, 1);
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_POWEROFF);
    io_exit(KVM_EXIT_IO_OUT, 0x500, 3, 1); /* no such access size */
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_FATAL);
}

static void other_exits(void **state)
{
    (void)state;
    page.run.exit_reason = KVM_EXIT_SHUTDOWN;
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_TRIPLE_FAULT);
    page.run.exit_reason = KVM_EXIT_INTR;
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_INTERRUPTED);
    page.run.exit_reason = KVM_EXIT_FAIL_ENTRY;
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_FATAL);
    page.run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_FATAL);
    page.run.exit_reason = KVM_EXIT_SYSTEM_EVENT;
    page.run.system_event.type = KVM_SYSTEM_EVENT_RESET;
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_RESET);
    page.run.exit_reason = KVM_EXIT_HYPERCALL; /* not one evr-vmm handles */
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_FATAL);
    page.run.exit_reason = KVM_EXIT_MMIO;
    page.run.mmio.is_write = 0;
    page.run.mmio.len = 4;
    assert_int_equal(exit_dispatch(&page.run, &bus, &counters), EXIT_CONTINUE);
    assert_int_equal(page.run.mmio.data[0], 0xff);
    assert_int_equal(counters.n[EXIT_KIND_SHUTDOWN], 1);
    assert_int_equal(counters.n[EXIT_KIND_INTR], 1);
    assert_int_equal(counters.n[EXIT_KIND_FAIL_ENTRY], 1);
    assert_int_equal(counters.n[EXIT_KIND_INTERNAL_ERROR], 1);
    assert_int_equal(counters.n[EXIT_KIND_SYSTEM_EVENT], 1);
    assert_int_equal(counters.n[EXIT_KIND_OTHER], 1);
    assert_int_equal(counters.n[EXIT_KIND_MMIO], 1);
    assert_string_equal(exit_kind_name(EXIT_KIND_IO_UNCLAIMED), "io_unclaimed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(port_io_reaches_the_device, setup, teardown),
            cmocka_unit_test_setup_teardown(device_effects_become_vm_actions, setup, teardown),
            cmocka_unit_test_setup_teardown(other_exits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
