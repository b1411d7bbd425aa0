/* Unit tests of the ACPI tables and the CPUID topology: tables built in a
 * buffer, found by following the pointers from the RSDP as a guest would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"
#include "cpuid.h"
#include "fw_bytes.h"
#include "layout.h"

#define BASE 0xe0000ull
static uint8_t buf[0x20000];

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static const uint8_t *at(uint64_t gpa)
{
    assert_true(gpa >= BASE && gpa < BASE + sizeof(buf));
    return buf + (gpa - BASE);
}

/* A table by signature from the XSDT, with its length and checksum checked. */
static const uint8_t *table(const char *sig)
{
    const uint8_t *xsdt = at(rd64(buf + 24));
    uint32_t n = (rd32(xsdt + 4) - 36) / 8;

    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *t = at(rd64(xsdt + 36 + 8 * i));
        if (!memcmp(t, sig, 4)) {
            assert_int_equal(fw_sum(t, rd32(t + 4)), 0);
            return t;
        }
    }
    return NULL;
}

static void rsdp_and_xsdt_are_valid(void **state)
{
    const uint8_t *xsdt;

    (void)state;
    assert_true(acpi_build(buf, sizeof(buf), BASE, 2, 0) > 0);
    assert_memory_equal(buf, "RSD PTR ", 8);
    assert_int_equal(fw_sum(buf, 20), 0);
    assert_int_equal(fw_sum(buf, 36), 0);
    assert_int_equal(buf[15], 2);
    assert_int_equal(rd32(buf + 20), 36);
    xsdt = at(rd64(buf + 24));
    assert_memory_equal(xsdt, "XSDT", 4);
    assert_int_equal(fw_sum(xsdt, rd32(xsdt + 4)), 0);
    assert_int_equal(rd32(xsdt + 4), 36 + 16);
}

static void madt_lists_each_vcpu_and_the_ioapic(void **state)
{
    const uint8_t *madt, *e, *end;
    unsigned lapics = 0, ioapics = 0, overrides = 0;

    (void)state;
    assert_true(acpi_build(buf, sizeof(buf), BASE, 5, 0) > 0);
    madt = table("APIC");
    assert_non_null(madt);
    assert_int_equal(rd32(madt + 36), GUEST_LAPIC_ADDR);
    end = madt + rd32(madt + 4);
    for (e = madt + 44; e < end; e += e[1]) {
        assert_true(e[1] >= 2);
        switch (e[0]) {
        case 0:
            assert_int_equal(e[2], lapics); /* processor UID */
            assert_int_equal(e[3], lapics); /* APIC id */
            assert_int_equal(rd32(e + 4) & 1, 1);
            lapics++;
            break;
        case 1:
            assert_int_equal(rd32(e + 4), GUEST_IOAPIC_ADDR);
            assert_int_equal(rd32(e + 8), 0);
            ioapics++;
            break;
        case 2:
            assert_int_equal(e[3], ACPI_SCI_IRQ);
            assert_int_equal(rd32(e + 4), ACPI_SCI_IRQ);
            assert_int_equal(e[8] | e[9] << 8, 0x000d);
            overrides++;
            break;
        default:
            fail_msg("unexpected MADT entry type %u", e[0]);
        }
    }
    assert_ptr_equal(e, end);
    assert_int_equal(lapics, 5);
    assert_int_equal(ioapics, 1);
    assert_int_equal(overrides, 1);
}

static void fadt_points_at_pm_registers_facs_and_dsdt(void **state)
{
    const uint8_t *fadt, *facs, *dsdt;

    (void)state;
    assert_true(acpi_build(buf, sizeof(buf), BASE, 1, 0) > 0);
    fadt = table("FACP");
    assert_non_null(fadt);
    assert_int_equal(rd32(fadt + 4), ACPI_FADT_LEN);
    assert_int_equal(fadt[46] | fadt[47] << 8, ACPI_SCI_IRQ);
    assert_int_equal(rd32(fadt + 48), 0); /* no SMI command port: always ACPI mode */
    assert_int_equal(rd32(fadt + 56), PORT_ACPI_PM1_EVT);
    assert_int_equal(rd32(fadt + 64), PORT_ACPI_PM1_CNT);
    assert_int_equal(fadt[88], 4);
    assert_int_equal(fadt[89], 2);
    assert_int_equal(rd32(fadt + 112) & ACPI_FADT_RESET_REG_SUP, ACPI_FADT_RESET_REG_SUP);
    assert_int_equal(rd32(fadt + 112) & (1u << 20), 0); /* not hardware-reduced */
    assert_int_equal(fadt[116], 1);                     /* reset register in I/O space */
    assert_int_equal(rd64(fadt + 120), PORT_ACPI_RESET);
    assert_int_equal(fadt[128], ACPI_RESET_VALUE);
    facs = at(rd64(fadt + 132));
    assert_int_equal((rd64(fadt + 132)) % 64, 0);
    assert_int_equal(rd32(fadt + 36), rd64(fadt + 132));
    assert_memory_equal(facs, "FACS", 4);
    assert_int_equal(rd32(facs + 4), 64);
    dsdt = at(rd64(fadt + 140));
    assert_memory_equal(dsdt, "DSDT", 4);
    assert_int_equal(fw_sum(dsdt, rd32(dsdt + 4)), 0);
}

