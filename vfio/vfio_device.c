/* VFIO device: regions, interrupts, reset (vfio_device.h). */
#include "vfio_device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int evr_vfio_device_open(struct evr_vfio_group *g, const char *addr, struct evr_vfio_device *d,
                         struct evr_err *err)
{
    int e;

    memset(d, 0, sizeof(*d));
    d->fd = -1;
    if (evr_pci_addr_check(addr, err))
        return -1;
    strcpy(d->addr, addr);
    if (!g->container)
        return evr_fail(err, EINVAL, "%s: its group %d is in no container", addr, g->id);
    d->fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, addr);
    if (d->fd < 0)
        return evr_fail(err, errno, "%s: VFIO_GROUP_GET_DEVICE_FD in group %d: %s", addr, g->id,
                        strerror(errno));
    d->info.argsz = sizeof(d->info);
    if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &d->info)) {
        e = errno;
        evr_vfio_device_close(d);
        return evr_fail(err, e, "%s: VFIO_DEVICE_GET_INFO: %s", addr, strerror(e));
    }
    if (!(d->info.flags & VFIO_DEVICE_FLAGS_PCI)) {
        evr_vfio_device_close(d);
        return evr_fail(err, ENODEV, "%s: VFIO does not present it as a PCI device", addr);
    }
    for (unsigned i = 0; i < VFIO_PCI_NUM_REGIONS && i < d->info.num_regions; i++) {
        d->regions[i] = (struct vfio_region_info){.argsz = sizeof(d->regions[i]), .index = i};
        d->region_errno[i] = ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &d->regions[i]) ? errno : 0;
    }
    return 0;
}

void evr_vfio_device_close(struct evr_vfio_device *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

int evr_vfio_region_info(const struct evr_vfio_device *d, unsigned index,
                         struct vfio_region_info *out, struct evr_err *err)
{
    struct vfio_region_info info = {.argsz = sizeof(info), .index = index};
    int e = 0;

    if (index >= d->info.num_regions)
        return evr_fail(err, ENOENT, "%s: region %u does not exist (the device has %u)", d->addr,
                        index, d->info.num_regions);
    if (index < VFIO_PCI_NUM_REGIONS) {
        info = d->regions[index];
        e = d->region_errno[index];
    } else if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &info)) {
        e = errno;
    }
    if (e)
        return evr_fail(err, e, "%s: VFIO_DEVICE_GET_REGION_INFO (region %u): %s", d->addr, index,
                        strerror(e));
    *out = info;
    return 0;
}

/* pread or pwrite of len bytes at off of a region, checked against its
 * flags and size. */
static int region_io(const struct evr_vfio_device *d, unsigned index, uint64_t off, void *buf,
                     size_t len, int write, struct evr_err *err)
{
    const char *verb = write ? "writing" : "reading";
    struct vfio_region_info info;
    ssize_t n;

    if (evr_vfio_region_info(d, index, &info, err))
        return -1;
    if (!(info.flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ)))
        return evr_fail(err, EOPNOTSUPP, "%s: region %u cannot be %s", d->addr, index,
                        write ? "written" : "read");
    if (off > info.size || len > info.size - off)
        return evr_fail(err, EINVAL,
                        "%s: %s %zu bytes at 0x%llx runs past region %u (0x%llx "
                        "bytes)",
                        d->addr, verb, len, (unsigned long long)off, index,
                        (unsigned long long)info.size);
    n = write ? pwrite(d->fd, buf, len, (off_t)(info.offset + off))
              : pread(d->fd, buf, len, (off_t)(info.offset + off));
    if (n < 0)
        return evr_fail(err, errno, "%s: %s region %u at 0x%llx: %s", d->addr, verb, index,
                        (unsigned long long)off, strerror(errno));
    if ((size_t)n != len)
        return evr_fail(err, EIO, "%s: %s region %u at 0x%llx: %zd of %zu bytes", d->addr, verb,
                        index, (unsigned long long)off, n, len);
    return 0;
}

int evr_vfio_region_read(const struct evr_vfio_device *d, unsigned index, uint64_t off, void *buf,
                         size_t len, struct evr_err *err)
{
    return region_io(d, index, off, buf, len, 0, err);
}

int evr_vfio_region_write(const struct evr_vfio_device *d, unsigned index, uint64_t off,
                          const void *buf, size_t len, struct evr_err *err)
{
    /* region_io does not write through buf when it writes the region */
    return region_io(d, index, off, (void *)(uintptr_t)buf, len, 1, err);
}

int evr_vfio_region_mmap(const struct evr_vfio_device *d, unsigned index, void **map, size_t *len,
                         struct evr_err *err)
{
    struct vfio_region_info info;
    int prot = 0;
    void *p;

