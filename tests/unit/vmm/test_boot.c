/* Unit tests of the bzImage loader, zero page, e820 map, GDT, identity page
 * tables and boot vCPU state, built over a buffer standing in for guest RAM.
 * Fields are checked at the offsets the boot protocol documents, not through
 * the same struct the loader writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bzimage.h"
#include "layout.h"
#include "x86_boot.h"

#define RAM_SIZE    (64ull * MIB)
#define SETUP_SECTS 4
#define KERNEL_LEN  8192

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)v);
    wr16(p + 2, (uint16_t)(v >> 16));
}

/* A synthetic bzImage: setup header of protocol 2.15 and a patterned kernel. */
static uint8_t *fake_bzimage(size_t *len)
{
    size_t setup = (SETUP_SECTS + 1) * 512;
    uint8_t *img = calloc(1, setup + KERNEL_LEN);

    img[0x1f1] = SETUP_SECTS;
    wr16(img + 0x1fe, 0xaa55);
    img[0x200] = 0xeb;
    img[0x201] = 0x6a; /* jump over the header: it ends at 0x26c */
    wr32(img + 0x202, 0x53726448);
    wr16(img + 0x206, 0x020f);
    img[0x211] = 0x01;                  /* LOADED_HIGH */
    wr32(img + 0x22c, 0x7fffffff);      /* initrd_addr_max */
    wr32(img + 0x230, 0x200000);        /* kernel_alignment */
    img[0x234] = 1;                     /* relocatable */
    wr16(img + 0x236, 0x0001);          /* XLF_KERNEL_64 */
    wr32(img + 0x238, 2047);            /* cmdline_size */
    wr32(img + 0x260, 4 * 1024 * 1024); /* init_size */
    for (size_t i = 0; i < KERNEL_LEN; i++)
        img[setup + i] = (uint8_t)(i * 7 + 1);
    *len = setup + KERNEL_LEN;
    return img;
}

struct ram {
    uint8_t *buf;
    struct guest_mem mem;
};

static int ram_setup(void **state)
{
    struct ram *r = calloc(1, sizeof(*r));

    r->buf = calloc(1, RAM_SIZE);
    guest_mem_wrap(&r->mem, r->buf, RAM_SIZE);
    *state = r;
    return 0;
}

static int ram_teardown(void **state)
{
    struct ram *r = *state;

    free(r->buf);
    free(r);
    return 0;
}

static void loads_kernel_initrd_cmdline_and_zero_page(void **state)
{
    struct ram *r = *state;
    size_t len;
    uint8_t *img = fake_bzimage(&len);
    uint8_t initrd[5000];
    uint64_t entry = 0;
    char err[256] = "";
    const uint8_t *zp = r->buf + GUEST_ZERO_PAGE_ADDR;
    uint32_t initrd_addr;

    memset(initrd, 0x5a, sizeof(initrd));
    assert_int_equal(bzimage_load(&r->mem, img, len, initrd, sizeof(initrd), "console=ttyS0",
                                  &entry, err, sizeof(err)),
                     0);
    assert_int_equal(entry, GUEST_KERNEL_ADDR + 0x200);
    /* protected-mode kernel at 1 MiB, byte for byte */
    assert_memory_equal(r->buf + GUEST_KERNEL_ADDR, img + (SETUP_SECTS + 1) * 512, KERNEL_LEN);
    /* setup header copied, then the loader's fields */
    assert_int_equal(rd32(zp + 0x202), 0x53726448);
    assert_int_equal(rd16(zp + 0x206), 0x020f);
    assert_int_equal(zp[0x210], 0xff); /* type_of_loader: unknown */
    assert_int_equal(rd32(zp + 0x228), GUEST_CMDLINE_ADDR);
    assert_string_equal((const char *)r->buf + GUEST_CMDLINE_ADDR, "console=ttyS0");
    initrd_addr = rd32(zp + 0x218);
    assert_int_equal(rd32(zp + 0x21c), sizeof(initrd));
    assert_int_equal(initrd_addr % 4096, 0);
    assert_true(initrd_addr >= GUEST_KERNEL_ADDR + 4 * MIB);
    assert_true(initrd_addr + sizeof(initrd) <= RAM_SIZE);
    assert_memory_equal(r->buf + initrd_addr, initrd, sizeof(initrd));
    assert_int_equal(rd64(zp + 0x070), GUEST_ACPI_ADDR); /* acpi_rsdp_addr */
    /* e820: low RAM, EBDA, ACPI area, RAM from 1 MiB to the end */
    assert_int_equal(zp[0x1e8], 4);
    assert_int_equal(rd64(zp + 0x2d0 + 0 * 20), 0);
    assert_int_equal(rd64(zp + 0x2d0 + 0 * 20 + 8), GUEST_EBDA_START);
    assert_int_equal(rd32(zp + 0x2d0 + 0 * 20 + 16), E820_RAM);
    assert_int_equal(rd32(zp + 0x2d0 + 1 * 20 + 16), E820_RESERVED);
    assert_int_equal(rd64(zp + 0x2d0 + 2 * 20), GUEST_ACPI_ADDR);
    assert_int_equal(rd32(zp + 0x2d0 + 2 * 20 + 16), E820_RESERVED);
    assert_int_equal(rd64(zp + 0x2d0 + 3 * 20), GUEST_KERNEL_ADDR);
    assert_int_equal(rd64(zp + 0x2d0 + 3 * 20 + 8), RAM_SIZE - GUEST_KERNEL_ADDR);
    assert_int_equal(rd32(zp + 0x2d0 + 3 * 20 + 16), E820_RAM);
    free(img);
}

