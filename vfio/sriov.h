/* SR-IOV lifecycle of a physical function: how many VFs it has, which they
 * are, and changing that number under the kernel's and evr's rules:
 *
 *  - VFs are created with sriov_drivers_autoprobe off, so no host driver
 *    grabs a VF before evr decides where it goes;
 *  - the kernel refuses to change a non-zero count to another non-zero
 *    count (EBUSY), so such a change goes through 0;
 *  - no change is made while a VF is assigned (bound to vfio-pci): removing
 *    it would pull a device out from under a guest. The refusal names the
 *    VF and the process holding its group. */
#ifndef EVR_VFIO_SRIOV_H
#define EVR_VFIO_SRIOV_H

#include <stddef.h>

#include "common/error.h"
#include "pci.h"

struct evr_vf_ref {
    unsigned index;
    char addr[EVR_PCI_ADDR_LEN];
};

/* The PF's current VFs by index. *count is set to how many exist; fails
 * when more than max exist. */
int evr_sriov_vfs(const char *root, const char *pf, struct evr_vf_ref *vfs, size_t max,
                  size_t *count, struct evr_err *err);

/* Sets the PF's VF count to numvfs (0 disables SR-IOV). On failure the
 * previous count is restored when the change had already gone through 0. */
int evr_sriov_set_numvfs(const char *root, const char *pf, unsigned numvfs, struct evr_err *err);

#endif
