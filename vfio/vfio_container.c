/* VFIO container, groups and DMA mappings (vfio_device.h). */
#include "vfio_device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sysfs_io.h"

/* Rewrites the label from the groups now in the container. */
static void relabel(struct evr_vfio_container *c)
{
    size_t used;
    unsigned i;

    if (c->groups == 0) {
        strcpy(c->label, "container (no groups)");
        return;
    }
    used = (size_t)snprintf(c->label, sizeof(c->label), "container (groups");
    for (i = 0; i < c->groups && used + 14 < sizeof(c->label); i++)
        used += (size_t)snprintf(c->label + used, sizeof(c->label) - used, " %d", c->group_ids[i]);
    snprintf(c->label + used, sizeof(c->label) - used, ")");
}

int evr_vfio_container_open(struct evr_vfio_container *c, const char *root, struct evr_err *err)
{
    char path[PATH_MAX];
    int version;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    relabel(c);
    if (evr_path(path, sizeof(path), root, "/dev/vfio/vfio"))
        return evr_fail(err, ENAMETOOLONG, "VFIO container: path is too long");
    c->fd = open(path, O_RDWR | O_CLOEXEC);
    if (c->fd < 0)
        return evr_fail(err, errno, "VFIO container: cannot open %s: %s (is vfio loaded?)", path,
                        strerror(errno));
    version = ioctl(c->fd, VFIO_GET_API_VERSION);
    if (version != VFIO_API_VERSION) {
        evr_vfio_container_close(c);
        return evr_fail(err, EINVAL, "VFIO container: API version %d, expected %d", version,
                        VFIO_API_VERSION);
    }
    if (ioctl(c->fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
        evr_vfio_container_close(c);
        return evr_fail(err, EOPNOTSUPP, "VFIO container: the kernel offers no type1 IOMMU");
    }
    return 0;
}

void evr_vfio_container_close(struct evr_vfio_container *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->iommu_set = 0;
    c->groups = 0;
    relabel(c);
}

int evr_vfio_group_open(struct evr_vfio_container *c, const char *root, int group,
                        struct evr_vfio_group *g, struct evr_err *err)
{
    struct vfio_group_status status = {.argsz = sizeof(status)};
    char path[PATH_MAX];
    int e;

    memset(g, 0, sizeof(*g));
    g->fd = -1;
    if (group < 0)
        return evr_fail(err, EINVAL, "VFIO group %d: not a group number", group);
    if (c->groups == EVR_VFIO_CONTAINER_GROUPS)
        return evr_fail(err, ENOSPC, "VFIO group %d: %s already holds %u groups", group, c->label,
                        c->groups);
    if (evr_path(path, sizeof(path), root, "/dev/vfio/%d", group))
        return evr_fail(err, ENAMETOOLONG, "VFIO group %d: path is too long", group);
    g->fd = open(path, O_RDWR | O_CLOEXEC);
    if (g->fd < 0)
        return evr_fail(err, errno, "VFIO group %d: cannot open %s: %s", group, path,
                        strerror(errno));
    g->id = group;
    if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &status)) {
        e = errno;
        evr_vfio_group_close(g);
        return evr_fail(err, e, "VFIO group %d: VFIO_GROUP_GET_STATUS: %s", group, strerror(e));
    }
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        evr_vfio_group_close(g);
        return evr_fail(err, EBUSY,
                        "VFIO group %d: not viable: a function in it is bound to a host "
                        "driver (see /sys/kernel/iommu_groups/%d/devices)",
                        group, group);
    }
    if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &c->fd)) {
        e = errno;
        evr_vfio_group_close(g);
        return evr_fail(err, e, "VFIO group %d: VFIO_GROUP_SET_CONTAINER: %s", group, strerror(e));
    }
    if (!c->iommu_set) {
        if (ioctl(c->fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)) {
            e = errno;
            evr_vfio_group_close(g);
            return evr_fail(err, e, "VFIO group %d: VFIO_SET_IOMMU (type1): %s", group,
                            strerror(e));
        }
        c->iommu_set = 1;
    }
    g->container = c;
    c->group_ids[c->groups++] = group;
    relabel(c);
    return 0;
}

void evr_vfio_group_close(struct evr_vfio_group *g)
{
    struct evr_vfio_container *c = g->container;
    unsigned i;

    if (g->fd >= 0) {
        if (c) {
            ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
            for (i = 0; i < c->groups; i++) {
                if (c->group_ids[i] == g->id) {
                    c->group_ids[i] = c->group_ids[--c->groups];
                    break;
                }
            }
            /* The kernel drops the container's IOMMU with its last group. */
            if (c->groups == 0)
                c->iommu_set = 0;
            relabel(c);
        }
        close(g->fd);
    }
    g->fd = -1;
    g->container = NULL;
}

int evr_vfio_dma_map(struct evr_vfio_container *c, void *vaddr, uint64_t iova, uint64_t size,
                     int writable, struct evr_err *err)
{
    struct vfio_iommu_type1_dma_map map = {
            .argsz = sizeof(map),
            .flags = VFIO_DMA_MAP_FLAG_READ | (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0),
            .vaddr = (uint64_t)(uintptr_t)vaddr,
            .iova = iova,
            .size = size,
    };
    long page = sysconf(_SC_PAGESIZE);

    if (!c->iommu_set)
        return evr_fail(err, EINVAL, "%s: DMA map before any group was added", c->label);
    if (size == 0 || (iova | size | map.vaddr) & (uint64_t)(page - 1))
        return evr_fail(err, EINVAL,
                        "%s: DMA map of iova 0x%llx size 0x%llx: address, size and "
                        "buffer must be non-empty and %ld-byte aligned",
                        c->label, (unsigned long long)iova, (unsigned long long)size, page);
    if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map))
        return evr_fail(err, errno, "%s: VFIO_IOMMU_MAP_DMA iova 0x%llx size 0x%llx: %s", c->label,
                        (unsigned long long)iova, (unsigned long long)size, strerror(errno));
    return 0;
}

int evr_vfio_dma_unmap(struct evr_vfio_container *c, uint64_t iova, uint64_t size,
                       struct evr_err *err)
{
    struct vfio_iommu_type1_dma_unmap unmap = {
            .argsz = sizeof(unmap),
            .iova = iova,
            .size = size,
    };

    if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
        return evr_fail(err, errno, "%s: VFIO_IOMMU_UNMAP_DMA iova 0x%llx size 0x%llx: %s",
                        c->label, (unsigned long long)iova, (unsigned long long)size,
                        strerror(errno));
    /* The kernel reports how much it unmapped; less means nothing or part
     * was mapped there. */
    if (unmap.size != size)
        return evr_fail(err, EIO,
                        "%s: VFIO_IOMMU_UNMAP_DMA iova 0x%llx: unmapped 0x%llx of 0x%llx "
                        "bytes (nothing mapped there?)",
                        c->label, (unsigned long long)iova, (unsigned long long)unmap.size,
                        (unsigned long long)size);
    return 0;
}
