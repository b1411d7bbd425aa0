/* Guest RAM backed by a memfd; see guest_mem.h. */
#include "guest_mem.h"
#include "layout.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void guest_mem_split(uint64_t size, uint64_t *low_size, uint64_t *high_size)
{
    *low_size = size < GUEST_MMIO_HOLE_START ? size : GUEST_MMIO_HOLE_START;
    *high_size = size - *low_size;
}

int guest_mem_create(struct guest_mem *mem, uint64_t size, bool hugetlb, char *err, size_t errlen)
{
    unsigned flags = MFD_CLOEXEC;
    void *p;

    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    if (hugetlb) {
        flags |= MFD_HUGETLB | MFD_HUGE_2MB;
        if (size % (2 * MIB)) {
            snprintf(err, errlen, "memory: %llu MiB is not a multiple of the 2 MiB huge page",
                     (unsigned long long)(size / MIB));
            return -1;
        }
    }
    mem->fd = memfd_create("evr-guest-ram", flags);
    if (mem->fd < 0) {
        snprintf(err, errlen, "memfd_create%s: %s", hugetlb ? " (hugetlb)" : "", strerror(errno));
        return -1;
    }
    if (ftruncate(mem->fd, (off_t)size) < 0) {
        snprintf(err, errlen, "memory: cannot size the guest memfd to %llu MiB: %s",
                 (unsigned long long)(size / MIB), strerror(errno));
        goto fail;
    }
    /* Huge pages are reserved now, not at the guest's first touch, so a VM
     * that does not fit fails at start with a message instead of a SIGBUS. */
    if (hugetlb && fallocate(mem->fd, 0, 0, (off_t)size) < 0) {
        snprintf(err, errlen,
                 "memory: %llu MiB of 2 MiB huge pages are not available (%s); see "
                 "/proc/sys/vm/nr_hugepages",
                 (unsigned long long)(size / MIB), strerror(errno));
        goto fail;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "memory: cannot map %llu MiB: %s", (unsigned long long)(size / MIB),
                 strerror(errno));
        goto fail;
    }
    mem->base = p;
    mem->size = size;
    mem->hugetlb = hugetlb;
    guest_mem_split(size, &mem->low_size, &mem->high_size);
    return 0;
fail:
    close(mem->fd);
    mem->fd = -1;
    return -1;
}

void guest_mem_wrap(struct guest_mem *mem, void *buf, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    mem->base = buf;
    mem->size = size;
    guest_mem_split(size, &mem->low_size, &mem->high_size);
}

void guest_mem_destroy(struct guest_mem *mem)
{
    if (mem->fd >= 0) {
        if (mem->base)
            munmap(mem->base, mem->size);
        close(mem->fd);
    }
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    if (gpa < mem->low_size) {
        if (len > mem->low_size - gpa)
            return NULL;
        return mem->base + gpa;
    }
    if (gpa >= GUEST_MMIO_HOLE_END && gpa - GUEST_MMIO_HOLE_END < mem->high_size) {
        uint64_t off = gpa - GUEST_MMIO_HOLE_END;
        if (len > mem->high_size - off)
            return NULL;
        return mem->base + mem->low_size + off;
    }
    return NULL;
}

unsigned guest_mem_regions(const struct guest_mem *mem,
                           struct guest_mem_region out[GUEST_MEM_MAX_REGIONS])
{
    unsigned n = 0;

    if (mem->low_size)
        out[n++] = (struct guest_mem_region){
                .gpa = 0, .size = mem->low_size, .fd_offset = 0, .host = mem->base};
    if (mem->high_size)
        out[n++] = (struct guest_mem_region){.gpa = GUEST_MMIO_HOLE_END,
                                             .size = mem->high_size,
                                             .fd_offset = mem->low_size,
                                             .host = mem->base + mem->low_size};
    return n;
}
