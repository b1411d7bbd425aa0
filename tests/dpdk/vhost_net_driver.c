/* A minimal virtio-net driver over evr-vmm's vhost-user frontend, for the
 * dpdk suite (test_vmm_vhost.py): the program stands in for a guest and its
 * VMM. It creates memfd guest memory (vmm/guest_mem.c), lays out split
 * virtqueues in it, listens on a vhost-user socket with vmm/vhost_user.c and
 * bridges the virtqueues to a kernel netdev over AF_PACKET, so the test
 * sends and receives the "VM's" frames with the same tools as the wire's.
 *
 * Queue pair q: receive queue 2q in the RAM below 4 GiB, transmit queue
 * 2q+1 in the RAM above 4 GiB (the memory is sized to have both regions,
 * sparse), so both SET_MEM_TABLE regions must be right for frames to flow.
 * Every frame carries the 12-byte virtio_net_hdr (VIRTIO_F_VERSION_1). A
 * frame from the netdev goes out on the queue pair its source MAC's last
 * byte picks (modulo the pairs), so each flow stays in order.
 *
 * Stdout, one line each, for the test to wait on:
 *   listening PATH
 *   link up: connection N, features 0x..., queue pairs N
 *   link down: REASON / refused: REASON
 *   queues restarted: Q:BASE/AVAIL ...  after SIGUSR1, every queue Q stopped
 *                                       (GET_VRING_BASE gave BASE; the driver
 *                                       had made AVAIL buffers available)
 *                                       and started again from BASE
 *   pairs in use: N                     after SIGUSR2: what a guest's
 *                                       VQ_PAIRS_SET does through evr-vmm:
 *                                       pairs beyond the first disabled
 *                                       (SET_VRING_ENABLE 0), or all enabled
 *                                       again; frames keep their queue pair,
 *                                       so those of an idle pair wait in it
 *   stopped: rx N tx N, tx per queue pair: N N ...
 *
 *   vhost_net_driver --socket PATH --iface IFNAME [--queue-pairs N] [--memory-mib N] */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest_mem.h"
#include "layout.h"
#include "vhost_user.h"

#define QUEUE_SIZE 256u
#define BUF_SIZE   2048u
#define HDR_LEN    sizeof(struct virtio_net_hdr_mrg_rxbuf)

/* Guest-physical layout of one queue, from its base: descriptors, avail
 * ring, used ring (each on its own page), then QUEUE_SIZE buffers. */
#define RING_DESC_OFF  0x0000ull
#define RING_AVAIL_OFF 0x1000ull
#define RING_USED_OFF  0x2000ull
#define RING_BUFS_OFF  0x4000ull
#define RING_SPAN      (RING_BUFS_OFF + (uint64_t)QUEUE_SIZE * BUF_SIZE)

struct queue {
    uint64_t gpa;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint8_t *bufs;
    uint16_t avail_idx; /* next avail slot the driver fills */
    uint16_t last_used; /* next used entry the driver reads */
    uint16_t free_ids[QUEUE_SIZE];
    unsigned nfree;
    bool in_flight[QUEUE_SIZE]; /* made available, not yet returned */
    int kick_fd, call_fd;
};

static volatile sig_atomic_t stop, restart, toggle_pairs;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        restart = 1;
    else if (sig == SIGUSR2)
        toggle_pairs = 1;
    else
        stop = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "vhost_net_driver: %s\n", what);
    exit(1);
}

static void queue_init(struct queue *q, const struct guest_mem *mem, uint64_t gpa)
{
    memset(q, 0, sizeof(*q));
    q->gpa = gpa;
    q->desc = guest_mem_ptr(mem, gpa + RING_DESC_OFF, 16 * QUEUE_SIZE);
    q->avail = guest_mem_ptr(mem, gpa + RING_AVAIL_OFF, 6 + 2 * QUEUE_SIZE);
    q->used = guest_mem_ptr(mem, gpa + RING_USED_OFF, 6 + 8 * QUEUE_SIZE);
    q->bufs = guest_mem_ptr(mem, gpa + RING_BUFS_OFF, (uint64_t)QUEUE_SIZE * BUF_SIZE);
    if (!q->desc || !q->avail || !q->used || !q->bufs)
        die("queue outside guest memory");
    for (unsigned i = 0; i < QUEUE_SIZE; i++) {
        q->desc[i].addr = gpa + RING_BUFS_OFF + (uint64_t)i * BUF_SIZE;
        q->free_ids[q->nfree++] = (uint16_t)i;
    }
    q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->kick_fd < 0 || q->call_fd < 0)
        die("eventfd");
}