static void e820_puts_ram_above_4g_past_the_hole(void **state)
{
    struct guest_mem mem;
    struct e820_entry_le e[8];
    unsigned n;

    (void)state;
    guest_mem_wrap(&mem, NULL, 4 * GIB); /* layout only; nothing is touched */
    assert_int_equal(mem.low_size, GUEST_MMIO_HOLE_START);
    assert_int_equal(mem.high_size, 4 * GIB - GUEST_MMIO_HOLE_START);
    n = e820_build(&mem, e, 8);
    assert_int_equal(n, 5);
    assert_int_equal(e[3].addr + e[3].size, GUEST_MMIO_HOLE_START);
    assert_int_equal(e[4].addr, 4 * GIB);
    assert_int_equal(e[4].size, 4 * GIB - GUEST_MMIO_HOLE_START);
    assert_int_equal(e[4].type, E820_RAM);
    assert_null(guest_mem_ptr(&mem, GUEST_MMIO_HOLE_START, 1));
    assert_null(guest_mem_ptr(&mem, GUEST_MMIO_HOLE_START - 1, 2));
}

static void guest_ram_is_a_memfd(void **state)
{
    struct guest_mem mem;
    char err[256];
    uint8_t *p;

    (void)state;
    assert_int_equal(guest_mem_create(&mem, 32 * MIB, false, err, sizeof(err)), 0);
    assert_true(mem.fd >= 0);
    assert_int_equal(mem.low_size, 32 * MIB);
    assert_int_equal(mem.high_size, 0);
    p = guest_mem_ptr(&mem, 0x100000, 16);
    assert_ptr_equal(p, mem.base + 0x100000);
    p[0] = 0x42;
    /* another mapping of the same fd (what a vhost-user backend gets) sees it */
    {
        uint8_t b = 0;
        assert_int_equal(pread(mem.fd, &b, 1, 0x100000), 1);
        assert_int_equal(b, 0x42);
    }
    assert_null(guest_mem_ptr(&mem, 32 * MIB - 8, 16));
    guest_mem_destroy(&mem);
    assert_int_equal(mem.fd, -1);

    assert_int_equal(guest_mem_create(&mem, 33 * MIB, true, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a multiple of the 2 MiB huge page"));
}

struct bad_image {
    const char *what;
    size_t offset;
    uint8_t value;
    const char *msg_part;
};

static void rejects_what_is_not_a_bootable_bzimage(void **state)
{
    static const struct bad_image cases[] = {
            {"no boot flag", 0x1fe, 0x00, "not a bzImage"},
            {"no HdrS", 0x202, 'X', "not a bzImage"},
            {"protocol 2.11", 0x206, 0x0b, "too old"},
            {"zImage", 0x211, 0x00, "zImage"},
            {"no 64-bit entry", 0x236, 0x00, "no 64-bit entry"},
    };
    struct bzimage_info info;
    char err[256];
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *img = fake_bzimage(&len);
        img[cases[i].offset] = cases[i].value;
        err[0] = 0;
        assert_int_equal(bzimage_parse(img, len, &info, err, sizeof(err)), -1);
        if (!strstr(err, cases[i].msg_part))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].what, err, cases[i].msg_part);
        free(img);
    }
    {
        uint8_t *img = fake_bzimage(&len);
        assert_int_equal(bzimage_parse(img, 100, &info, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "too short"));
        assert_int_equal(bzimage_parse(img, 5 * 512, &info, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "truncated"));
        free(img);
    }
}