static const uint8_t *find(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(hay + i, needle, n))
            return hay + i;
    return NULL;
}

static const uint8_t *must_find(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
    const uint8_t *p = find(hay, len, needle, n);
    if (!p) {
        fail_msg("%zu-byte pattern not found in %zu bytes", n, len);
        abort(); /* not reached: fail_msg leaves the test; tells the optimiser so */
    }
    return p;
}

static void dsdt_has_s5_and_the_pci_root_bridge(void **state)
{
    static const uint8_t s5[] = {0x08, '_',  'S',  '5',          '_',  0x12,        0x47,
                                 0x00, 0x02, 0x0a, ACPI_S5_TYPE, 0x0a, ACPI_S5_TYPE};
    static const uint8_t hid[] = {0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03};
    static const uint8_t mmio[] = {0x87, 23,   0,    0,    0x0c, 0x01, 0,    0,    0,
                                   0,    0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xbf, 0xfe};
    const uint8_t *fadt, *dsdt, *dev;
    uint32_t len;

    (void)state;
    assert_true(acpi_build(buf, sizeof(buf), BASE, 1, 0) > 0);
    fadt = table("FACP");
    dsdt = at(rd64(fadt + 140));
    len = rd32(dsdt + 4);
    /* _S5_ with a 2-byte PkgLength of 6 */
    assert_non_null(find(dsdt + 36, len - 36, s5, sizeof(s5)));
    dev = must_find(dsdt + 36, len - 36, "\x5b\x82", 2);
    assert_memory_equal(dev + 4, "PCI0", 4);
    /* the device package runs to the end of the DSDT (it is the last object) */
    assert_int_equal((size_t)((dev[2] & 0x0f) | dev[3] << 4), (size_t)(dsdt + len - (dev + 2)));
    assert_non_null(find(dev, len, hid, sizeof(hid)));
    assert_non_null(find(dev, len, mmio, sizeof(mmio)));
    assert_int_equal(dsdt[len - 2], 0x79); /* resource template end tag */
}

static void refuses_vcpu_counts_it_cannot_describe(void **state)
{
    (void)state;
    assert_int_equal(acpi_build(buf, sizeof(buf), BASE, 0, 0), 0);
    assert_int_equal(acpi_build(buf, sizeof(buf), BASE, ACPI_MAX_CPUS + 1, 0), 0);
    assert_true(acpi_build(buf, sizeof(buf), BASE, ACPI_MAX_CPUS, 0) > 0);
    assert_int_equal(acpi_build(buf, 64, BASE, 1, 0), 0); /* buffer too small */
}

static void cpuid_topology_for_n_vcpus(void **state)
{
    struct kvm_cpuid_entry2 e[6];

    (void)state;
    memset(e, 0, sizeof(e));
    e[0].function = 1;
    e[0].ebx = 0x00000800;
    e[1].function = 0xb;
    e[1].index = 0;
    e[2].function = 0xb;
    e[2].index = 1;
    e[3].function = 0xb;
    e[3].index = 2;
    e[4].function = 0x80000008;
    e[4].ecx = 0x0000f0ff;
    e[5].function = 0x8000001e;
    cpuid_set_topology(e, 6, 2, 3);
    assert_int_equal(e[0].ebx >> 24, 2);          /* initial APIC id */
    assert_int_equal((e[0].ebx >> 16) & 0xff, 3); /* logical processors */
    assert_int_equal(e[0].ebx & 0xffff, 0x0800);  /* CLFLUSH size kept */
    assert_true(e[0].edx & (1u << 28));           /* HTT */
    assert_true(e[0].ecx & (1u << 31));           /* hypervisor */
    assert_int_equal(e[1].ebx, 1);                /* SMT level: 1 thread */
    assert_int_equal(e[1].edx, 2);
    assert_int_equal(e[2].eax, 2); /* core level: 2 bits of APIC id */
    assert_int_equal(e[2].ebx, 3);
    assert_int_equal(e[2].ecx >> 8 & 0xff, 2);
    assert_int_equal(e[3].ecx, 2); /* end of levels */
    assert_int_equal(e[4].ecx & 0xff, 2);
    assert_int_equal(e[4].ecx >> 12 & 0xf, 2);
    assert_int_equal(e[5].eax, 2);
    assert_int_equal(cpuid_id_bits(1), 0);
    assert_int_equal(cpuid_id_bits(2), 1);
    assert_int_equal(cpuid_id_bits(5), 3);

    cpuid_set_topology(e, 6, 0, 1);
    assert_false(e[0].edx & (1u << 28));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(rsdp_and_xsdt_are_valid),
            cmocka_unit_test(madt_lists_each_vcpu_and_the_ioapic),
            cmocka_unit_test(fadt_points_at_pm_registers_facs_and_dsdt),
            cmocka_unit_test(dsdt_has_s5_and_the_pci_root_bridge),
            cmocka_unit_test(refuses_vcpu_counts_it_cannot_describe),
            cmocka_unit_test(cpuid_topology_for_n_vcpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
