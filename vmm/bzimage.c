/* bzImage loader and zero page; see bzimage.h. Offsets are those of
 * struct boot_params / struct setup_header (asm/bootparam.h). */
#include "bzimage.h"
#include "layout.h"

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HDR_OFFSET     0x1f1       /* offsetof(struct boot_params, hdr) */
#define HDR_MAGIC      0x53726448u /* "HdrS" */
#define BOOT_FLAG      0xaa55
#define LOADER_UNKNOWN 0xff
#define ENTRY64_OFFSET 0x200 /* startup_64 from the protected-mode start */
#define INITRD_ALIGN   0x1000ull

_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
_Static_assert(offsetof(struct boot_params, hdr) == HDR_OFFSET, "setup header offset");
_Static_assert(sizeof(struct e820_entry_le) == sizeof(struct boot_e820_entry), "e820 entry");

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

#define HDR(field) offsetof(struct boot_params, hdr.field)

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err,
                  size_t errlen)
{
    memset(info, 0, sizeof(*info));
    if (len < HDR(pref_address) + 8) {
        snprintf(err, errlen, "not a bzImage: %zu bytes is too short for a setup header", len);
        return -1;
    }
    if (le16(img + HDR(boot_flag)) != BOOT_FLAG || le32(img + HDR(header)) != HDR_MAGIC) {
        snprintf(err, errlen,
                 "not a bzImage: no 0xAA55 boot flag and \"HdrS\" magic at 0x1fe/0x202");
        return -1;
    }
    info->version = le16(img + HDR(version));
    if (info->version < BZIMAGE_MIN_VERSION) {
        snprintf(err, errlen, "bzImage boot protocol %u.%02u is too old: 64-bit entry needs 2.12",
                 info->version >> 8, info->version & 0xff);
        return -1;
    }
    info->loadflags = img[HDR(loadflags)];
    info->xloadflags = le16(img + HDR(xloadflags));
    if (!(info->loadflags & LOADED_HIGH)) {
        snprintf(err, errlen, "not a bzImage: a zImage (loaded low) cannot be booted");
        return -1;
    }
    if (!(info->xloadflags & XLF_KERNEL_64)) {
        snprintf(err, errlen, "bzImage has no 64-bit entry point (xloadflags 0x%x)",
                 info->xloadflags);
        return -1;
    }
    info->setup_sects = img[HDR(setup_sects)];
    /* "If this field is 0, the real value is 4" (boot.rst). */
    info->setup_len = ((size_t)(info->setup_sects ? info->setup_sects : 4) + 1) * 512;
    if (info->setup_len >= len) {
        snprintf(err, errlen, "bzImage is truncated: setup is %zu bytes, file is %zu",
                 info->setup_len, len);
        return -1;
    }
    /* The header ends where the 2-byte jump at 0x200 lands. */
    info->header_end = 0x202 + img[0x201];
    if (info->header_end > sizeof(struct boot_params) || info->header_end > info->setup_len) {
        snprintf(err, errlen, "bzImage setup header length %zu is invalid", info->header_end);
        return -1;
    }
    info->cmdline_size = le32(img + HDR(cmdline_size));
    info->initrd_addr_max = le32(img + HDR(initrd_addr_max));
    info->kernel_alignment = le32(img + HDR(kernel_alignment));
    info->pref_address = le64(img + HDR(pref_address));
    info->init_size = le32(img + HDR(init_size));
    info->kernel = img + info->setup_len;
    info->kernel_len = len - info->setup_len;
    return 0;
}

static unsigned e820_add(struct e820_entry_le *out, unsigned n, unsigned max, uint64_t addr,
                         uint64_t size, uint32_t type)
{
    if (n < max && size) {
        out[n].addr = addr;
        out[n].size = size;
        out[n].type = type;
        n++;
    }
    return n;
}

unsigned e820_build(const struct guest_mem *mem, struct e820_entry_le *out, unsigned max)
{
    unsigned n = 0;

    n = e820_add(out, n, max, 0, GUEST_EBDA_START, E820_RAM);
    n = e820_add(out, n, max, GUEST_EBDA_START, 0xa0000 - GUEST_EBDA_START, E820_RESERVED);
    n = e820_add(out, n, max, GUEST_ACPI_ADDR, GUEST_ACPI_END - GUEST_ACPI_ADDR, E820_RESERVED);
    if (mem->low_size > GUEST_KERNEL_ADDR)
        n = e820_add(out, n, max, GUEST_KERNEL_ADDR, mem->low_size - GUEST_KERNEL_ADDR, E820_RAM);
    n = e820_add(out, n, max, GUEST_MMIO_HOLE_END, mem->high_size, E820_RAM);
    return n;
}

