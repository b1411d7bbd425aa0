/* Boot GDT, identity page tables and the vCPU state at the 64-bit entry. */
#include "x86_boot.h"
#include "layout.h"

#include <string.h>

/* flags: G(15) D/B(14) L(13) AVL(12) | P(7) DPL(6:5) S(4) type(3:0) */
#define SEG_CODE64 0xa09b /* G, L, present, code, exec/read, accessed */
#define SEG_DATA   0xc093 /* G, D/B, present, data, read/write, accessed */
#define SEG_TSS    0x008b /* present, 64-bit busy TSS */

uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
           ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
           (uint64_t)(limit & 0x0000ffffu);
}

int x86_boot_write_tables(struct guest_mem *mem)
{
    uint64_t *gdt = guest_mem_ptr(mem, GUEST_GDT_ADDR, BOOT_GDT_ENTRIES * 8);
    uint64_t *pml4 = guest_mem_ptr(mem, GUEST_PML4_ADDR, 4096);
    uint64_t *pdpt = guest_mem_ptr(mem, GUEST_PDPT_ADDR, 4096);
    uint64_t *pd = guest_mem_ptr(mem, GUEST_PD_ADDR, BOOT_IDMAP_GIB * 4096);

    if (!gdt || !pml4 || !pdpt || !pd)
        return -1;
    gdt[0] = 0;
    gdt[1] = 0;
    gdt[BOOT_CS_SELECTOR / 8] = x86_gdt_entry(SEG_CODE64, 0, 0xfffff);
    gdt[BOOT_DS_SELECTOR / 8] = x86_gdt_entry(SEG_DATA, 0, 0xfffff);

    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = GUEST_PDPT_ADDR | PTE_PRESENT | PTE_RW;
    for (uint64_t g = 0; g < BOOT_IDMAP_GIB; g++) {
        pdpt[g] = (GUEST_PD_ADDR + g * 4096) | PTE_PRESENT | PTE_RW;
        for (uint64_t i = 0; i < 512; i++)
            pd[g * 512 + i] = ((g << 30) + (i << 21)) | PTE_PRESENT | PTE_RW | PTE_PS;
    }
    return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint16_t flags)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = selector;
    s->type = flags & 0xf;
    s->s = (flags >> 4) & 1;
    s->dpl = (flags >> 5) & 3;
    s->present = (flags >> 7) & 1;
    s->avl = (flags >> 12) & 1;
    s->l = (flags >> 13) & 1;
    s->db = (flags >> 14) & 1;
    s->g = (flags >> 15) & 1;
}

void x86_boot_cpu_state(uint64_t entry, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
    memset(regs, 0, sizeof(*regs));
    regs->rflags = 0x2; /* reserved bit 1; IF clear */
    regs->rip = entry;
    regs->rsp = GUEST_BOOT_STACK_TOP;
    regs->rbp = GUEST_BOOT_STACK_TOP;
    regs->rsi = GUEST_ZERO_PAGE_ADDR;

    flat_segment(&sregs->cs, BOOT_CS_SELECTOR, SEG_CODE64);
    flat_segment(&sregs->ds, BOOT_DS_SELECTOR, SEG_DATA);
    sregs->es = sregs->ds;
    sregs->fs = sregs->ds;
    sregs->gs = sregs->ds;
    sregs->ss = sregs->ds;
    /* VMX refuses entry with an unusable TR; give it a busy TSS. */
    flat_segment(&sregs->tr, 0, SEG_TSS);
    sregs->tr.limit = 0x67;
    sregs->tr.g = 0;
    sregs->gdt.base = GUEST_GDT_ADDR;
    sregs->gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
    sregs->idt.base = 0;
    sregs->idt.limit = 0; /* any exception before the kernel loads its IDT is a triple fault */
    sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
    sregs->cr3 = GUEST_PML4_ADDR;
    sregs->cr4 = X86_CR4_PAE;
    sregs->efer = X86_EFER_LME | X86_EFER_LMA;
}
