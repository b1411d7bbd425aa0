/* How the device model reaches a KVM VM: its fd and the ioctl to call on it.
 * The ioctl is a pointer so that unit tests can record the requests a device
 * would make (GSI routes, irqfds, ioeventfds) and answer them, on a machine
 * without /dev/kvm; in evr-vmm it is ioctl(2) itself. A fd of -1 with the
 * real ioctl is a VM that does not exist: every request fails with EBADF. */
#ifndef EVR_VMM_KVM_VM_H
#define EVR_VMM_KVM_VM_H

#include <sys/ioctl.h>

struct kvm_vm {
    int fd;
    int (*ioctl)(int fd, unsigned long request, void *arg);
};

static inline int kvm_vm_ioctl(const struct kvm_vm *vm, unsigned long request, void *arg)
{
    return vm->ioctl(vm->fd, request, arg);
}

/* ioctl(2) with the signature above. */
int kvm_vm_sys_ioctl(int fd, unsigned long request, void *arg);

#endif