/* Makes descriptor id available: the entry, then the index (release), then
 * the kick unless the device asked for none. */
static void queue_post(struct queue *q, uint16_t id)
{
    uint64_t one = 1;

    q->in_flight[id] = true;
    q->avail->ring[q->avail_idx % QUEUE_SIZE] = id;
    q->avail_idx++;
    __atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY) &&
        write(q->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        die("kick");
}

/* Next used entry, or -1 when the device has returned nothing new. */
static int queue_take_used(struct queue *q, uint32_t *len)
{
    struct vring_used_elem e;

    if (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) == q->last_used)
        return -1;
    e = q->used->ring[q->last_used % QUEUE_SIZE];
    q->last_used++;
    if (e.id >= QUEUE_SIZE || !q->in_flight[e.id]) {
        fprintf(stderr,
                "vhost_net_driver: the device returned descriptor %u of queue 0x%llx, "
                "which it did not have\n",
                e.id, (unsigned long long)q->gpa);
        exit(1);
    }
    q->in_flight[e.id] = false;
    *len = e.len;
    return (int)e.id;
}

static void rx_fill(struct queue *q)
{
    while (q->nfree) {
        uint16_t id = q->free_ids[--q->nfree];

        q->desc[id].len = BUF_SIZE;
        q->desc[id].flags = VRING_DESC_F_WRITE;
        q->desc[id].next = 0;
        queue_post(q, id);
    }
}

/* Frames the device wrote go out on the netdev, header stripped. */
static unsigned rx_drain(struct queue *q, int sock)
{
    unsigned n = 0;
    uint32_t len;
    int id;

    while ((id = queue_take_used(q, &len)) >= 0) {
        uint8_t *buf = q->bufs + (size_t)id * BUF_SIZE;

        if (len > HDR_LEN && len <= BUF_SIZE) {
            if (send(sock, buf + HDR_LEN, len - HDR_LEN, MSG_DONTWAIT) < 0 && errno != EAGAIN &&
                errno != ENOBUFS)
                die("send on the netdev");
            n++;
        }
        q->free_ids[q->nfree++] = (uint16_t)id;
    }
    rx_fill(q);
    return n;
}

static void tx_reclaim(struct queue *q)
{
    uint32_t len;
    int id;

    while ((id = queue_take_used(q, &len)) >= 0)
        q->free_ids[q->nfree++] = (uint16_t)id;
}

/* One frame from the netdev into the transmit queue; false if it is full. */
static bool tx_send(struct queue *q, const uint8_t *frame, size_t len)
{
    uint16_t id;
    uint8_t *buf;

    tx_reclaim(q);
    if (!q->nfree)
        return false;
    id = q->free_ids[--q->nfree];
    buf = q->bufs + (size_t)id * BUF_SIZE;
    memset(buf, 0, HDR_LEN); /* no offloads: flags 0, GSO none, one buffer */
    memcpy(buf + HDR_LEN, frame, len);
    q->desc[id].len = (uint32_t)(HDR_LEN + len);
    q->desc[id].flags = 0;
    q->desc[id].next = 0;
    queue_post(q, id);
    return true;
}

static int open_netdev(const char *ifname)
{
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

    if (s < 0)
        die("AF_PACKET socket (root needed)");
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    if (!sll.sll_ifindex || bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        die("cannot bind to the netdev");
    /* The kernel takes a received frame's VLAN tag out of its bytes (into
     * the skb, always, whatever the device offloads): ask for it back. */
    if (setsockopt(s, SOL_PACKET, PACKET_AUXDATA, &(int){1}, sizeof(int)) < 0)
        die("PACKET_AUXDATA");
    return s;
}

/* One frame from the netdev, its VLAN tag put back where the kernel took
 * it from; 0 when there is none. */
static ssize_t recv_frame(int sock, uint8_t *frame, size_t cap)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } control;
    struct sockaddr_ll from;
    struct iovec iov = {.iov_base = frame, .iov_len = cap - 4};
    struct msghdr msg = {.msg_name = &from,
                         .msg_namelen = sizeof(from),
                         .msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT);

    if (n <= 0)
        return n < 0 && errno == EAGAIN ? 0 : n;
    if (from.sll_pkttype == PACKET_OUTGOING)
        return -2; /* our own transmissions, seen by the tap */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        struct tpacket_auxdata aux;
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA)
            continue;
        memcpy(&aux, CMSG_DATA(c), sizeof(aux));
        if ((aux.tp_status & TP_STATUS_VLAN_VALID) && n >= 2 * ETH_ALEN) {
            uint16_t tpid = htons((aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid
                                                                              : ETH_P_8021Q);
            uint16_t tci = htons(aux.tp_vlan_tci);
            memmove(frame + 2 * ETH_ALEN + 4, frame + 2 * ETH_ALEN, (size_t)n - 2 * ETH_ALEN);
            memcpy(frame + 2 * ETH_ALEN, &tpid, 2);
            memcpy(frame + 2 * ETH_ALEN + 2, &tci, 2);
            n += 4;
        }
    }
    return n;
}

