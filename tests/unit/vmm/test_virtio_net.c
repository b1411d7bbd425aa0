/* virtio-net over vhost-user (vmm/virtio_net.h) on the fake KVM machine with
 * a memfd for RAM: the configuration space (MAC, status, queue pairs), the
 * features offered, the interfaces in the config's order, and the link
 * following the backend and the controller with a configuration interrupt
 * at each change; a fake backend on the interface's socket answers the
 * frontend's negotiation. With 2 queue pairs: MQ and the control queue,
 * driven as a guest driver does (chains in guest memory, a kick), every
 * command answered (VQ_PAIRS_SET enabling the rings on the backend, all
 * else VIRTIO_NET_ERR), broken chains asking for a reset, EVENT_IDX, and a
 * backend with fewer pairs refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
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
    unsigned cq;           /* the control queue's index (2 pairs: 4 with MQ, 2 without) */
};

static int setup_n_pairs(void **state, unsigned nnet, unsigned pairs)
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
        f->cfg.net[i].queues = pairs;
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
    return setup_n_pairs(state, 1, 1);
}

static int setup_two(void **state)
{
    return setup_n_pairs(state, 2, 1);
}

static int setup_mq(void **state)
{
    return setup_n_pairs(state, 1, 2);
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

/* A backend offering features connects and answers the negotiation:
 * GET_FEATURES, SET_OWNER, then SET_FEATURES (the driver's, replayed) when
 * the driver has set them. */
static int backend_connect_offering(struct fixture *f, uint64_t features, bool features_set)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
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

static int backend_connect(struct fixture *f, bool features_set)
{
    return backend_connect_offering(f, BACKEND_FEATURES, features_set);
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
    {
        /* counted, as the control socket's "counters" shows them */
        struct pci_counter c[PCI_COUNTERS_MAX];

        assert_int_equal(f->fn->ops->counters(f->fn, c), 2);
        assert_string_equal(c[0].name, "bad_writes");
        assert_int_equal(c[0].value, 1);
        assert_string_equal(c[1].name, "resets");
        assert_int_equal(c[1].value, 1); /* driver_up's */
    }
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

/* ---- two queue pairs and the control queue ---- */

#define F_PROTOCOL  (1ull << VHOST_USER_F_PROTOCOL_FEATURES)
#define P_MQ        (1ull << VHOST_USER_PROTOCOL_F_MQ)
#define MQ_FEATURES ((1ull << VIRTIO_NET_F_MQ) | (1ull << VIRTIO_NET_F_CTRL_VQ))
#define CQ_INDEX    4 /* the control queue of 2 pairs */
#define CQ_SIZE     64
#define CQ_BASE     0x100000ull /* desc, avail +0x1000, used +0x2000 */
#define CQ_BUFS     0x110000ull
#define DESC_NEXT   1
#define DESC_WRITE  2
#define DESC_INDIR  4

static void *gp(struct fixture *f, uint64_t gpa, size_t len)
{
    void *p = guest_mem_ptr(&f->mem, gpa, len);

    assert_non_null(p);
    return p;
}

static void put_desc(struct fixture *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *d = gp(f, table + 16ull * i, 16);

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static uint16_t *cq_avail_idx(struct fixture *f)
{
    return gp(f, CQ_BASE + 0x1000 + 2, 2);
}

static uint16_t *cq_used_idx(struct fixture *f)
{
    return gp(f, CQ_BASE + 0x2000 + 2, 2);
}

/* Queue index laid out at 0x200000 + index * 0x10000 (the control queue at
 * CQ_BASE), interrupts on vector index + 1, enabled. */
static void queue_up_at(struct fixture *f, unsigned index, bool ctrl)
{
    uint64_t base = ctrl ? CQ_BASE : 0x200000 + index * 0x10000ull;

    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, index);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, ctrl ? CQ_SIZE : 256);
    wr(&f->g, VIRTIO_COMMON_Q_MSIX, 2, index + 1);
    wr(&f->g, VIRTIO_COMMON_Q_DESC, 8, base);
    wr(&f->g, VIRTIO_COMMON_Q_AVAIL, 8, base + 0x1000);
    wr(&f->g, VIRTIO_COMMON_Q_USED, 8, base + 0x2000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
}

static void queue_up(struct fixture *f, unsigned index)
{
    queue_up_at(f, index, index == CQ_INDEX);
}

/* The driver up with 2 pairs: all five queues enabled. */
static void mq_driver_up(struct fixture *f, uint64_t extra)
{
    memset(gp(f, CQ_BASE, 0x3000), 0, 0x3000);
    f->cq = CQ_INDEX;
    driver_up(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) |
                         (1ull << VIRTIO_NET_F_STATUS) | MQ_FEATURES | extra);
    for (unsigned q = 0; q <= CQ_INDEX; q++)
        queue_up(f, q);
    assert_false(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

/* Makes chain head available and kicks the control queue; waits (bounded)
 * until the device has used it, or until it stops moving (a broken chain):
 * returns the used index. */
static uint16_t cq_submit(struct fixture *f, uint16_t head)
{
    struct virtio_pci *vp = f->fn->priv;
    uint16_t idx = *cq_avail_idx(f), *ring = gp(f, CQ_BASE + 0x1000 + 4, 2 * CQ_SIZE);
    uint64_t one = 1;

    ring[idx % CQ_SIZE] = head;
    __atomic_store_n(cq_avail_idx(f), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
    assert_int_equal(write(vp->q[f->cq].kick_fd, &one, 8), 8);
    for (int i = 0; i < 300; i++) {
        if (__atomic_load_n(cq_used_idx(f), __ATOMIC_ACQUIRE) == (uint16_t)(idx + 1) ||
            (rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET))
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    return __atomic_load_n(cq_used_idx(f), __ATOMIC_ACQUIRE);
}

/* A command as Linux sends it: class and command, data (if any), the ack:
 * three descriptors (or one indirect table of them). Returns the ack. */
static uint8_t cq_command(struct fixture *f, uint8_t class, uint8_t cmd, const void *data,
                          uint32_t len, bool indirect)
{
    uint64_t table = indirect ? CQ_BUFS + 0x3000 : CQ_BASE;
    uint8_t *hdr = gp(f, CQ_BUFS, 2), *ack = gp(f, CQ_BUFS + 0x2000, 1);
    uint16_t used_before = *cq_used_idx(f);
    unsigned n = 0;

    hdr[0] = class;
    hdr[1] = cmd;
    *ack = 0xee;
    put_desc(f, table, n, CQ_BUFS, 2, DESC_NEXT, (uint16_t)(n + 1));
    n++;
    if (len) {
        memcpy(gp(f, CQ_BUFS + 0x1000, len), data, len);
        put_desc(f, table, n, CQ_BUFS + 0x1000, len, DESC_NEXT, (uint16_t)(n + 1));
        n++;
    }
    put_desc(f, table, n, CQ_BUFS + 0x2000, 1, DESC_WRITE, 0);
    n++;
    if (indirect)
        put_desc(f, CQ_BASE, 0, table, 16 * n, DESC_INDIR, 0);
    assert_int_equal(cq_submit(f, 0), (uint16_t)(used_before + 1));
    /* the used entry: head 0, one byte written */
    {
        uint32_t *e = gp(f, CQ_BASE + 0x2000 + 4 + 8ull * (used_before % CQ_SIZE), 8);
        assert_int_equal(e[0], 0);
        assert_int_equal(e[1], 1);
    }
    return *ack;
}

static uint8_t pairs_set(struct fixture *f, uint16_t pairs)
{
    return cq_command(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2, false);
}

static void reply_u64(int s, uint32_t request, uint64_t v)
{
    struct vhost_user_msg reply;
    char err[256];

    vhost_user_msg_init(&reply, request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, &v, sizeof(v),
                        NULL, 0);
    assert_int_equal(vhost_user_msg_send(s, &reply, 5000, err, sizeof(err)), 0);
}

/* What a backend was sent: SET_VRING_ENABLE per ring (-1: none) and the
 * rings set up (SET_VRING_KICK). */
struct sent {
    int enable[8];
    unsigned kicks, messages;
};

/* Reads what is waiting on the backend's socket (every request was sent
 * before the call that made it returned: no reply-ack negotiated). */
static struct sent collect(int s)
{
    struct sent out = {.enable = {-1, -1, -1, -1, -1, -1, -1, -1}};
    struct pollfd p = {.fd = s, .events = POLLIN};

    while (poll(&p, 1, 50) == 1) {
        struct vhost_user_msg m;
        char err[256];

        if (vhost_user_msg_recv(s, &m, 5000, err, sizeof(err)))
            break;
        vhost_user_msg_close_fds(&m);
        out.messages++;
        if (m.hdr.request == VHOST_USER_SET_VRING_ENABLE && m.payload.state.index < 8)
            out.enable[m.payload.state.index] = (int)m.payload.state.num;
        out.kicks += m.hdr.request == VHOST_USER_SET_VRING_KICK;
    }
    return out;
}

/* A device reset forgets the driver's features (rmmod/modprobe of
 * virtio_net with the vswitch restarted in between): a backend lacking one
 * the old driver took is accepted and is not sent the old set; the next
 * driver's FEATURES_OK sends its own. */
static void reset_forgets_the_driver_features(void **state)
{
    struct fixture *f = *state;
    struct sent sent;
    int s;

    driver_up(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) |
                         (1ull << VIRTIO_NET_F_MRG_RXBUF));
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0); /* rmmod */
    s = backend_connect_offering(f, 1ull << VIRTIO_F_VERSION_1, false);
    assert_int_equal(link_status(f), VIRTIO_NET_S_LINK_UP);
    sent = collect(s);
    assert_int_equal(sent.messages, 0); /* no stale SET_FEATURES */
    driver_up(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC)); /* modprobe */
    expect(s, VHOST_USER_SET_FEATURES);
    close(s);
    wait_backend(f, false);
}

/* A backend with MQ (no reply-ack) and pairs queue pairs connects. */
static int mq_backend_connect(struct fixture *f, uint64_t pairs)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(s >= 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->cfg.net[0].vhost_user);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
    expect(s, VHOST_USER_GET_FEATURES);
    reply_u64(s, VHOST_USER_GET_FEATURES, BACKEND_FEATURES | F_PROTOCOL);
    expect(s, VHOST_USER_GET_PROTOCOL_FEATURES);
    reply_u64(s, VHOST_USER_GET_PROTOCOL_FEATURES, P_MQ);
    expect(s, VHOST_USER_SET_PROTOCOL_FEATURES);
    expect(s, VHOST_USER_SET_OWNER);
    expect(s, VHOST_USER_GET_QUEUE_NUM);
    reply_u64(s, VHOST_USER_GET_QUEUE_NUM, pairs);
    return s;
}

static void mq_config_and_offer(void **state)
{
    struct fixture *f = *state;
    uint64_t offered;

    assert_int_equal(rd(&f->g, VIRTIO_PCI_DEVICE_OFF + VIRTIO_NET_CFG_MAX_PAIRS, 2), 2);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_NUMQ, 2), 5); /* 2 pairs and the control queue */
    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 0);
    offered = rd(&f->g, VIRTIO_COMMON_DF, 4);
    assert_int_equal(offered & MQ_FEATURES, MQ_FEATURES);
    /* one vector per queue and one for the configuration */
    assert_int_equal(f->fn->msix->nvec, 6);
}

