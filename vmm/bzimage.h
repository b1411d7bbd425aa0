/* Direct boot of a Linux bzImage by the x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): the protected-mode kernel at 1 MiB, the
 * zero page (struct boot_params) with the e820 map, the command line and the
 * initramfs, and entry at the 64-bit entry point with rsi = zero page. The
 * CPU state that entry needs (GDT, page tables, long mode) is x86_boot.h. */
#ifndef EVR_VMM_BZIMAGE_H
#define EVR_VMM_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

#define BZIMAGE_MIN_VERSION 0x020c /* 2.12: the first with XLF_KERNEL_64 */
#define E820_MAX_ENTRIES    128    /* what struct boot_params holds */

/* What evr-vmm needs from a bzImage's setup header. */
struct bzimage_info {
    uint16_t version;
    uint8_t setup_sects;
    uint8_t loadflags;
    uint16_t xloadflags;
    uint32_t cmdline_size;    /* longest command line, without the NUL */
    uint32_t initrd_addr_max; /* highest byte the initramfs may occupy */
    uint32_t kernel_alignment;
    uint64_t pref_address;
    uint32_t init_size;    /* memory the kernel needs from its load address */
    size_t setup_len;      /* bytes before the protected-mode kernel */
    size_t header_end;     /* end of the setup header in the image */
    const uint8_t *kernel; /* the protected-mode kernel inside the image */
    size_t kernel_len;
};

struct e820_entry_le {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

#define E820_RAM      1
#define E820_RESERVED 2

/* Checks that img is a bzImage this VMM can boot and fills info. Returns 0,
 * or -1 with a message that says what is wrong. */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *info, char *err,
                  size_t errlen);

/* The e820 map of a guest with this memory; returns the number of entries. */
unsigned e820_build(const struct guest_mem *mem, struct e820_entry_le *out, unsigned max);

/* Loads kernel, initramfs (initrd may be NULL) and command line into guest
 * memory and writes the zero page. On success *entry is the 64-bit entry
 * point. Nothing is written to guest memory unless every check passed. */
int bzimage_load(struct guest_mem *mem, const uint8_t *img, size_t img_len, const uint8_t *initrd,
                 size_t initrd_len, const char *cmdline, uint64_t *entry, char *err, size_t errlen);

#endif
