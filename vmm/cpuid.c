/* CPUID topology for N vCPUs; see cpuid.h. */
#include "cpuid.h"

#define CPUID_1_EDX_HTT          (1u << 28)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR   (1u << 31)
#define CPUID_EXT1_ECX_CMPLEG    (1u << 1)
#define TOPO_LEVEL_SMT           1
#define TOPO_LEVEL_CORE          2

unsigned cpuid_id_bits(unsigned n)
{
    unsigned b = 0;

    while ((1u << b) < n)
        b++;
    return b;
}

static void topology_leaf(struct kvm_cpuid_entry2 *e, unsigned index, unsigned n)
{
    e->edx = index; /* x2APIC id */
    switch (e->index) {
    case 0:
        e->eax = 0;
        e->ebx = 1;
        e->ecx = TOPO_LEVEL_SMT << 8 | 0;
        break;
    case 1:
        e->eax = cpuid_id_bits(n);
        e->ebx = n;
        e->ecx = TOPO_LEVEL_CORE << 8 | 1;
        break;
    default:
        e->eax = 0;
        e->ebx = 0;
        e->ecx = e->index; /* level type 0: no more levels */
        break;
    }
}

void cpuid_set_topology(struct kvm_cpuid_entry2 *entries, unsigned nent, unsigned index, unsigned n)
{
    for (unsigned i = 0; i < nent; i++) {
        struct kvm_cpuid_entry2 *e = &entries[i];

        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000ffffu) | (index & 0xff) << 24 | (n & 0xff) << 16;
            if (n > 1)
                e->edx |= CPUID_1_EDX_HTT;
            else
                e->edx &= ~CPUID_1_EDX_HTT;
            /* KVM's LAPIC has the TSC-deadline timer (KVM_CAP_TSC_DEADLINE_TIMER)
             * but KVM_GET_SUPPORTED_CPUID leaves the bit for the VMM to set.
             * Without it Linux calibrates the LAPIC timer against the PIT,
             * which under nested emulation fails ("APIC timer disabled due to
             * verification failure"): no high-resolution timers, and every
             * vCPU's tick is a broadcast IPI from the PIT on vCPU 0. */
            e->ecx |= CPUID_1_ECX_TSC_DEADLINE | CPUID_1_ECX_HYPERVISOR;
            break;
        case 4:
            /* Cores per package; each cache is private to one core. */
            if (e->eax & 0x1f)
                e->eax = (e->eax & 0x3fffu) | ((n - 1) & 0x3f) << 26;
            break;
        case 0xb:
        case 0x1f:
            topology_leaf(e, index, n);
            break;
        case 0x80000001:
            if (n > 1)
                e->ecx |= CPUID_EXT1_ECX_CMPLEG;
            else
                e->ecx &= ~CPUID_EXT1_ECX_CMPLEG;
            break;
        case 0x80000008:
            e->ecx = (e->ecx & ~0xf0ffu) | cpuid_id_bits(n) << 12 | ((n - 1) & 0xff);
            break;
        case 0x8000001e:
            e->eax = index;
            e->ebx = index & 0xff; /* core id; one thread per core */
            e->ecx = 0;            /* node 0, one node */
            break;
        default:
            break;
        }
    }
}
