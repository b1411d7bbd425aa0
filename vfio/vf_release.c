/* VF give-back: settings reset, then binding release (vf_release.h). */
#include "vf_release.h"

#include <string.h>

#include "group.h"
#include "pci.h"

int evr_vf_release(const char *root, struct evr_vf_link *l, const struct evr_vfio_binding *b,
                   struct evr_err *err)
{
    struct evr_pci_fn vf, pf;
    char holders[256];

    if (evr_pci_fn_read(root, b->addr, &vf, err))
        return -1;
    if (!vf.is_vf)
        return evr_fail(err, EINVAL, "cannot release %s as a VF: it is not a VF", b->addr);
    if (evr_iommu_group_holders(root, vf.iommu_group, holders, sizeof(holders), err))
        return -1;
    if (holders[0])
        return evr_fail(err, EBUSY, "cannot release %s: /dev/vfio/%d is held by %s", b->addr,
                        vf.iommu_group, holders);
    if (evr_pci_fn_read(root, vf.physfn, &pf, err))
        return -1;
    if (pf.netdev_count > 0) {
        if (!l)
            return evr_fail(err, EINVAL,
                            "cannot release %s: its PF %s has interface %s, and no "
                            "rtnetlink socket was given to reset the VF's settings",
                            b->addr, pf.addr, pf.netdevs[0]);
        if (evr_vf_reset(l, pf.netdevs[0], (unsigned)vf.vf_index, err))
            return -1;
    }
    return evr_vfio_release(root, b, err);
}
