/* IOMMU groups as the host sees them: which functions share one, whether
 * the group can be handed to VFIO, and which process holds it open. */
#ifndef EVR_VFIO_GROUP_H
#define EVR_VFIO_GROUP_H

#include <stddef.h>

#include "common/error.h"

/* The drivers a function may be bound to while another function of its
 * IOMMU group is given to a guest. The kernel (6.1) accepts drivers that
 * declare driver_managed_dma, i.e. that do no DMA of their own through the
 * group: vfio-pci, pci-stub and pcieport (PCIe ports sharing a group with
 * the endpoints below them). Anything else keeps the group from being
 * viable. */
#define EVR_VFIO_DRIVER     "vfio-pci"
#define EVR_STUB_DRIVER     "pci-stub"
#define EVR_PCIEPORT_DRIVER "pcieport"

/* Refuses (naming the function and its driver) when a function of the group
 * other than `self` is bound to a host driver, which would keep the group
 * from being viable and leave the host driver sharing DMA with a guest.
 * `what` starts the message ("cannot bind 0000:00:04.0 to vfio-pci"). */
int evr_iommu_group_check_viable(const char *root, int group, const char *self, const char *what,
                                 struct evr_err *err);

/* Names the processes that have /dev/vfio/<group> open ("evr-vmm (pid 812)",
 * comma-separated), found through proc/<pid>/fd below root; "" when none. */
int evr_iommu_group_holders(const char *root, int group, char *buf, size_t len,
                            struct evr_err *err);

#endif
