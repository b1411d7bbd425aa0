/* The passthrough executor on a real host (passthrough.h): VFs carved on
 * the ports' PFs, VF settings over rtnetlink, vfio-pci binding (vfio/), and
 * hot-plug through each running VM's evr-vmm control socket.
 *
 * Carving, at evrd's start, for each port whose appliance entry declares
 * "vfs": N (its "pci" a PF):
 *   1. the PF must offer N VFs (sriov_totalvfs);
 *   2. its network interface is brought up: the PF driver tells a VF it is
 *      ready only from its open path (Linux's igb writes PFRSTD there), and
 *      a VF bound while the PF is down never gets its MAC or a link;
 *   3. sriov_numvfs is made N, with sriov_drivers_autoprobe 0 so no host
 *      driver takes a VF (evr_sriov_set_numvfs); a PF that has N already
 *      (an evrd restart) is left alone, its VFs maybe in running VMs;
 *   4. its VFs are listed by index.
 * A failure names the port and the PF, and the PFs whose count was changed
 * get their old count back.
 *
 * The steps (vf_plan.h):
 *   vf-assign   the VF bound to vfio-pci (unless it is), then its settings:
 *               the given MAC and VLAN, spoof checking on, trust off, no
 *               rate limit, link state as it is; a failed setting unbinds it
 *               again;
 *   vf-set      the settings alone;
 *   vf-release  evr_vf_release: refused while a process holds the VF's
 *               group, else its settings reset to the clean state and the VF
 *               unbound (a host driver that took it is replaced first);
 *   device-add  {"op":"device-add","host":VF} to the VM's control socket;
 *   device-del  {"op":"device-del","host":VF,"timeout_ms":T}: evr-vmm waits
 *               for the guest to eject the function, resets it and gives it
 *               back to vfio-pci; ETIMEDOUT leaves it in the guest;
 *   vm-link     {"op":"link","iface":I,"up":B} to the VM's control socket
 *               (vm_link.h).
 * Each error names the slice and the PCI address. */
#ifndef EVR_ROUTER_VF_HOST_H
#define EVR_ROUTER_VF_HOST_H

#include <stdbool.h>

#include "appliance.h"
#include "common/error.h"
#include "passthrough.h"
#include "vfio/vf_link.h"
#include "vm_supervisor.h"

struct vf_host {
    const char *root; /* "" on the host; a built tree in unit tests */
    const struct evr_appliance *a;
    const struct vm_supervisor *vms;
    struct evr_vf_link *nl;             /* NULL when no port carves VFs */
    int prev_numvfs[EVR_APPL_PORT_MAX]; /* what carving changed; -1: untouched */
};

/* Carves the VFs of every port that declares some, and makes pt the
 * executor of h (call, running, ctx, inv). */
int vf_host_open(struct vf_host *h, const char *root, const struct evr_appliance *a,
                 const struct vm_supervisor *vms, struct evrd_passthrough *pt, struct evr_err *err);

/* Puts back the VF counts carving changed (evrd could not start). */
void vf_host_uncarve(struct vf_host *h, struct evrd_passthrough *pt);

void vf_host_close(struct vf_host *h, struct evrd_passthrough *pt);

json_t *vf_host_call(void *ctx, const json_t *req, struct evr_err *err);
uint64_t vf_host_running(void *ctx);

#endif
