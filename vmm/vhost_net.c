/* vhost-net with a tap; see vhost_net.h. */
#include "vhost_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VNET_HDR_LEN 12 /* struct virtio_net_hdr_mrg_rxbuf: VERSION_1's header */

static int sys_open(const char *path, int flags)
{
    return open(path, flags);
}

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

const struct vhost_net_sys vhost_net_kernel = {.open = sys_open, .ioctl = sys_ioctl};

static int fail(char *err, size_t errlen, const char *ifname, const char *what)
{
    snprintf(err, errlen, "tap %s: %s: %s", ifname, what, strerror(errno));
    return -1;
}

static int open_tap(struct vhost_net *vn, char *err, size_t errlen)
{
    struct ifreq ifr = {0};
    int hdr = VNET_HDR_LEN;

    vn->tap_fd = vn->sys->open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (vn->tap_fd < 0)
        return fail(err, errlen, vn->ifname, "/dev/net/tun");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    memcpy(ifr.ifr_name, vn->ifname, strlen(vn->ifname));
    if (vn->sys->ioctl(vn->tap_fd, TUNSETIFF, &ifr) < 0)
        return fail(err, errlen, vn->ifname, "TUNSETIFF");
    /* No offloads: the guest is offered none, so the tap must not hand it
     * large or unchecksummed frames either. */
    if (vn->sys->ioctl(vn->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
        vn->sys->ioctl(vn->tap_fd, TUNSETOFFLOAD, 0) < 0)
        return fail(err, errlen, vn->ifname, "TUNSETVNETHDRSZ/TUNSETOFFLOAD");
    return 0;
}

static int send_mem_table(struct vhost_net *vn, char *err, size_t errlen)
{
    struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
    unsigned n = guest_mem_regions(vn->mem, r);
    struct vhost_memory *m = calloc(1, sizeof(*m) + n * sizeof(m->regions[0]));
    int rc;

    if (!m) {
        snprintf(err, errlen, "tap %s: out of memory", vn->ifname);
        return -1;
    }
    m->nregions = n;
    for (unsigned i = 0; i < n; i++) {
        m->regions[i].guest_phys_addr = r[i].gpa;
        m->regions[i].memory_size = r[i].size;
        m->regions[i].userspace_addr = (uintptr_t)r[i].host;
    }
    rc = vn->sys->ioctl(vn->vhost_fd, VHOST_SET_MEM_TABLE, m);
    free(m);
    return rc < 0 ? fail(err, errlen, vn->ifname, "VHOST_SET_MEM_TABLE") : 0;
}

int vhost_net_create(struct vhost_net *vn, const char *ifname, const struct guest_mem *mem,
                     uint64_t features, const struct vhost_net_sys *sys, char *err, size_t errlen)
{
    uint64_t offered;

    memset(vn, 0, sizeof(*vn));
    vn->sys = sys;
    vn->vhost_fd = vn->tap_fd = -1;
    vn->mem = mem;
    if (strlen(ifname) >= sizeof(vn->ifname) || !ifname[0]) {
        snprintf(err, errlen, "tap '%s': not an interface name (1 to 15 bytes)", ifname);
        return -1;
    }
    snprintf(vn->ifname, sizeof(vn->ifname), "%s", ifname);
    if (open_tap(vn, err, errlen))
        goto fail;
    vn->vhost_fd = vn->sys->open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
    if (vn->vhost_fd < 0) {
        fail(err, errlen, vn->ifname, "/dev/vhost-net (modprobe vhost_net)");
        goto fail;
    }
    if (vn->sys->ioctl(vn->vhost_fd, VHOST_SET_OWNER, NULL) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_GET_FEATURES, &offered) < 0) {
        fail(err, errlen, vn->ifname, "VHOST_SET_OWNER/VHOST_GET_FEATURES");
        goto fail;
    }
    vn->kernel_features = offered & features;
    if (send_mem_table(vn, err, errlen))
        goto fail;
    return 0;
fail:
    vhost_net_destroy(vn);
    return -1;
}

void vhost_net_destroy(struct vhost_net *vn)
{
    if (vn->vhost_fd >= 0)
        close(vn->vhost_fd);
    if (vn->tap_fd >= 0)
        close(vn->tap_fd);
    vn->vhost_fd = vn->tap_fd = -1;
}

uint64_t vhost_net_device_features(const struct vhost_net *vn)
{
    return vn->kernel_features;
}

int vhost_net_set_features(struct vhost_net *vn, uint64_t features, char *err, size_t errlen)
{
    if (features & ~vn->kernel_features) {
        snprintf(err, errlen, "tap %s: features 0x%llx were never offered", vn->ifname,
                 (unsigned long long)(features & ~vn->kernel_features));
        return -1;
    }
    if (vn->sys->ioctl(vn->vhost_fd, VHOST_SET_FEATURES, &features) < 0)
        return fail(err, errlen, vn->ifname, "VHOST_SET_FEATURES");
    return 0;
}

int vhost_net_vring_start(struct vhost_net *vn, unsigned index, const struct vhost_user_vring *r,
                          char *err, size_t errlen)
{
    struct vhost_vring_state num = {.index = index, .num = r->size};
    struct vhost_vring_state base = {.index = index, .num = r->base};
    uint64_t desc, avail, used;
    struct vhost_vring_addr addr = {.index = index};
    struct vhost_vring_file kick = {.index = index, .fd = r->kick_fd};
    struct vhost_vring_file call = {.index = index, .fd = r->call_fd};
    struct vhost_vring_file backend = {.index = index, .fd = vn->tap_fd};

    if (index >= VHOST_NET_QUEUES || vn->started[index]) {
        snprintf(err, errlen, "tap %s: queue %u is not a queue to start", vn->ifname, index);
        return -1;
    }
    /* The same translation and checks as vhost-user's. */
    if (vhost_user_ring_uaddrs(vn->mem, r, &desc, &avail, &used)) {
        snprintf(err, errlen,
                 "tap %s: queue %u rings are misaligned or not all in guest RAM (desc 0x%llx, "
                 "avail 0x%llx, used 0x%llx, size %u)",
                 vn->ifname, index, (unsigned long long)r->desc_gpa,
                 (unsigned long long)r->avail_gpa, (unsigned long long)r->used_gpa, r->size);
        return -1;
    }
    addr.desc_user_addr = desc;
    addr.avail_user_addr = avail;
    addr.used_user_addr = used;
    if (vn->sys->ioctl(vn->vhost_fd, VHOST_SET_VRING_NUM, &num) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_SET_VRING_BASE, &base) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_SET_VRING_CALL, &call) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_NET_SET_BACKEND, &backend) < 0)
        return fail(err, errlen, vn->ifname, "setting up a vring");
    vn->started[index] = true;
    return 0;
}

int vhost_net_vring_stop(struct vhost_net *vn, unsigned index, uint16_t *next_avail, char *err,
                         size_t errlen)
{
    struct vhost_vring_file backend = {.index = index, .fd = -1};
    struct vhost_vring_state base = {.index = index};

    err[0] = '\0';
    if (index >= VHOST_NET_QUEUES || !vn->started[index]) {
        snprintf(err, errlen, "tap %s: queue %u is not started", vn->ifname, index);
        return -1;
    }
    vn->started[index] = false;
    if (vn->sys->ioctl(vn->vhost_fd, VHOST_NET_SET_BACKEND, &backend) < 0 ||
        vn->sys->ioctl(vn->vhost_fd, VHOST_GET_VRING_BASE, &base) < 0)
        return fail(err, errlen, vn->ifname, "stopping a vring");
    *next_avail = (uint16_t)base.num;
    return 0;
}
