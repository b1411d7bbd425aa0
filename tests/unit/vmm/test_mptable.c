/* Unit tests of the MP table: found as Linux finds it (scanning for "_MP_"
 * on a 16-byte boundary), checksums, and every entry checked field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "mptable.h"

#define BASE 0xf0000ull
static uint8_t buf[0x10000];

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;

    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *find_floating_pointer(void)
{
    for (size_t off = 0; off + 16 <= sizeof(buf); off += 16)
        if (!memcmp(buf + off, "_MP_", 4) && sum(buf + off, 16) == 0)
            return buf + off;
    fail_msg("no _MP_ floating pointer with a zero checksum in the buffer");
    abort(); /* not reached: fail_msg leaves the test; tells the optimiser so */
}

static void table_lists_cpus_buses_ioapic_and_irqs(void **state)
{
    const unsigned n = 3;
    const uint8_t *fp, *t, *e;
    unsigned cpus = 0, buses = 0, ioapics = 0, ioints = 0, lints = 0;
    uint8_t ioapic_id = 0xff;

    (void)state;
    memset(buf, 0, sizeof(buf));
    assert_true(mptable_build(buf, sizeof(buf), BASE, n) > 0);
    fp = find_floating_pointer();
    assert_non_null(fp);
    assert_int_equal(fp[8], 1);
    assert_int_equal(fp[9], 4);
    assert_int_equal(fp[11], 0); /* a table follows; no default configuration */
    t = buf + (rd32(fp + 4) - BASE);
    assert_memory_equal(t, "PCMP", 4);
    assert_int_equal(sum(t, rd16(t + 4)), 0);
    assert_int_equal(t[6], 4);
    assert_int_equal(rd32(t + 36), GUEST_LAPIC_ADDR);
    e = t + 44;
    for (unsigned i = 0; i < rd16(t + 34); i++) {
        switch (e[0]) {
        case 0:
            assert_int_equal(e[1], cpus); /* APIC id */
            assert_int_equal(e[3], cpus == 0 ? 0x03 : 0x01);
            cpus++;
            e += 20;
            continue;
        case 1:
            assert_memory_equal(e + 2, buses == 0 ? "PCI   " : "ISA   ", 6);
            buses++;
            break;
        case 2:
            ioapic_id = e[1];
            assert_int_equal(e[3], 1);
            assert_int_equal(rd32(e + 4), GUEST_IOAPIC_ADDR);
            ioapics++;
            break;
        case 3:
            assert_int_equal(e[1], 0);         /* INT */
            assert_int_equal(e[4], 1);         /* ISA bus */
            assert_int_equal(e[5], ioints);    /* ISA IRQ n */
            assert_int_equal(e[6], ioapic_id); /* to the IOAPIC */
            assert_int_equal(e[7], ioints);    /* pin n */
            ioints++;
            break;
        case 4:
            assert_int_equal(e[1], lints == 0 ? 3 : 1); /* ExtINT, then NMI */
            assert_int_equal(e[6], 0xff);               /* every local APIC */
            assert_int_equal(e[7], lints);              /* LINT0, LINT1 */
            lints++;
            break;
        default:
            fail_msg("unexpected entry type %u", e[0]);
        }
        e += 8;
    }
    assert_ptr_equal(e, t + rd16(t + 4));
    assert_int_equal(cpus, n);
    assert_int_equal(buses, 2);
    assert_int_equal(ioapics, 1);
    assert_int_equal(ioints, MPTABLE_ISA_IRQS);
    assert_int_equal(lints, 2);
    assert_int_not_equal(ioapic_id, 0); /* no clash with the BSP's APIC id */
}

static void refuses_what_it_cannot_describe(void **state)
{
    (void)state;
    assert_int_equal(mptable_build(buf, sizeof(buf), BASE, 0), 0);
    assert_int_equal(mptable_build(buf, sizeof(buf), BASE, MPTABLE_MAX_CPUS + 1), 0);
    assert_true(mptable_build(buf, sizeof(buf), BASE, MPTABLE_MAX_CPUS) > 0);
    assert_int_equal(mptable_build(buf, 100, BASE, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(table_lists_cpus_buses_ioapic_and_irqs),
            cmocka_unit_test(refuses_what_it_cannot_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
