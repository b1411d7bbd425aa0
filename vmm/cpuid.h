/* CPUID of a vCPU: what KVM_GET_SUPPORTED_CPUID offers, with the topology
 * rewritten so that vCPU i of n is APIC id i of one package of n cores
 * (one thread each), the hypervisor bit set and the TSC-deadline timer of
 * KVM's in-kernel LAPIC announced (KVM reports it as a capability, not in
 * the supported CPUID; evr-vmm requires KVM_CAP_TSC_DEADLINE_TIMER). */
#ifndef EVR_VMM_CPUID_H
#define EVR_VMM_CPUID_H

#include <linux/kvm.h>

/* entries[0..nent) are edited in place for vCPU index of n vCPUs. */
void cpuid_set_topology(struct kvm_cpuid_entry2 *entries, unsigned nent, unsigned index,
                        unsigned n);

/* Bits needed to number n things (0 for n <= 1). */
unsigned cpuid_id_bits(unsigned n);

#endif