/* Every command the guest can write into the control queue is answered;
 * only VQ_PAIRS_SET with 1 or 2 pairs is VIRTIO_NET_OK and reaches the
 * backend as SET_VRING_ENABLE of the rings of the pairs. */
static void control_queue_answers_every_command(void **state)
{
    struct fixture *f = *state;
    struct virtio_pci *vp = f->fn->priv;
    int ctrl_vec = msix_vector_eventfd(f->fn->msix, CQ_INDEX + 1);
    uint16_t two = 2, big = 3, zero = 0;
    uint8_t three[3] = {2, 0, 0};
    struct sent got;
    int s;

    mq_driver_up(f, 0);
    eventfd_drain(ctrl_vec);
    /* wrong class, wrong command, wrong lengths, pairs out of range */
    assert_int_equal(cq_command(f, 0 /* RX */, 0, "\1", 1, false), VIRTIO_NET_ERR);
    assert_int_equal(cq_command(f, VIRTIO_NET_CTRL_MQ, 1 /* RSS_CONFIG */, &two, 2, false),
                     VIRTIO_NET_ERR);
    assert_int_equal(cq_command(f, 9, 9, NULL, 0, false), VIRTIO_NET_ERR);
    assert_int_equal(cq_command(f, VIRTIO_NET_CTRL_MQ, 0, &two, 1, false), VIRTIO_NET_ERR);
    assert_int_equal(cq_command(f, VIRTIO_NET_CTRL_MQ, 0, three, 3, false), VIRTIO_NET_ERR);
    assert_int_equal(cq_command(f, VIRTIO_NET_CTRL_MQ, 0, NULL, 0, false), VIRTIO_NET_ERR);
    assert_int_equal(pairs_set(f, zero), VIRTIO_NET_ERR);
    assert_int_equal(pairs_set(f, big), VIRTIO_NET_ERR);
    /* interrupts on the control queue's vector (no EVENT_IDX, not suppressed) */
    assert_true(eventfd_drain(ctrl_vec) >= 1);
    /* no backend yet: the choice is kept for the one that comes */
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    /* the same through an indirect table */
    assert_int_equal(cq_command(f, VIRTIO_NET_CTRL_MQ, 0, &two, 2, true), VIRTIO_NET_OK);
    assert_false(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(vp->bad_writes, 8); /* each refused command counted */

    /* a backend with one pair is refused: the device has two */
    s = mq_backend_connect(f, 1);
    got = collect(s);
    assert_int_equal(got.messages, 0); /* it hung up on it */
    close(s);
    {
        struct virtio_net_link l;
        assert_int_equal(virtio_net_get_link(&f->m, 0, &l), 0);
        assert_false(l.backend);
    }
    /* one with two: the four rings, all enabled as VQ_PAIRS_SET 2 asked */
    s = mq_backend_connect(f, 2);
    wait_backend(f, true);
    got = collect(s);
    assert_int_equal(got.kicks, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(got.enable[i], 1);
    assert_int_equal(got.enable[4], -1); /* the control queue is evr-vmm's */
    assert_int_equal(link_status(f), VIRTIO_NET_S_LINK_UP);
    /* VQ_PAIRS_SET 1: pair 1's rings off, live */
    {
        uint16_t one = 1;
        assert_int_equal(pairs_set(f, one), VIRTIO_NET_OK);
    }
    got = collect(s);
    assert_int_equal(got.enable[2], 0);
    assert_int_equal(got.enable[3], 0);
    assert_int_equal(got.enable[0], -1);
    assert_int_equal(got.messages, 2);
    /* refused commands send nothing */
    assert_int_equal(pairs_set(f, big), VIRTIO_NET_ERR);
    assert_int_equal(collect(s).messages, 0);
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    got = collect(s);
    assert_int_equal(got.enable[2], 1);
    assert_int_equal(got.enable[3], 1);
    close(s);
    wait_backend(f, false);

    /* a reset: the driver starts on one pair again */
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0);
    mq_driver_up(f, 0);
    s = mq_backend_connect(f, 2);
    wait_backend(f, true);
    got = collect(s);
    assert_int_equal(got.kicks, 4);
    assert_int_equal(got.enable[0], 1);
    assert_int_equal(got.enable[1], 1);
    assert_int_equal(got.enable[2], -1); /* set up, idle */
    assert_int_equal(got.enable[3], -1);
    close(s);
    wait_backend(f, false);
}

/* Chains that break the ring's rules set DEVICE_NEEDS_RESET and stop the
 * control queue; after a reset it answers again. */
static void broken_control_chains_need_a_reset(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *what;
        uint16_t head;
        int layout;
    } cases[] = {
            {"head beyond the ring", 64, 0},    {"a loop", 0, 1},
            {"next beyond the ring", 0, 2},     {"no writable byte for the ack", 0, 3},
            {"buffer outside RAM", 0, 4},       {"indirect table not whole descriptors", 0, 5},
            {"indirect inside indirect", 0, 6},
    };
    uint16_t two = 2;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint16_t used;

        mq_driver_up(f, 0);
        switch (cases[i].layout) {
        case 1:
            put_desc(f, CQ_BASE, 0, CQ_BUFS, 2, DESC_NEXT, 1);
            put_desc(f, CQ_BASE, 1, CQ_BUFS, 2, DESC_NEXT, 0);
            break;
        case 2:
            put_desc(f, CQ_BASE, 0, CQ_BUFS, 2, DESC_NEXT, 64);
            break;
        case 3:
            *(uint8_t *)gp(f, CQ_BUFS, 2) = VIRTIO_NET_CTRL_MQ;
            put_desc(f, CQ_BASE, 0, CQ_BUFS, 4, 0, 0);
            break;
        case 4:
            put_desc(f, CQ_BASE, 0, 16 * MIB - 1, 2, DESC_NEXT, 1);
            put_desc(f, CQ_BASE, 1, CQ_BUFS + 0x2000, 1, DESC_WRITE, 0);
            break;
        case 5:
            put_desc(f, CQ_BASE, 0, CQ_BUFS + 0x3000, 24, DESC_INDIR, 0);
            break;
        case 6:
            put_desc(f, CQ_BUFS + 0x3000, 0, CQ_BUFS + 0x4000, 16, DESC_INDIR, 0);
            put_desc(f, CQ_BASE, 0, CQ_BUFS + 0x3000, 16, DESC_INDIR, 0);
            break;
        default:
            break;
        }
        used = cq_submit(f, cases[i].head);
        if (!(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET))
            fail_msg("%s: no DEVICE_NEEDS_RESET", cases[i].what);
        assert_int_equal(used, 0);
        /* stopped: a good command now is not taken */
        assert_int_equal(cq_submit(f, 0), 0);
        wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0);
    }
    /* after the reset the queue works again */
    mq_driver_up(f, 0);
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0);
    /* without CTRL_VQ negotiated queue 4 is no control queue, and no ring
     * of the backend's either */
    driver_up(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC));
    queue_up(f, CQ_INDEX);
    assert_true(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, 0);
    /* CTRL_VQ without MQ: the control queue is queue 2 (5.1.2), and
     * VQ_PAIRS_SET there is an error, not a reset */
    memset(gp(f, CQ_BASE, 0x3000), 0, 0x3000);
    driver_up(f, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_CTRL_VQ));
    queue_up_at(f, 2, true);
    assert_false(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
    f->cq = 2;
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_ERR);
    assert_false(rd(&f->g, VIRTIO_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

/* With EVENT_IDX the device asks for the next kick (avail_event) and
 * interrupts only when used_event says so. */
static void control_queue_event_idx(void **state)
{
    struct fixture *f = *state;
    int ctrl_vec = msix_vector_eventfd(f->fn->msix, CQ_INDEX + 1);
    uint16_t *used_event = gp(f, CQ_BASE + 0x1000 + 4 + 2 * CQ_SIZE, 2);
    uint16_t *avail_event = gp(f, CQ_BASE + 0x2000 + 4 + 8 * CQ_SIZE, 2);
    uint16_t two = 2;

    mq_driver_up(f, 1ull << VIRTIO_RING_F_EVENT_IDX);
    eventfd_drain(ctrl_vec);
    *used_event = 0; /* interrupt at the first used entry */
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    assert_int_equal(*avail_event, 1);
    assert_int_equal(eventfd_drain(ctrl_vec), 1);
    *used_event = 100; /* not before the 101st */
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    assert_int_equal(*avail_event, 3);
    assert_int_equal(eventfd_drain(ctrl_vec), 0);
    *used_event = 3;
    assert_int_equal(pairs_set(f, two), VIRTIO_NET_OK);
    assert_int_equal(eventfd_drain(ctrl_vec), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(config_space_has_mac_status_and_pairs, setup, teardown),
            cmocka_unit_test_setup_teardown(link_follows_backend_and_controller, setup, teardown),
            cmocka_unit_test_setup_teardown(reset_forgets_the_driver_features, setup, teardown),
            cmocka_unit_test_setup_teardown(rings_outside_ram_need_a_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(interfaces_follow_the_config_order, setup_two,
                                            teardown),
            cmocka_unit_test_setup_teardown(mq_config_and_offer, setup_mq, teardown),
            cmocka_unit_test_setup_teardown(control_queue_answers_every_command, setup_mq,
                                            teardown),
            cmocka_unit_test_setup_teardown(broken_control_chains_need_a_reset, setup_mq, teardown),
            cmocka_unit_test_setup_teardown(control_queue_event_idx, setup_mq, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