    if (evr_vfio_region_info(d, index, &info, err))
        return -1;
    if (info.size == 0)
        return evr_fail(err, EOPNOTSUPP, "%s: region %u is not implemented (size 0)", d->addr,
                        index);
    if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP))
        return evr_fail(err, EOPNOTSUPP, "%s: region %u cannot be mapped", d->addr, index);
    if (info.flags & VFIO_REGION_INFO_FLAG_READ)
        prot |= PROT_READ;
    if (info.flags & VFIO_REGION_INFO_FLAG_WRITE)
        prot |= PROT_WRITE;
    p = mmap(NULL, info.size, prot, MAP_SHARED, d->fd, (off_t)info.offset);
    if (p == MAP_FAILED)
        return evr_fail(err, errno, "%s: mmap of region %u (0x%llx bytes): %s", d->addr, index,
                        (unsigned long long)info.size, strerror(errno));
    *map = p;
    *len = info.size;
    return 0;
}

int evr_vfio_irq_info(const struct evr_vfio_device *d, unsigned index, struct vfio_irq_info *out,
                      struct evr_err *err)
{
    struct vfio_irq_info info = {.argsz = sizeof(info), .index = index};

    if (index >= d->info.num_irqs)
        return evr_fail(err, ENOENT, "%s: interrupt index %u does not exist (the device has %u)",
                        d->addr, index, d->info.num_irqs);
    if (ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info))
        return evr_fail(err, errno, "%s: VFIO_DEVICE_GET_IRQ_INFO (index %u): %s", d->addr, index,
                        strerror(errno));
    *out = info;
    return 0;
}

int evr_vfio_irq_set_eventfds(const struct evr_vfio_device *d, unsigned index, unsigned start,
                              unsigned count, const int *fds, struct evr_err *err)
{
    struct vfio_irq_info info;
    struct vfio_irq_set *set;
    size_t size;
    int rc = 0;

    if (evr_vfio_irq_info(d, index, &info, err))
        return -1;
    if (!(info.flags & VFIO_IRQ_INFO_EVENTFD))
        return evr_fail(err, EOPNOTSUPP, "%s: interrupt index %u does not signal eventfds", d->addr,
                        index);
    if (count == 0 || start >= info.count || count > info.count - start)
        return evr_fail(err, EINVAL, "%s: vectors %u..%u of interrupt index %u: it has %u", d->addr,
                        start, start + count - 1, index, info.count);
    size = sizeof(*set) + count * sizeof(int32_t);
    set = calloc(1, size);
    if (!set)
        return evr_fail(err, ENOMEM, "%s: out of memory", d->addr);
    set->argsz = (uint32_t)size;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = index;
    set->start = start;
    set->count = count;
    memcpy(set->data, fds, count * sizeof(int32_t));
    if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set))
        rc = evr_fail(err, errno, "%s: VFIO_DEVICE_SET_IRQS (index %u, eventfds for %u..%u): %s",
                      d->addr, index, start, start + count - 1, strerror(errno));
    free(set);
    return rc;
}

int evr_vfio_irq_unmask_eventfd(const struct evr_vfio_device *d, unsigned index, unsigned start,
                                int fd, struct evr_err *err)
{
    struct {
        struct vfio_irq_set set;
        int32_t fd;
    } req = {.set = {.argsz = sizeof(req),
                     .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
                     .index = index,
                     .start = start,
                     .count = 1},
             .fd = fd};

    if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &req))
        return evr_fail(err, errno, "%s: VFIO_DEVICE_SET_IRQS (index %u, unmask eventfd %d): %s",
                        d->addr, index, fd, strerror(errno));
    return 0;
}

int evr_vfio_irq_trigger(const struct evr_vfio_device *d, unsigned index, unsigned vector,
                         struct evr_err *err)
{
    struct vfio_irq_set set = {
            .argsz = sizeof(set),
            .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            .index = index,
            .start = vector,
            .count = 1,
    };

    if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &set))
        return evr_fail(err, errno, "%s: VFIO_DEVICE_SET_IRQS (index %u, trigger vector %u): %s",
                        d->addr, index, vector, strerror(errno));
    return 0;
}

int evr_vfio_irq_disable(const struct evr_vfio_device *d, unsigned index, struct evr_err *err)
{
    struct vfio_irq_set set = {
            .argsz = sizeof(set),
            .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            .index = index,
            .start = 0,
            .count = 0,
    };

    if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &set))
        return evr_fail(err, errno, "%s: VFIO_DEVICE_SET_IRQS (index %u, disable): %s", d->addr,
                        index, strerror(errno));
    return 0;
}

int evr_vfio_device_reset(const struct evr_vfio_device *d, struct evr_err *err)
{
    if (!(d->info.flags & VFIO_DEVICE_FLAGS_RESET))
        return evr_fail(err, EOPNOTSUPP, "%s: the kernel offers no reset for it", d->addr);
    if (ioctl(d->fd, VFIO_DEVICE_RESET))
        return evr_fail(err, errno, "%s: VFIO_DEVICE_RESET: %s", d->addr, strerror(errno));
    return 0;
}
