/* The management port's backend (vmm/vhost_net.h) against a model of the
 * kernel (open and ioctl through struct vhost_net_sys): the tap opened with
 * a 12-byte virtio-net header and no offloads, vhost-net owned and given
 * the guest's memory, features masked and checked, each vring set up with
 * evr-vmm's addresses and the transport's eventfds before the tap goes
 * behind it, stopped with the kernel's base; bad rings and the kernel's
 * refusals named. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_mem.h"
#include "layout.h"
#include "vhost_net.h"

#define KERNEL_FEATURES                                                                            \
    ((1ull << 32) | (1ull << 15) | (1ull << 29) | (1ull << 33) |                                   \
     (1ull << 27)) /* 33, 27: not ours */
#define DEVICE_FEATURES ((1ull << 32) | (1ull << 15) | (1ull << 28) | (1ull << 29))
#define GET_VRING_BASE  77

/* What the kernel was told. */
static struct {
    const char *refuse_path; /* open of this path fails */
    unsigned long refuse;    /* this ioctl fails */
    int tap_fd, vhost_fd;
    short tap_flags;
    char tap_name[IFNAMSIZ];
    int hdr_len;
    unsigned long offload_calls;
    bool owner;
    unsigned nregions;
    struct vhost_memory_region region[2];
    uint64_t features;
    unsigned calls;
    struct vhost_vring_state num, base;
    struct vhost_vring_addr addr;
    struct vhost_vring_file kick, call, backend;
} k;

static int fake_open(const char *path, int flags)
{
    (void)flags;
    if (k.refuse_path && !strcmp(path, k.refuse_path)) {
        errno = ENOENT;
        return -1;
    }
    /* a real descriptor, so that close() works */
    return open("/dev/null", O_RDWR | O_CLOEXEC);
}

static int fake_ioctl(int fd, unsigned long request, void *arg)
{
    k.calls++;
    if (request == k.refuse) {
        errno = EPERM;
        return -1;
    }
    switch (request) {
    case TUNSETIFF: {
        const struct ifreq *r = arg;
        k.tap_fd = fd;
        k.tap_flags = r->ifr_flags;
        memcpy(k.tap_name, r->ifr_name, IFNAMSIZ);
        break;
    }
    case TUNSETVNETHDRSZ:
        k.hdr_len = *(const int *)arg;
        break;
    case TUNSETOFFLOAD:
        assert_null(arg); /* no offloads */
        k.offload_calls++;
        break;
    case VHOST_SET_OWNER:
        k.vhost_fd = fd;
        k.owner = true;
        break;
    case VHOST_GET_FEATURES:
        *(uint64_t *)arg = KERNEL_FEATURES;
        break;
    case VHOST_SET_MEM_TABLE: {
        const struct vhost_memory *m = arg;
        k.nregions = m->nregions;
        memcpy(k.region, m->regions, m->nregions * sizeof(m->regions[0]));
        break;
    }
    case VHOST_SET_FEATURES:
        k.features = *(const uint64_t *)arg;
        break;
    case VHOST_SET_VRING_NUM:
        k.num = *(const struct vhost_vring_state *)arg;
        break;
    case VHOST_SET_VRING_BASE:
        k.base = *(const struct vhost_vring_state *)arg;
        break;
    case VHOST_SET_VRING_ADDR:
        k.addr = *(const struct vhost_vring_addr *)arg;
        break;
    case VHOST_SET_VRING_KICK:
        k.kick = *(const struct vhost_vring_file *)arg;
        break;
    case VHOST_SET_VRING_CALL:
        k.call = *(const struct vhost_vring_file *)arg;
        break;
    case VHOST_NET_SET_BACKEND:
        assert_int_equal(fd, k.vhost_fd);
        k.backend = *(const struct vhost_vring_file *)arg;
        break;
    case VHOST_GET_VRING_BASE:
        ((struct vhost_vring_state *)arg)->num = GET_VRING_BASE;
        break;
    default:
        fail_msg("unexpected ioctl 0x%lx", request);
    }
    return 0;
}

static const struct vhost_net_sys fake_kernel = {.open = fake_open, .ioctl = fake_ioctl};

static struct guest_mem mem;

