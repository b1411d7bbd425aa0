/* The VFIO calls evr-vmm needs to pass a PCI function to a guest: a
 * container with the type1 IOMMU, the function's group, the device; its
 * regions (info, read, mmap), its interrupts (info, eventfds, loopback
 * trigger), DMA mappings and reset.
 *
 * Every error names the PCI address (or, for the container, its groups)
 * and the failing step, e.g.
 *   "0000:00:04.0: VFIO_DEVICE_GET_REGION_INFO (region 9): Invalid argument". */
#ifndef EVR_VFIO_VFIO_DEVICE_H
#define EVR_VFIO_VFIO_DEVICE_H

#include <linux/vfio.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "pci.h"

#define EVR_VFIO_CONTAINER_GROUPS 16u

struct evr_vfio_container {
    int fd;
    unsigned groups; /* in it; the kernel drops the IOMMU when the last leaves */
    int group_ids[EVR_VFIO_CONTAINER_GROUPS];
    char label[96]; /* "container (groups 4 9)", for messages */
    int iommu_set;  /* VFIO_SET_IOMMU done (after the first group) */
};

struct evr_vfio_group {
    int fd;
    int id;
    struct evr_vfio_container *container;
};

struct evr_vfio_device {
    int fd;
    char addr[EVR_PCI_ADDR_LEN];
    struct vfio_device_info info;
    /* The standard regions' info (BARs, ROM, config, VGA), asked once at
     * open: a region's offset, size and flags do not change while the
     * device is open, and every trapped guest access (config space, an
     * unmapped BAR) would otherwise cost an extra ioctl. region_errno[i] is
     * the errno of that query (0: regions[i] holds the answer). */
    struct vfio_region_info regions[VFIO_PCI_NUM_REGIONS];
    int region_errno[VFIO_PCI_NUM_REGIONS];
};

/* root: "" or "/" on the host, where dev/vfio/ is looked up. */
int evr_vfio_container_open(struct evr_vfio_container *c, const char *root, struct evr_err *err);
void evr_vfio_container_close(struct evr_vfio_container *c);

/* Opens /dev/vfio/<group>, checks that it is viable (every function in it
 * bound to vfio-pci or unbound), puts it into the container and, for the
 * first group, sets the type1 IOMMU. */
int evr_vfio_group_open(struct evr_vfio_container *c, const char *root, int group,
                        struct evr_vfio_group *g, struct evr_err *err);
/* Close a group only after its devices: the SR-IOV and release rules find
 * who uses a function by its open group (proc/<pid>/fd), and a device fd
 * alone does not say which device it is. */
void evr_vfio_group_close(struct evr_vfio_group *g);

int evr_vfio_device_open(struct evr_vfio_group *g, const char *addr, struct evr_vfio_device *d,
                         struct evr_err *err);
void evr_vfio_device_close(struct evr_vfio_device *d);

int evr_vfio_region_info(const struct evr_vfio_device *d, unsigned index,
                         struct vfio_region_info *out, struct evr_err *err);
/* Reads len bytes at off of a region (config space, or a BAR that cannot
 * be mapped). */
int evr_vfio_region_read(const struct evr_vfio_device *d, unsigned index, uint64_t off, void *buf,
                         size_t len, struct evr_err *err);
/* Writes len bytes at off of a region (config space, a BAR that is not
 * mapped); the kernel's vfio-pci filters what reaches the device. */
int evr_vfio_region_write(const struct evr_vfio_device *d, unsigned index, uint64_t off,
                          const void *buf, size_t len, struct evr_err *err);
/* Maps a whole region that allows it; unmap with munmap(*map, *len). */
int evr_vfio_region_mmap(const struct evr_vfio_device *d, unsigned index, void **map, size_t *len,
                         struct evr_err *err);

int evr_vfio_irq_info(const struct evr_vfio_device *d, unsigned index, struct vfio_irq_info *out,
                      struct evr_err *err);
/* Connects vectors start..start+count-1 of an interrupt index to eventfds
 * (-1 leaves a vector unconnected). */
int evr_vfio_irq_set_eventfds(const struct evr_vfio_device *d, unsigned index, unsigned start,
                              unsigned count, const int *fds, struct evr_err *err);
/* Unmasks vector start of an interrupt index whenever fd is written (fd
 * -1: no longer): a level interrupt (INTx) that the host masks at each
 * interrupt is unmasked by the guest's EOI through KVM's resample eventfd. */
int evr_vfio_irq_unmask_eventfd(const struct evr_vfio_device *d, unsigned index, unsigned start,
                                int fd, struct evr_err *err);
/* Fires a connected vector from software, as the device would. */
int evr_vfio_irq_trigger(const struct evr_vfio_device *d, unsigned index, unsigned vector,
                         struct evr_err *err);
/* Disconnects every vector of an interrupt index. */
int evr_vfio_irq_disable(const struct evr_vfio_device *d, unsigned index, struct evr_err *err);

/* Maps size bytes at vaddr to the IOMMU address iova (page aligned). */
int evr_vfio_dma_map(struct evr_vfio_container *c, void *vaddr, uint64_t iova, uint64_t size,
                     int writable, struct evr_err *err);
int evr_vfio_dma_unmap(struct evr_vfio_container *c, uint64_t iova, uint64_t size,
                       struct evr_err *err);

/* Resets the function (FLR or whatever the kernel offers for it). */
int evr_vfio_device_reset(const struct evr_vfio_device *d, struct evr_err *err);

#endif
