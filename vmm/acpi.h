/* The ACPI tables evr-vmm gives a guest: RSDP, XSDT, FADT (+FACS), MADT
 * and a DSDT. What they are for:
 *   - SMP: the MADT lists one enabled local APIC per vCPU and the IOAPIC;
 *     ISA IRQs map 1:1 to IOAPIC pins, as KVM's default routing does, except
 *     that the SCI (IRQ 9) is declared level, active high;
 *   - clean power-off: the DSDT's \_S5 and the PM1a control register
 *     (PORT_ACPI_PM1_CNT): SLP_EN with SLP_TYP 5 powers off. This is the
 *     classic (not hardware-reduced) model on purpose: Linux drops the 8259
 *     and the ISA IRQs on hardware-reduced platforms, and the UART needs IRQ 4;
 *   - reboot: the FADT reset register (PORT_ACPI_RESET), next to the i8042
 *     reset line Linux also tries;
 *   - PCI: the DSDT's \_SB.PCI0 (PNP0A03) with bus 0, all I/O ports but the
 *     configuration ports, and the 32-bit MMIO window as its resources; Linux
 *     reaches its configuration space with mechanism #1 (no MCFG);
 *   - PCI hotplug (pci_hotplug.h): a device per hotpluggable slot with _ADR,
 *     _SUN, _STA and _EJ0 over the hotplug registers, a method PCNT that
 *     notifies the slots the registers name, run by \_GPE._E01; the FADT's
 *     GPE0 block (PORT_ACPI_GPE0) raises the SCI. Linux's acpiphp drives it. */
#ifndef EVR_VMM_ACPI_H
#define EVR_VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS       254 /* MADT local APIC entries carry 8-bit APIC ids; 0xff is broadcast */
#define ACPI_S5_TYPE        5
#define ACPI_PM1_SLP_TYP(v) (((v) >> 10) & 7)
#define ACPI_PM1_SLP_EN     (1u << 13)
#define ACPI_PM1_SCI_EN     (1u << 0)

#define ACPI_FADT_LEN           276 /* revision 6 */
#define ACPI_FACS_LEN           64
#define ACPI_FADT_WBINVD        (1u << 0)
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_PWR_BUTTON    (1u << 4) /* set: no fixed power button */
#define ACPI_FADT_SLP_BUTTON    (1u << 5) /* set: no fixed sleep button */
#define ACPI_BOOT_NO_VGA        (1u << 2)
#define ACPI_BOOT_NO_CMOS       (1u << 5)

/* Builds all tables into buf, which the guest will see at base_gpa. Returns
 * the number of bytes used, or 0 if ncpus is out of range or buf too small.
 * The RSDP is at the start of buf. hotplug_slots (bit n: slot n of bus 0,
 * pci_hotplug_slots) are the slots the DSDT describes for ACPI PCI
 * hotplug; 0 leaves hotplug out (the FADT's GPE0 block is there anyway). */
size_t acpi_build(uint8_t *buf, size_t len, uint64_t base_gpa, unsigned ncpus,
                  uint32_t hotplug_slots);

#endif
