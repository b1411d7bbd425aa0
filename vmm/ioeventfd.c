/* KVM_IOEVENTFD requests; see ioeventfd.h. */
#include "ioeventfd.h"

#include <errno.h>
#include <string.h>

int ioeventfd_request(const struct ioeventfd *e, bool deassign, struct kvm_ioeventfd *req)
{
    bool len_ok = e->len == 0 || e->len == 1 || e->len == 2 || e->len == 4 || e->len == 8;

    if (!len_ok || e->efd < 0 || (e->pio && (e->len == 0 || e->addr + e->len > 0x10000)) ||
        (e->match && e->len && e->len < 8 && e->datamatch >> (8 * e->len))) {
        errno = EINVAL;
        return -1;
    }
    memset(req, 0, sizeof(*req));
    req->addr = e->addr;
    req->len = e->len;
    req->fd = e->efd;
    req->datamatch = e->match ? e->datamatch : 0;
    req->flags = (e->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
                 (e->match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
    return 0;
}

static int make(struct kvm_vm *kvm, const struct ioeventfd *e, bool deassign)
{
    struct kvm_ioeventfd req;

    if (ioeventfd_request(e, deassign, &req))
        return -1;
    return kvm_vm_ioctl(kvm, KVM_IOEVENTFD, &req) < 0 ? -1 : 0;
}

int ioeventfd_assign(struct kvm_vm *kvm, const struct ioeventfd *e)
{
    return make(kvm, e, false);
}

int ioeventfd_deassign(struct kvm_vm *kvm, const struct ioeventfd *e)
{
    return make(kvm, e, true);
}
