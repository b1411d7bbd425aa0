/* The kernel's vhost-net (/dev/vhost-net) with a host tap as the backend of
 * one virtio-net device: the management port of a router engine. The
 * kernel moves frames between the guest's rings and the tap, as DPDK does
 * for a vhost-user interface; evr-vmm only sets it up.
 *
 * The same contract as vhost_user.h without the connection (the kernel is
 * always there): features the kernel offers, the driver's features, each
 * queue started with its rings, kick and call eventfds and stopped with the
 * index to resume from. The tap is opened (or created) by name with a
 * 12-byte virtio-net header and no offloads; the host brings it up and
 * addresses it.
 *
 * The kernel is reached through struct vhost_net_sys (open and ioctl), so
 * a unit test can stand in for it, as kvm_vm.h does for KVM.
 *
 * Not thread-safe: the device's lock serialises the calls. */
#ifndef EVR_VMM_VHOST_NET_H
#define EVR_VMM_VHOST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "vhost_user.h"

#define VHOST_NET_QUEUES 2 /* one receive/transmit pair per vhost-net instance */

struct vhost_net_sys {
    int (*open)(const char *path, int flags);
    int (*ioctl)(int fd, unsigned long request, void *arg);
};

/* open(2) and ioctl(2). */
extern const struct vhost_net_sys vhost_net_kernel;

struct vhost_net {
    const struct vhost_net_sys *sys;
    int vhost_fd;
    int tap_fd;
    char ifname[16];
    const struct guest_mem *mem;
    uint64_t kernel_features; /* the kernel's offer, masked by what the device may offer */
    bool started[VHOST_NET_QUEUES];
};

/* Opens the tap ifname (created if absent, removed with the process unless
 * it is persistent) and /dev/vhost-net, becomes its owner and gives it the
 * guest's memory. features: what the device may offer. -1 with a message. */
int vhost_net_create(struct vhost_net *vn, const char *ifname, const struct guest_mem *mem,
                     uint64_t features, const struct vhost_net_sys *sys, char *err, size_t errlen);
void vhost_net_destroy(struct vhost_net *vn);

uint64_t vhost_net_device_features(const struct vhost_net *vn);
int vhost_net_set_features(struct vhost_net *vn, uint64_t features, char *err, size_t errlen);

/* Queue index (0 receive, 1 transmit) on the kernel, then the tap behind
 * it. -1 with a message for a bad queue (rings outside RAM, index) or a
 * kernel refusal. */
int vhost_net_vring_start(struct vhost_net *vn, unsigned index, const struct vhost_user_vring *ring,
                          char *err, size_t errlen);
int vhost_net_vring_stop(struct vhost_net *vn, unsigned index, uint16_t *next_avail, char *err,
                         size_t errlen);

#endif
