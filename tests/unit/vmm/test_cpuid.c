/* Unit tests of the CPUID each vCPU gets beyond its topology (the topology
 * itself is tested in test_acpi.c beside the MADT it must agree with). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cpuid.h"

#define LEAF1_ECX_TSC_DEADLINE (1u << 24)
#define LEAF1_ECX_HYPERVISOR   (1u << 31)

/* KVM_GET_SUPPORTED_CPUID does not carry the TSC-deadline bit even though
 * KVM's LAPIC has the timer; every vCPU must get it, or Linux falls back to
 * calibrating the LAPIC timer against the PIT. */
static void every_vcpu_gets_the_tsc_deadline_timer(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= 4; n++) {
        for (unsigned i = 0; i < n; i++) {
            struct kvm_cpuid_entry2 e[2];

            memset(e, 0, sizeof(e));
            e[0].function = 1;
            e[0].ecx = 0x00000001; /* SSE3, as KVM would report it */
            e[1].function = 0xd;
            e[1].ecx = 0x1234;
            cpuid_set_topology(e, 2, i, n);
            assert_true(e[0].ecx & LEAF1_ECX_TSC_DEADLINE);
            assert_true(e[0].ecx & LEAF1_ECX_HYPERVISOR);
            assert_true(e[0].ecx & 1u);         /* what KVM offered stays */
            assert_int_equal(e[1].ecx, 0x1234); /* other leaves untouched */
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(every_vcpu_gets_the_tsc_deadline_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