static void start_queue(struct vhost_user_session *s, struct queue *qs, unsigned i, uint16_t base)
{
    char err[256];
    struct vhost_user_vring r = {
            .size = QUEUE_SIZE,
            .base = base,
            .desc_gpa = qs[i].gpa + RING_DESC_OFF,
            .avail_gpa = qs[i].gpa + RING_AVAIL_OFF,
            .used_gpa = qs[i].gpa + RING_USED_OFF,
            .kick_fd = qs[i].kick_fd,
            .call_fd = qs[i].call_fd,
            .err_fd = -1,
    };

    if (vhost_user_vring_start(s, i, &r, err, sizeof(err)) < 0)
        die(err);
}

static void start_queues(struct vhost_user_session *s, struct queue *qs, unsigned npairs)
{
    char err[256];
    uint64_t features = vhost_user_device_features(s) & (1ull << VIRTIO_F_VERSION_1);

    if (npairs > 1)
        features |= vhost_user_device_features(s) & (1ull << VIRTIO_NET_F_MQ);
    if (!(features & (1ull << VIRTIO_F_VERSION_1)))
        die("the backend does not offer VIRTIO_F_VERSION_1");
    if (vhost_user_set_features(s, features, err, sizeof(err)) < 0)
        die(err);
    for (unsigned i = 0; i < 2 * npairs; i++)
        start_queue(s, qs, i, 0);
}

/* What a device reset and restart does through the transport: every queue
 * is stopped (GET_VRING_BASE), then every queue started again from the
 * index the backend gave back. All stops come first, as QEMU does: DPDK's
 * net_vhost forgets the enabled state of every queue when one is stopped,
 * so a queue stopped and started alone while the others run stays off. */
static void restart_queues(struct vhost_user_session *s, struct queue *qs, unsigned npairs)
{
    uint16_t base[2 * VHOST_USER_MAX_QUEUE_PAIRS];
    char err[256];

    printf("queues restarted:");
    for (unsigned i = 0; i < 2 * npairs; i++) {
        if (vhost_user_vring_stop(s, i, &base[i], err, sizeof(err)) < 0)
            die(err);
        if (err[0])
            printf(" (error: %s)", err);
        printf(" %u:%u/%u", i, base[i], qs[i].avail_idx);
    }
    for (unsigned i = 0; i < 2 * npairs; i++)
        start_queue(s, qs, i, base[i]);
    printf("\n");
}

/* The rings of pairs 1.. enabled or disabled on the backend, as evr-vmm's
 * virtio-net does for a guest's VQ_PAIRS_SET; returns the pairs in use. */
