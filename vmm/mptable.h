/* The Intel MultiProcessor Specification 1.4 table: a floating pointer and a
 * configuration table listing one enabled processor per vCPU (APIC id = vCPU
 * index, vCPU 0 the bootstrap processor), a PCI bus 0 and an ISA bus, the
 * IOAPIC, ISA IRQ n on IOAPIC pin n (KVM's default routing) and the LINT0
 * (ExtINT) / LINT1 (NMI) wiring. Linux reads it when ACPI is off
 * ("acpi=off"); with ACPI on, the MADT (acpi.h) wins. */
#ifndef EVR_VMM_MPTABLE_H
#define EVR_VMM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS 254
#define MPTABLE_ISA_IRQS 16

/* Builds the floating pointer followed by the table into buf, which the
 * guest sees at base_gpa (16-byte aligned, inside 0xf0000..0xfffff).
 * Returns the bytes used, or 0 if ncpus is out of range or buf too small. */
size_t mptable_build(uint8_t *buf, size_t len, uint64_t base_gpa, unsigned ncpus);

#endif
