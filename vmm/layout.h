/* The guest-physical memory map of an evr-vmm x86-64 guest: where the boot
 * structures go, where RAM is and where the MMIO hole is. Every address a
 * builder uses comes from here, so the e820 map and the builders agree. */
#ifndef EVR_VMM_LAYOUT_H
#define EVR_VMM_LAYOUT_H

#include <stdint.h>

#define GUEST_GDT_ADDR       0x500ull  /* boot GDT, 4 descriptors */
#define GUEST_ZERO_PAGE_ADDR 0x7000ull /* struct boot_params */
#define GUEST_BOOT_STACK_TOP 0x8ff0ull /* rsp at entry; the kernel sets its own at once */
#define GUEST_PML4_ADDR      0x9000ull /* identity page tables: PML4, PDPT, 4 PDs */
#define GUEST_PDPT_ADDR      0xa000ull
#define GUEST_PD_ADDR        0xb000ull /* 4 pages, 2 MiB entries, map 0..4 GiB */
#define GUEST_CMDLINE_ADDR   0x20000ull
#define GUEST_CMDLINE_MAX    0x10000ull  /* 64 KiB, more than any kernel accepts */
#define GUEST_EBDA_START     0x9fc00ull  /* conventional RAM ends here */
#define GUEST_ACPI_ADDR      0xe0000ull  /* RSDP and tables: Linux scans 0xe0000..0xfffff */
#define GUEST_MPTABLE_ADDR   0xf0000ull  /* MP floating pointer and table (BIOS ROM area) */
#define GUEST_ACPI_END       0x100000ull /* end of the reserved area of both */
#define GUEST_KERNEL_ADDR    0x100000ull /* protected-mode part of the bzImage */

/* RAM below 4 GiB stops at the MMIO hole; the rest of RAM starts at 4 GiB. The
 * hole holds the 32-bit PCI MMIO window, the IOAPIC, the LAPIC and KVM's
 * private TSS pages. */
#define GUEST_MMIO_HOLE_START 0xc0000000ull
#define GUEST_MMIO_HOLE_END   0x100000000ull
#define GUEST_PCI_MMIO_START  0xc0000000ull
#define GUEST_PCI_MMIO_END    0xfebfffffull
#define GUEST_PCI_IO_START    0xc000ull /* the ports BARs are placed at, to 0xffff */
#define GUEST_PCI_IO_END      0x10000ull
#define GUEST_IOAPIC_ADDR     0xfec00000ull
#define GUEST_LAPIC_ADDR      0xfee00000ull
#define GUEST_KVM_IDMAP_ADDR  0xfffbc000ull /* one page, Intel only */
#define GUEST_KVM_TSS_ADDR    0xfffbd000ull /* three pages */

/* Port I/O of the devices evr-vmm emulates. */
#define PORT_COM1          0x3f8
#define PORT_COM1_IRQ      4
#define PORT_I8042_DATA    0x60
#define PORT_I8042_CMD     0x64
#define PORT_PCI_CONF_ADDR 0xcf8
#define PORT_PCI_CONF_DATA 0xcfc
#define PORT_ACPI_PM_BASE  0x600 /* the ACPI PM device: PM1a event, PM1a control, reset */
#define PORT_ACPI_PM1_EVT  0x600 /* PM1a status (2 bytes) and enable (2 bytes) */
#define PORT_ACPI_PM1_CNT  0x604 /* PM1a control (2 bytes) */
#define PORT_ACPI_RESET    0x608 /* FADT reset register */
#define PORT_ACPI_PM_LEN   9
#define ACPI_RESET_VALUE   0x01
#define PORT_ACPI_GPE0     0x620 /* the FADT's GPE0 block (pci_hotplug.h) */
#define PORT_PCI_HOTPLUG   0x630 /* ACPI PCI hotplug registers (pci_hotplug.h) */
#define ACPI_SCI_IRQ       9

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

#endif