static unsigned set_pairs(struct vhost_user_session *s, unsigned npairs, unsigned active)
{
    char err[256];

    for (unsigned i = 2; i < 2 * npairs; i++)
        if (vhost_user_vring_enable(s, i, i < 2 * active, err, sizeof(err)) < 0)
            die(err);
    printf("pairs in use: %u\n", active);
    return active;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'},
            {"iface", required_argument, NULL, 'i'},
            {"queue-pairs", required_argument, NULL, 'q'},
            {"memory-mib", required_argument, NULL, 'm'},
            {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *ifname = NULL;
    unsigned npairs = 1, mib = 4096 + 64, active;
    struct vhost_user_session s;
    struct vhost_user_config cfg;
    struct queue qs[2 * VHOST_USER_MAX_QUEUE_PAIRS];
    struct guest_mem mem;
    unsigned long long rx = 0, tx = 0;
    bool started = false;
    unsigned long long tx_per_pair[VHOST_USER_MAX_QUEUE_PAIRS] = {0};
    char err[256];
    int sock, c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            path = optarg;
            break;
        case 'i':
            ifname = optarg;
            break;
        case 'q':
            npairs = (unsigned)atoi(optarg);
            break;
        case 'm':
            mib = (unsigned)atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (!path || !ifname || npairs < 1 || npairs > VHOST_USER_MAX_QUEUE_PAIRS ||
        (uint64_t)mib * MIB <= GUEST_MMIO_HOLE_START + 16 * MIB) {
        fprintf(stderr, "usage: vhost_net_driver --socket PATH --iface IFNAME [--queue-pairs "
                        "1-8] [--memory-mib N > 3088]\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGUSR1, on_signal);
    signal(SIGUSR2, on_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (guest_mem_create(&mem, (uint64_t)mib * MIB, false, err, sizeof(err)) < 0)
        die(err);
    for (unsigned p = 0; p < npairs; p++) {
        queue_init(&qs[2 * p], &mem, 16 * MIB + p * RING_SPAN);
        queue_init(&qs[2 * p + 1], &mem, GUEST_MMIO_HOLE_END + 16 * MIB + p * RING_SPAN);
        rx_fill(&qs[2 * p]);
    }
    sock = open_netdev(ifname);
    cfg = (struct vhost_user_config){
            .socket_path = path,
            .mem = &mem,
            .features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MQ),
            .max_queue_pairs = npairs,
    };
    if (vhost_user_create(&s, &cfg, err, sizeof(err)) < 0)
        die(err);
    printf("listening %s\n", path);
    active = npairs;
    while (!stop) {
        struct pollfd p[2] = {{.fd = vhost_user_poll_fd(&s), .events = POLLIN},
                              {.fd = sock, .events = POLLIN}};
        bool up = vhost_user_connected(&s);

        if (poll(p, up ? 2 : 1, up ? 1 : 100) < 0 && errno != EINTR)
            die("poll");
        if (p[0].revents) {
            switch (vhost_user_handle(&s, err, sizeof(err))) {
            case VHOST_USER_LINK_UP:
                if (!started) {
                    if (vhost_user_queue_pairs(&s) < npairs)
                        die("the backend offers fewer queue pairs than asked for");
                    start_queues(&s, qs, npairs);
                    started = true;
                }
                printf("link up: connection %u, features 0x%llx, queue pairs %u\n", s.connections,
                       (unsigned long long)s.driver_features, vhost_user_queue_pairs(&s));
                break;
            case VHOST_USER_LINK_DOWN:
                printf("link down: %s\n", err);
                break;
            case VHOST_USER_REFUSED:
                printf("refused: %s\n", err);
                break;
            case VHOST_USER_NONE:
                if (err[0])
                    printf("error: %s\n", err);
                break;
            }
        }
        if (!vhost_user_connected(&s))
            continue;
        if (restart) {
            restart = 0;
            restart_queues(&s, qs, npairs);
        }
        if (toggle_pairs) {
            toggle_pairs = 0;
            active = set_pairs(&s, npairs, active == npairs ? 1 : npairs);
        }
        for (unsigned q = 0; q < npairs; q++) {
            uint64_t v;

            if (read(qs[2 * q].call_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                die("call eventfd");
            rx += rx_drain(&qs[2 * q], sock);
            tx_reclaim(&qs[2 * q + 1]);
        }
        for (int burst = 0; burst < 64; burst++) {
            uint8_t frame[BUF_SIZE];
            ssize_t n = recv_frame(sock, frame, sizeof(frame) - HDR_LEN);

            if (n == -2)
                continue;
            if (n <= 0)
                break;
            /* The queue pair by source MAC (a flow hash keeps each
             * flow in order); a full queue drops, as a NIC would. */
            if (n >= ETH_HLEN &&
                tx_send(&qs[2 * (frame[ETH_ALEN + 5] % npairs) + 1], frame, (size_t)n)) {
                tx++;
                tx_per_pair[frame[ETH_ALEN + 5] % npairs]++;
            }
        }
    }
    vhost_user_destroy(&s);
    close(sock);
    guest_mem_destroy(&mem);
    printf("stopped: rx %llu tx %llu, tx per queue pair:", rx, tx);
    for (unsigned p = 0; p < npairs; p++)
        printf(" %llu", tx_per_pair[p]);
    printf("\n");
    return 0;
}
