/* Guest RAM: one memfd (so a vhost-user backend can map the same pages later),
 * optionally on hugetlbfs, mapped once in this process and split around the
 * MMIO hole into two guest-physical regions:
 *
 *   [0, low_size)                          file offset 0
 *   [4 GiB, 4 GiB + high_size)             file offset low_size
 */
#ifndef EVR_VMM_GUEST_MEM_H
#define EVR_VMM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem {
    int fd;        /* memfd, or -1 for a caller's buffer (unit tests) */
    uint8_t *base; /* host mapping of the whole file */
    uint64_t size;
    uint64_t low_size;  /* RAM below the MMIO hole */
    uint64_t high_size; /* RAM from 4 GiB up */
    bool hugetlb;
};

/* How size bytes of RAM split around the MMIO hole. */
void guest_mem_split(uint64_t size, uint64_t *low_size, uint64_t *high_size);

/* Creates and maps the memfd. Returns 0, or -1 with a message in err. */
int guest_mem_create(struct guest_mem *mem, uint64_t size, bool hugetlb, char *err, size_t errlen);

/* Lays guest memory over a caller's buffer of size bytes (unit tests). */
void guest_mem_wrap(struct guest_mem *mem, void *buf, uint64_t size);

void guest_mem_destroy(struct guest_mem *mem);

/* Host pointer to [gpa, gpa+len) if the whole range is RAM, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* One guest-physical RAM region and where it lives in the memfd and in this
 * process: what a vhost-user backend needs to map the same pages. */
struct guest_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t fd_offset;
    uint8_t *host;
};

#define GUEST_MEM_MAX_REGIONS 2

/* Fills out[] with the non-empty regions, low first; returns their count. */
unsigned guest_mem_regions(const struct guest_mem *mem,
                           struct guest_mem_region out[GUEST_MEM_MAX_REGIONS]);

#endif
