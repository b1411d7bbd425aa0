/* SR-IOV lifecycle (sriov.h). */
#include "sriov.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "sysfs_io.h"

int evr_sriov_vfs(const char *root, const char *pf, struct evr_vf_ref *vfs, size_t max,
                  size_t *count, struct evr_err *err)
{
    struct evr_pci_fn fn;
    unsigned i;

    if (evr_pci_fn_read(root, pf, &fn, err))
        return -1;
    if (fn.sriov_totalvfs == 0)
        return evr_fail(err, EINVAL, "%s: not an SR-IOV physical function (no sriov_totalvfs)", pf);
    if (fn.sriov_numvfs > max)
        return evr_fail(err, ENOSPC, "%s: has %u VFs, more than the %zu asked for", pf,
                        fn.sriov_numvfs, max);
    for (i = 0; i < fn.sriov_numvfs; i++) {
        char path[PATH_MAX];
        int rc;

        if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/virtfn%u", pf, i))
            return evr_fail(err, ENAMETOOLONG, "%s: path of virtfn%u is too long", pf, i);
        rc = evr_sysfs_link_name(path, vfs[i].addr, sizeof(vfs[i].addr));
        if (rc < 0)
            return evr_fail(err, -rc, "%s: VF %u: cannot read %s: %s", pf, i, path, strerror(-rc));
        if (evr_pci_addr_check(vfs[i].addr, err))
            return -1;
        vfs[i].index = i;
    }
    *count = fn.sriov_numvfs;
    return 0;
}

/* Refuses when a VF is bound to vfio-pci, naming it and who holds it. */
static int check_none_assigned(const char *root, const char *pf, unsigned from, unsigned to,
                               struct evr_err *err)
{
    struct evr_vf_ref vfs[256];
    size_t n, i;

    if (evr_sriov_vfs(root, pf, vfs, sizeof(vfs) / sizeof(vfs[0]), &n, err))
        return -1;
    for (i = 0; i < n; i++) {
        struct evr_pci_fn vf;
        char holders[256];

        if (evr_pci_fn_read(root, vfs[i].addr, &vf, err))
            return -1;
        if (strcmp(vf.driver, EVR_VFIO_DRIVER) != 0)
            continue;
        if (evr_iommu_group_holders(root, vf.iommu_group, holders, sizeof(holders), err))
            return -1;
        if (holders[0])
            return evr_fail(err, EBUSY,
                            "cannot change %s from %u to %u VFs: VF %u (%s) is assigned: "
                            "/dev/vfio/%d is held by %s",
                            pf, from, to, vfs[i].index, vfs[i].addr, vf.iommu_group, holders);
        return evr_fail(err, EBUSY,
                        "cannot change %s from %u to %u VFs: VF %u (%s) is assigned: "
                        "bound to vfio-pci (no process holds /dev/vfio/%d); release it "
                        "first",
                        pf, from, to, vfs[i].index, vfs[i].addr, vf.iommu_group);
    }
    return 0;
}

static int write_numvfs(const char *root, const char *pf, unsigned n, struct evr_err *err)
{
    char path[PATH_MAX], value[16], back[16];
    int rc;

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/sriov_numvfs", pf))
        return evr_fail(err, ENAMETOOLONG, "%s: path of sriov_numvfs is too long", pf);
    snprintf(value, sizeof(value), "%u", n);
    rc = evr_sysfs_write(path, value);
    if (rc < 0)
        return evr_fail(err, -rc, "%s: writing %u to sriov_numvfs failed: %s", pf, n,
                        strerror(-rc));
    rc = evr_sysfs_read(path, back, sizeof(back));
    if (rc < 0)
        return evr_fail(err, -rc, "%s: cannot read back sriov_numvfs: %s", pf, strerror(-rc));
    if (strcmp(back, value) != 0)
        return evr_fail(err, EIO, "%s: wrote %u to sriov_numvfs but it reads '%s'", pf, n, back);
    return 0;
}

int evr_sriov_set_numvfs(const char *root, const char *pf, unsigned numvfs, struct evr_err *err)
{
    struct evr_pci_fn fn;
    char path[PATH_MAX];
    int rc;

    if (evr_pci_fn_read(root, pf, &fn, err))
        return -1;
    if (fn.is_vf)
        return evr_fail(err, EINVAL, "%s: is a VF (of %s); only a PF has VFs", pf, fn.physfn);
    if (fn.sriov_totalvfs == 0)
        return evr_fail(err, EINVAL, "%s: not an SR-IOV physical function (no sriov_totalvfs)", pf);
    if (numvfs > fn.sriov_totalvfs)
        return evr_fail(err, EINVAL, "%s: asked for %u VFs, but sriov_totalvfs is %u", pf, numvfs,
                        fn.sriov_totalvfs);
    if (numvfs == fn.sriov_numvfs)
        return 0;
    if (fn.sriov_numvfs > 0 && check_none_assigned(root, pf, fn.sriov_numvfs, numvfs, err))
        return -1;

    if (numvfs > 0) {
        if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/sriov_drivers_autoprobe",
                     pf))
            return evr_fail(err, ENAMETOOLONG, "%s: path of sriov_drivers_autoprobe is too long",
                            pf);
        rc = evr_sysfs_write(path, "0");
        if (rc < 0)
            return evr_fail(err, -rc, "%s: cannot turn sriov_drivers_autoprobe off: %s", pf,
                            strerror(-rc));
    }
    if (fn.sriov_numvfs > 0 && numvfs > 0) {
        if (write_numvfs(root, pf, 0, err))
            return -1;
        if (write_numvfs(root, pf, numvfs, err)) {
            struct evr_err undo;
            if (write_numvfs(root, pf, fn.sriov_numvfs, &undo) && err)
                snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
                         "; restoring %u VFs failed too: %s", fn.sriov_numvfs, undo.msg);
            return -1;
        }
        return 0;
    }
    return write_numvfs(root, pf, numvfs, err);
}