int bzimage_load(struct guest_mem *mem, const uint8_t *img, size_t img_len, const uint8_t *initrd,
                 size_t initrd_len, const char *cmdline, uint64_t *entry, char *err, size_t errlen)
{
    struct bzimage_info info;
    struct boot_params *zp;
    size_t cmdline_len = strlen(cmdline);
    uint64_t kernel_end, initrd_addr = 0, initrd_top;
    struct e820_entry_le e820[E820_MAX_ENTRIES];
    unsigned n;

    if (bzimage_parse(img, img_len, &info, err, errlen))
        return -1;
    if (cmdline_len > info.cmdline_size || cmdline_len >= GUEST_CMDLINE_MAX) {
        snprintf(err, errlen, "cmdline: %zu bytes, this kernel accepts at most %u", cmdline_len,
                 info.cmdline_size);
        return -1;
    }
    /* The decompressor works in place from the load address upwards. */
    kernel_end = GUEST_KERNEL_ADDR +
                 (info.init_size > info.kernel_len ? info.init_size : info.kernel_len);
    if (kernel_end > mem->low_size) {
        snprintf(err, errlen, "memory: %llu MiB is too small for this kernel (needs %llu MiB)",
                 (unsigned long long)(mem->size / MIB),
                 (unsigned long long)((kernel_end + MIB - 1) / MIB));
        return -1;
    }
    if (initrd) {
        initrd_top = mem->low_size;
        if ((uint64_t)info.initrd_addr_max + 1 < initrd_top)
            initrd_top = (uint64_t)info.initrd_addr_max + 1;
        if (initrd_len > initrd_top || (initrd_top - initrd_len) < kernel_end) {
            snprintf(err, errlen,
                     "memory: %llu MiB is too small for the kernel and a %zu KiB initramfs",
                     (unsigned long long)(mem->size / MIB), initrd_len / 1024);
            return -1;
        }
        initrd_addr = (initrd_top - initrd_len) & ~(INITRD_ALIGN - 1);
        if (initrd_addr < kernel_end) {
            snprintf(err, errlen,
                     "memory: %llu MiB is too small for the kernel and a %zu KiB initramfs",
                     (unsigned long long)(mem->size / MIB), initrd_len / 1024);
            return -1;
        }
    }
    zp = guest_mem_ptr(mem, GUEST_ZERO_PAGE_ADDR, sizeof(*zp));
    if (!zp || !guest_mem_ptr(mem, GUEST_CMDLINE_ADDR, GUEST_CMDLINE_MAX)) {
        snprintf(err, errlen, "memory: too small for the boot structures");
        return -1;
    }

    memcpy(guest_mem_ptr(mem, GUEST_KERNEL_ADDR, info.kernel_len), info.kernel, info.kernel_len);
    if (initrd)
        memcpy(guest_mem_ptr(mem, initrd_addr, initrd_len), initrd, initrd_len);
    memcpy(guest_mem_ptr(mem, GUEST_CMDLINE_ADDR, cmdline_len + 1), cmdline, cmdline_len + 1);

    memset(zp, 0, sizeof(*zp));
    memcpy((uint8_t *)zp + HDR_OFFSET, img + HDR_OFFSET, info.header_end - HDR_OFFSET);
    zp->hdr.type_of_loader = LOADER_UNKNOWN;
    zp->hdr.loadflags &= (uint8_t)~KEEP_SEGMENTS;
    zp->hdr.cmd_line_ptr = (uint32_t)GUEST_CMDLINE_ADDR;
    zp->hdr.ramdisk_image = (uint32_t)initrd_addr;
    zp->hdr.ramdisk_size = (uint32_t)initrd_len;
    /* Read by kernels of protocol 2.14+; older ones scan 0xe0000 and find it too. */
    zp->acpi_rsdp_addr = GUEST_ACPI_ADDR;
    n = e820_build(mem, e820, E820_MAX_ENTRIES);
    memcpy(zp->e820_table, e820, n * sizeof(e820[0]));
    zp->e820_entries = (uint8_t)n;
    *entry = GUEST_KERNEL_ADDR + ENTRY64_OFFSET;
    return 0;
}
