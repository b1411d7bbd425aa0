/* virtio-net over vhost-user (vmm/virtio_net.h) on the fake KVM machine with
 * a memfd for RAM: the configuration space (MAC, status, queue pairs), the
 * features offered, the interfaces in the config's order, and the link
 * following the backend and the controller with a configuration interrupt
 * at each change; a fake backend on the interface's socket answers the
 * frontend's negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_kvm.h"
#include "guest_mem.h"
#include "layout.h"
#include "msix.h"
#include "pci.h"
#include "vhost_user_msg.h"
#include "virtio_net.h"
#include "virtio_guest.h"
#include "virtio_pci.h"

#define BACKEND_FEATURES                                                                           \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |                             \
     (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << 0) /* CSUM: evr-vmm does not carry it */)

struct fixture {
    char dir[64];
    struct vmm_config cfg;
    struct guest_mem mem;
    struct machine m;
    struct pci_function *fn;
    struct virtio_guest g; /* BAR 0 on the machine's MMIO bus */
};

static int setup_n(void **state, unsigned nnet)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/evr-virtio-net-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    config_defaults(&f->cfg);
    for (unsigned i = 0; i < nnet; i++) {
        snprintf(f->cfg.net[i].vhost_user, sizeof(f->cfg.net[i].vhost_user), "%s/vm.%u.sock",
                 f->dir, i);
        assert_int_equal(
                config_parse_mac(i ? "02:00:00:00:00:02" : "52:54:00:12:34:56", f->cfg.net[i].mac),
                0);
    }
    f->cfg.nnet = nnet;
    assert_int_equal(guest_mem_create(&f->mem, 16 * MIB, false, err, sizeof(err)), 0);
    if (machine_init(&f->m, &f->cfg, fake_kvm_vm(), &f->mem, NULL, NULL, err, sizeof(err)))
        fail_msg("machine_init: %s", err);
    f->fn = virtio_net_function(&f->m, 0);
    assert_non_null(f->fn);
    pci_cfg_write(f->m.pci, f->fn->slot, 0, PCI_COMMAND, 2,
                  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    f->g = (struct virtio_guest){&f->m.mmio, f->fn->bar[VIRTIO_PCI_BAR].mapped};
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_n(state, 1);
}

static int setup_two(void **state)
{
    return setup_n(state, 2);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    machine_destroy(&f->m);
    guest_mem_destroy(&f->mem);
    rmdir(f->dir); /* the sockets went with their devices */
    free(f);
    return 0;
}

static uint16_t link_status(struct fixture *f)
{
    return (uint16_t)rd(&f->g, VIRTIO_PCI_DEVICE_OFF + VIRTIO_NET_CFG_STATUS, 2);
}

/* The driver up to DRIVER_OK, with configuration interrupts on vector 0. */
static void driver_up(struct fixture *f, uint64_t features)
{
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0);
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 0);
    wr(&f->g, VIRTIO_COMMON_GF, 4, (uint32_t)features);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 1);
    wr(&f->g, VIRTIO_COMMON_GF, 4, features >> 32);
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0x0b);
    assert_true(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
    wr(&f->g, VIRTIO_COMMON_MSIX, 2, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_MSIX, 2), 0);
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0x0f);
}

/* Waits (bounded) until the interface's backend is there or gone. */
static void wait_backend(struct fixture *f, bool want)
{
    struct virtio_net_link l = {0};

    for (int i = 0; i < 500; i++) {
        assert_int_equal(virtio_net_get_link(&f->m, 0, &l), 0);
        if (l.backend == want)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    fail_msg("the backend never %s", want ? "connected" : "left");
}

static void expect(int sock, uint32_t request)
{
    struct vhost_user_msg msg;
    char err[256], name[32];

    if (vhost_user_msg_recv(sock, &msg, 5000, err, sizeof(err)))
        fail_msg("backend: %s", err);
    vhost_user_msg_close_fds(&msg);
    if (msg.hdr.request != request)
        fail_msg("backend: got %s", vhost_user_request_name(msg.hdr.request, name, sizeof(name)));
}

/* A backend connects and answers the negotiation: GET_FEATURES, SET_OWNER,
 * then SET_FEATURES (the driver's, replayed) when the driver has set them. */
static int backend_connect(struct fixture *f, bool features_set)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    uint64_t features = BACKEND_FEATURES;
    struct vhost_user_msg reply;
    char err[256];
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(s >= 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->cfg.net[0].vhost_user);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
    expect(s, VHOST_USER_GET_FEATURES);
    vhost_user_msg_init(&reply, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY,
                        &features, sizeof(features), NULL, 0);
    assert_int_equal(vhost_user_msg_send(s, &reply, 5000, err, sizeof(err)), 0);
    expect(s, VHOST_USER_SET_OWNER);
    if (features_set)
        expect(s, VHOST_USER_SET_FEATURES);
    wait_backend(f, true);
    return s;
}

