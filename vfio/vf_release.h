/* Giving an assigned VF back: its network settings are reset to
 * evr_vf_clean through its PF's interface, so nothing (MAC, VLAN, rate
 * limits, trust) leaks to the next owner, and then its vfio-pci binding is
 * released. Refused, before anything changes, while a process holds the
 * VF's IOMMU group (it would still be using the VF). A PF without a network
 * interface (a storage PF) has no VF settings: only the binding is
 * released. */
#ifndef EVR_VFIO_VF_RELEASE_H
#define EVR_VFIO_VF_RELEASE_H

#include "bind.h"
#include "common/error.h"
#include "vf_link.h"

int evr_vf_release(const char *root, struct evr_vf_link *l, const struct evr_vfio_binding *b,
                   struct evr_err *err);

#endif