static void refuses_what_does_not_fit_and_writes_nothing(void **state)
{
    struct ram *r = *state;
    size_t len;
    uint8_t *img = fake_bzimage(&len);
    uint8_t *big = calloc(1, 62 * MIB);
    char cmd[3000];
    char err[256];
    uint64_t entry;

    memset(cmd, 'x', sizeof(cmd) - 1);
    cmd[sizeof(cmd) - 1] = 0;
    assert_int_equal(bzimage_load(&r->mem, img, len, NULL, 0, cmd, &entry, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cmdline: 2999 bytes, this kernel accepts at most 2047"));

    assert_int_equal(bzimage_load(&r->mem, img, len, big, 62 * MIB, "", &entry, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "too small for the kernel and a"));

    wr32(img + 0x260, 80 * 1024 * 1024); /* init_size beyond RAM */
    assert_int_equal(bzimage_load(&r->mem, img, len, NULL, 0, "", &entry, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too small for this kernel"));

    for (size_t i = 0; i < 2 * MIB; i++)
        if (r->buf[i])
            fail_msg("guest memory written at 0x%zx by a refused load", i);
    free(big);
    free(img);
}

static void gdt_and_identity_page_tables(void **state)
{
    struct ram *r = *state;
    const uint8_t *gdt = r->buf + GUEST_GDT_ADDR;

    assert_int_equal(x86_boot_write_tables(&r->mem), 0);
    assert_int_equal(rd64(gdt + 0x00), 0);
    assert_int_equal(rd64(gdt + 0x10), 0x00af9b000000ffffull); /* 64-bit code */
    assert_int_equal(rd64(gdt + 0x18), 0x00cf93000000ffffull); /* flat data */
    assert_int_equal(rd64(r->buf + GUEST_PML4_ADDR), GUEST_PDPT_ADDR | 0x3);
    assert_int_equal(rd64(r->buf + GUEST_PML4_ADDR + 8), 0);
    for (unsigned g = 0; g < 4; g++)
        assert_int_equal(rd64(r->buf + GUEST_PDPT_ADDR + 8 * g), (GUEST_PD_ADDR + 4096 * g) | 0x3);
    assert_int_equal(rd64(r->buf + GUEST_PDPT_ADDR + 8 * 4), 0);
    assert_int_equal(rd64(r->buf + GUEST_PD_ADDR), 0x83);
    assert_int_equal(rd64(r->buf + GUEST_PD_ADDR + 8), 0x200083);
    /* the last 2 MiB page below 4 GiB */
    assert_int_equal(rd64(r->buf + GUEST_PD_ADDR + 4 * 4096 - 8), 0xffe00083ull);
}

static void boot_cpu_state_is_long_mode_at_the_entry(void **state)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;

    (void)state;
    memset(&sregs, 0xee, sizeof(sregs));
    x86_boot_cpu_state(0x100200, &regs, &sregs);
    assert_int_equal(regs.rip, 0x100200);
    assert_int_equal(regs.rsi, GUEST_ZERO_PAGE_ADDR);
    assert_int_equal(regs.rflags, 0x2);
    assert_int_equal(sregs.cr0 & (X86_CR0_PE | X86_CR0_PG), X86_CR0_PE | X86_CR0_PG);
    assert_int_equal(sregs.cr4 & X86_CR4_PAE, X86_CR4_PAE);
    assert_int_equal(sregs.efer, X86_EFER_LME | X86_EFER_LMA);
    assert_int_equal(sregs.cr3, GUEST_PML4_ADDR);
    assert_int_equal(sregs.cs.selector, 0x10);
    assert_int_equal(sregs.cs.l, 1);
    assert_int_equal(sregs.cs.db, 0);
    assert_int_equal(sregs.cs.type, 0xb);
    assert_int_equal(sregs.ds.selector, 0x18);
    assert_int_equal(sregs.ss.selector, 0x18);
    assert_int_equal(sregs.ds.db, 1);
    assert_int_equal(sregs.gdt.base, GUEST_GDT_ADDR);
    assert_int_equal(sregs.gdt.limit, 31);
    assert_int_equal(sregs.idt.limit, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(loads_kernel_initrd_cmdline_and_zero_page, ram_setup,
                                            ram_teardown),
            cmocka_unit_test(e820_puts_ram_above_4g_past_the_hole),
            cmocka_unit_test(guest_ram_is_a_memfd),
            cmocka_unit_test(rejects_what_is_not_a_bootable_bzimage),
            cmocka_unit_test_setup_teardown(refuses_what_does_not_fit_and_writes_nothing, ram_setup,
                                            ram_teardown),
            cmocka_unit_test_setup_teardown(gdt_and_identity_page_tables, ram_setup, ram_teardown),
            cmocka_unit_test(boot_cpu_state_is_long_mode_at_the_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
