/* Giving a PCI function to vfio-pci and back.
 *
 * Binding sets driver_override to vfio-pci, unbinds the current driver and
 * asks the PCI bus to probe the function again, so that only vfio-pci can
 * take it. Release undoes it: the override is put back as it was, vfio-pci
 * lets go, and the function returns to the driver it had before (or stays
 * unbound if it had none, as VFs created with autoprobe off do).
 *
 * Binding is refused while another function of the same IOMMU group is
 * bound to a host driver; release is refused while a process holds the
 * group open (vfio-pci would block until it lets go). Each refusal names
 * the function or process in the way. Nothing is left half-done: a failed
 * bind puts the function back as it was. */
#ifndef EVR_VFIO_BIND_H
#define EVR_VFIO_BIND_H

#include "common/error.h"
#include "pci.h"

/* What release needs to give a function back. */
struct evr_vfio_binding {
    char addr[EVR_PCI_ADDR_LEN];
    char prev_driver[EVR_PCI_DRIVER_LEN];   /* "" when it was unbound */
    char prev_override[EVR_PCI_DRIVER_LEN]; /* "" when none was set */
    int iommu_group;
};

int evr_vfio_bind(const char *root, const char *addr, struct evr_vfio_binding *out,
                  struct evr_err *err);

int evr_vfio_release(const char *root, const struct evr_vfio_binding *b, struct evr_err *err);

#endif
