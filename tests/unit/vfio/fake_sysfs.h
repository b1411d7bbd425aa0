/* A sysfs/procfs tree built in a temporary directory, and a model of the
 * kernel's side of the writes vfio/ makes into it (the test links with
 * --wrap=evr_sysfs_write). The model follows what the real kernel does:
 * sriov_numvfs refuses non-zero to non-zero with EBUSY and creates or
 * removes VFs; VFs are probed by the PF's driver only while
 * sriov_drivers_autoprobe is 1; drivers_probe honours driver_override. */
#ifndef EVR_TEST_FAKE_SYSFS_H
#define EVR_TEST_FAKE_SYSFS_H

#include <stddef.h>

#define FAKE_LOG_MAX 64

struct fake_write {
    char path[256]; /* below the root, e.g. "/sys/bus/pci/drivers_probe" */
    char value[64];
};

struct fake_sysfs {
    char root[256];
    size_t nlog;
    struct fake_write log[FAKE_LOG_MAX];
    /* A write to a path ending in fail_suffix with value fail_value (or any
     * value when fail_value is "") fails with -fail_errno. */
    char fail_suffix[128];
    char fail_value[32];
    int fail_errno;
    /* When set, drivers_probe binds nothing (a driver that refuses). */
    int probe_refuses;
    /* When set, sriov_numvfs takes a write but then reads this value (a
     * driver that enabled another count than asked). */
    char numvfs_reads[8];
};

extern struct fake_sysfs fake;

void fake_setup(void);
void fake_teardown(void);

/* A function with identity, numa node and IOMMU group (-1: none); driver
 * may be NULL (unbound). native_driver is what a probe without override
 * binds. */
void fake_add_fn(const char *addr, const char *vendor, const char *device, const char *cls,
                 const char *driver, int group, const char *native_driver);
void fake_add_netdev(const char *addr, const char *ifname);
/* An SR-IOV PF: VFs get addresses bus:00.<1+i> and groups group_base+i. */
void fake_make_pf(const char *addr, unsigned totalvfs, int vf_group_base);
void fake_add_driver(const char *name);
void fake_bind(const char *addr, const char *driver);
/* A process with /dev/vfio/<group> open as fd 7. */
void fake_add_holder(int pid, const char *comm, int group);

/* Reads a file below the root (trailing newline dropped); "" if absent. */
const char *fake_read(const char *rel);
/* The driver bound to addr, "" when none. */
const char *fake_driver(const char *addr);
void fake_clear_log(void);

#endif