static int setup(void **state)
{
    char err[256];

    (void)state;
    memset(&k, 0, sizeof(k));
    assert_int_equal(guest_mem_create(&mem, 16 * MIB, false, err, sizeof(err)), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    guest_mem_destroy(&mem);
    return 0;
}

static struct vhost_user_vring ring_at(uint64_t gpa)
{
    return (struct vhost_user_vring){.size = 256,
                                     .desc_gpa = gpa,
                                     .avail_gpa = gpa + 0x1000,
                                     .used_gpa = gpa + 0x2000,
                                     .kick_fd = 40,
                                     .call_fd = 41,
                                     .err_fd = -1};
}

static void sets_up_the_tap_and_the_kernel(void **state)
{
    struct vhost_net vn;
    char err[256];

    (void)state;
    assert_int_equal(
            vhost_net_create(&vn, "mgmt0", &mem, DEVICE_FEATURES, &fake_kernel, err, sizeof(err)),
            0);
    assert_int_equal(k.tap_flags, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    assert_string_equal(k.tap_name, "mgmt0");
    assert_int_equal(k.hdr_len, 12);
    assert_int_equal(k.offload_calls, 1);
    assert_true(k.owner);
    assert_int_not_equal(k.tap_fd, k.vhost_fd);
    /* the offer: the kernel's, masked by what the device may offer */
    assert_int_equal(vhost_net_device_features(&vn), KERNEL_FEATURES & DEVICE_FEATURES);
    /* the guest's RAM at evr-vmm's addresses */
    assert_int_equal(k.nregions, 1);
    assert_int_equal(k.region[0].guest_phys_addr, 0);
    assert_int_equal(k.region[0].memory_size, 16 * MIB);
    assert_int_equal(k.region[0].userspace_addr, (uintptr_t)mem.base);
    vhost_net_destroy(&vn);
}

static void features_and_vrings(void **state)
{
    struct vhost_net vn;
    struct vhost_user_vring r = ring_at(0x10000);
    uint16_t next = 0;
    unsigned calls;
    char err[256];

    (void)state;
    assert_int_equal(
            vhost_net_create(&vn, "mgmt0", &mem, DEVICE_FEATURES, &fake_kernel, err, sizeof(err)),
            0);
    assert_int_equal(vhost_net_set_features(&vn, 1ull << 28, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "features 0x10000000 were never offered"));
    assert_int_equal(vhost_net_set_features(&vn, (1ull << 32) | (1ull << 15), err, sizeof(err)), 0);
    assert_int_equal(k.features, (1ull << 32) | (1ull << 15));

    assert_int_equal(vhost_net_vring_start(&vn, 1, &r, err, sizeof(err)), 0);
    assert_int_equal(k.num.index, 1);
    assert_int_equal(k.num.num, 256);
    assert_int_equal(k.base.num, 0);
    assert_int_equal(k.addr.desc_user_addr, (uintptr_t)mem.base + 0x10000);
    assert_int_equal(k.addr.avail_user_addr, (uintptr_t)mem.base + 0x11000);
    assert_int_equal(k.addr.used_user_addr, (uintptr_t)mem.base + 0x12000);
    assert_int_equal(k.kick.fd, 40);
    assert_int_equal(k.call.fd, 41);
    assert_int_equal(k.backend.index, 1);
    assert_int_equal(k.backend.fd, k.tap_fd);
    assert_int_equal(vhost_net_vring_start(&vn, 1, &r, err, sizeof(err)), -1);

    /* bad rings are refused before the kernel hears of them */
    calls = k.calls;
    r = ring_at(16 * MIB - 0x800);
    assert_int_equal(vhost_net_vring_start(&vn, 0, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not all in guest RAM"));
    r = ring_at(0x10008);
    assert_int_equal(vhost_net_vring_start(&vn, 0, &r, err, sizeof(err)), -1);
    r = ring_at(0x10000);
    assert_int_equal(vhost_net_vring_start(&vn, 2, &r, err, sizeof(err)), -1);
    assert_int_equal(k.calls, calls);

    /* stop: the tap goes from behind the queue, the kernel says where it got */
    assert_int_equal(vhost_net_vring_stop(&vn, 1, &next, err, sizeof(err)), 0);
    assert_int_equal(k.backend.fd, -1);
    assert_int_equal(next, GET_VRING_BASE);
    assert_int_equal(vhost_net_vring_stop(&vn, 1, &next, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "queue 1 is not started"));
    vhost_net_destroy(&vn);
}

static void refusals_name_what_failed(void **state)
{
    struct vhost_net vn;
    char err[256];

    (void)state;
    k.refuse_path = "/dev/vhost-net";
    assert_int_equal(
            vhost_net_create(&vn, "mgmt0", &mem, DEVICE_FEATURES, &fake_kernel, err, sizeof(err)),
            -1);
    assert_non_null(strstr(err, "tap mgmt0: /dev/vhost-net (modprobe vhost_net)"));
    k.refuse_path = NULL;
    k.refuse = TUNSETIFF;
    assert_int_equal(
            vhost_net_create(&vn, "mgmt0", &mem, DEVICE_FEATURES, &fake_kernel, err, sizeof(err)),
            -1);
    assert_non_null(strstr(err, "tap mgmt0: TUNSETIFF"));
    k.refuse = VHOST_SET_MEM_TABLE;
    assert_int_equal(
            vhost_net_create(&vn, "mgmt0", &mem, DEVICE_FEATURES, &fake_kernel, err, sizeof(err)),
            -1);
    assert_non_null(strstr(err, "VHOST_SET_MEM_TABLE"));
    k.refuse = 0;
    assert_int_equal(vhost_net_create(&vn, "a-name-too-long-for-linux", &mem, DEVICE_FEATURES,
                                      &fake_kernel, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "not an interface name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(sets_up_the_tap_and_the_kernel, setup, teardown),
            cmocka_unit_test_setup_teardown(features_and_vrings, setup, teardown),
            cmocka_unit_test_setup_teardown(refusals_name_what_failed, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