static void config_space_has_mac_status_and_pairs(void **state)
{
    struct fixture *f = *state;
    uint64_t offered;

    assert_int_equal(pci_get(f->fn, PCI_DEVICE_ID, 2), 0x1041);
    assert_int_equal(pci_get(f->fn, PCI_CLASS_PROG + 1, 2), 0x0200); /* Ethernet */
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(rd(&f->g, VIRTIO_PCI_DEVICE_OFF + i, 1), f->cfg.net[0].mac[i]);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_DEVICE_OFF, 4), 0x12005452);
    assert_int_equal(link_status(f), 0); /* no backend yet */
    assert_int_equal(rd(&f->g, VIRTIO_PCI_DEVICE_OFF + VIRTIO_NET_CFG_MAX_PAIRS, 2), 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_NUMQ, 2), 2);
    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 0);
    offered = rd(&f->g, VIRTIO_COMMON_DF, 4);
    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 1);
    offered |= rd(&f->g, VIRTIO_COMMON_DF, 4) << 32;
    assert_true(offered & (1ull << VIRTIO_F_VERSION_1));
    assert_true(offered & (1ull << VIRTIO_NET_F_MAC));
    assert_true(offered & (1ull << VIRTIO_NET_F_STATUS));
    assert_true(offered & (1ull << VIRTIO_NET_F_MRG_RXBUF));
    assert_false(offered & 1ull);         /* no checksum offload */
    assert_false(offered & (1ull << 22)); /* no MQ */
    assert_false(offered & (1ull << 30)); /* bit 30 is vhost-user's own */
}

static void link_follows_backend_and_controller(void **state)
{
    struct fixture *f = *state;
    int cfg_fd = msix_vector_eventfd(f->fn->msix, 0);
    struct virtio_net_link l;
    uint64_t offered;
    char err[128];
    int s;

    driver_up(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) |
                         (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MRG_RXBUF));
    eventfd_drain(cfg_fd);
    s = backend_connect(f, true);
    assert_int_equal(link_status(f), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(eventfd_drain(cfg_fd), 1);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_CONFIG);
    /* the offer is now the backend's, masked: EVENT_IDX yes, CSUM no */
    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 0);
    offered = rd(&f->g, VIRTIO_COMMON_DF, 4);
    assert_true(offered & (1ull << VIRTIO_RING_F_EVENT_IDX));
    assert_false(offered & (1ull << VIRTIO_RING_F_INDIRECT));
    assert_false(offered & 1ull);

    /* the controller sets it down, then up */
    assert_int_equal(virtio_net_set_link(&f->m, 0, false, &l, err, sizeof(err)), 0);
    assert_false(l.admin_up);
    assert_true(l.backend);
    assert_false(l.up);
    assert_int_equal(link_status(f), 0);
    assert_int_equal(eventfd_drain(cfg_fd), 1);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_CONFIG);
    /* the same state again: nothing changes, no interrupt */
    assert_int_equal(virtio_net_set_link(&f->m, 0, false, &l, err, sizeof(err)), 0);
    assert_int_equal(eventfd_drain(cfg_fd), 0);
    assert_int_equal(virtio_net_set_link(&f->m, 0, true, &l, err, sizeof(err)), 0);
    assert_true(l.up);
    assert_int_equal(link_status(f), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(eventfd_drain(cfg_fd), 1);

    /* the backend leaves: link down, with an interrupt */
    close(s);
    wait_backend(f, false);
    assert_int_equal(link_status(f), 0);
    assert_int_equal(eventfd_drain(cfg_fd), 1);
    /* set down while it is gone, then it comes back: still down */
    assert_int_equal(virtio_net_set_link(&f->m, 0, false, &l, err, sizeof(err)), 0);
    assert_int_equal(eventfd_drain(cfg_fd), 0);
    s = backend_connect(f, true);
    assert_int_equal(link_status(f), 0);
    assert_int_equal(virtio_net_set_link(&f->m, 0, true, &l, err, sizeof(err)), 0);
    assert_int_equal(link_status(f), VIRTIO_NET_S_LINK_UP);
    close(s);
    wait_backend(f, false);

    /* no such interface */
    assert_int_equal(virtio_net_set_link(&f->m, 1, false, &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no interface 1"));
    assert_int_equal(virtio_net_get_link(&f->m, 1, &l), -1);
}

static void rings_outside_ram_need_a_reset(void **state)
{
    struct fixture *f = *state;

    driver_up(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 0);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 256);
    wr(&f->g, VIRTIO_COMMON_Q_DESC, 8,
       16 * MIB - 0x800); /* 4 KiB of descriptors run past 16 MiB of RAM */
    wr(&f->g, VIRTIO_COMMON_Q_AVAIL, 8, 0x1000);
    wr(&f->g, VIRTIO_COMMON_Q_USED, 8, 0x2000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    assert_true(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 0);
    /* after a reset the same queue inside RAM starts (no backend: kept for one) */
    driver_up(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 0);
    wr(&f->g, VIRTIO_COMMON_Q_DESC, 8, 0x10000);
    wr(&f->g, VIRTIO_COMMON_Q_AVAIL, 8, 0x11000);
    wr(&f->g, VIRTIO_COMMON_Q_USED, 8, 0x12000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    assert_false(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 1);
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 0);
}

static void interfaces_follow_the_config_order(void **state)
{
    struct fixture *f = *state;
    struct pci_function *second = virtio_net_function(&f->m, 1);

    assert_int_equal(virtio_net_count(&f->m), 2);
    assert_non_null(second);
    assert_null(virtio_net_function(&f->m, 2));
    assert_true(f->fn->slot < second->slot);
    assert_true(access(f->cfg.net[1].vhost_user, F_OK) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(config_space_has_mac_status_and_pairs, setup, teardown),
            cmocka_unit_test_setup_teardown(link_follows_backend_and_controller, setup, teardown),
            cmocka_unit_test_setup_teardown(rings_outside_ram_need_a_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(interfaces_follow_the_config_order, setup_two,
                                            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
