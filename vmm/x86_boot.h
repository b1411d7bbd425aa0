/* The CPU state the Linux 64-bit boot protocol expects at its entry point:
 * long mode with paging on an identity map, flat 64-bit code and data
 * segments at selectors 0x10 and 0x18, interrupts off, rsi = zero page. */
#ifndef EVR_VMM_X86_BOOT_H
#define EVR_VMM_X86_BOOT_H

#include <linux/kvm.h>
#include <stdint.h>

#include "guest_mem.h"

#define BOOT_GDT_ENTRIES 4
#define BOOT_CS_SELECTOR 0x10 /* __BOOT_CS */
#define BOOT_DS_SELECTOR 0x18 /* __BOOT_DS */
#define BOOT_IDMAP_GIB   4    /* the identity map covers 0..4 GiB with 2 MiB pages */

#define X86_CR0_PE   (1ull << 0)
#define X86_CR0_ET   (1ull << 4)
#define X86_CR0_PG   (1ull << 31)
#define X86_CR4_PAE  (1ull << 5)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)

#define PTE_PRESENT (1ull << 0)
#define PTE_RW      (1ull << 1)
#define PTE_PS      (1ull << 7)

/* Writes the GDT and the identity page tables into guest memory. Returns -1
 * when guest memory does not hold them. */
int x86_boot_write_tables(struct guest_mem *mem);

/* Sets the registers of the boot vCPU for entry at entry; sregs should come
 * from KVM_GET_SREGS so fields evr-vmm does not own keep KVM's values. */
void x86_boot_cpu_state(uint64_t entry, struct kvm_regs *regs, struct kvm_sregs *sregs);

/* The 8-byte descriptor of a flat segment (flags in bits 52..55, access in 40..47). */
uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);

#endif
