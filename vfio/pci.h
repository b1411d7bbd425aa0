/* PCI functions as sysfs describes them: identity, driver, IOMMU group,
 * NUMA node, network interfaces and the SR-IOV relation between a physical
 * function (PF) and its virtual functions (VFs).
 *
 * Every call takes `root`, the directory under which sys/ (and, for the
 * calls that look for processes, proc/) are found: "" or "/" on the host,
 * a tree built by the test in unit tests. */
#ifndef EVR_VFIO_PCI_H
#define EVR_VFIO_PCI_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define EVR_PCI_ADDR_LEN   13u /* "0000:00:04.0" and its NUL */
#define EVR_PCI_NETDEVS    4u  /* interfaces remembered per function */
#define EVR_PCI_DRIVER_LEN 64u

struct evr_pci_fn {
    char addr[EVR_PCI_ADDR_LEN];
    uint16_t vendor;
    uint16_t device;
    uint32_t class_code;                      /* 24 bits: class, subclass, prog-if */
    char driver[EVR_PCI_DRIVER_LEN];          /* "" when no driver is bound */
    char driver_override[EVR_PCI_DRIVER_LEN]; /* "" when none is set */
    int iommu_group;                          /* -1 without an IOMMU */
    int numa_node;                            /* -1 when the platform does not say */
    size_t netdev_count;
    char netdevs[EVR_PCI_NETDEVS][IF_NAMESIZE];
    /* SR-IOV: a PF has sriov_totalvfs > 0; a VF has is_vf and its PF. */
    unsigned sriov_totalvfs;
    unsigned sriov_numvfs;
    bool is_vf;
    char physfn[EVR_PCI_ADDR_LEN]; /* the PF of a VF */
    int vf_index;                  /* index of a VF under its PF, else -1 */
};

/* Checks the canonical form "dddd:bb:dd.f" (lower-case hex, device <= 1f,
 * function <= 7), as sysfs names functions. */
int evr_pci_addr_check(const char *addr, struct evr_err *err);

/* Reads one function. */
int evr_pci_fn_read(const char *root, const char *addr, struct evr_pci_fn *out,
                    struct evr_err *err);

/* Reads every function, sorted by address. *out is malloc'd (free() it). */
int evr_pci_fn_list(const char *root, struct evr_pci_fn **out, size_t *count, struct evr_err *err);

#endif
