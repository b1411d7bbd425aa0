/* virtio-net over vhost-user; see virtio_net.h. */
#include "virtio_net.h"
#include "config.h"
#include "guest_mem.h"
#include "vhost_net.h"
#include "vhost_user.h"
#include "virtio_pci.h"
#include "virtqueue.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The features the backend moves frames with, as far as evr-vmm carries
 * them: split rings with indirect descriptors and event indexes, merged
 * receive buffers. Offloads stay off: the vswitch forwards frames as they
 * are, so a guest must not hand it unsegmented or unchecksummed ones. */
#define NET_DATAPATH_FEATURES                                                                      \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |                             \
     (1ull << VIRTIO_RING_F_INDIRECT) | (1ull << VIRTIO_RING_F_EVENT_IDX))
/* evr-vmm's own: the configuration space it keeps. */
#define NET_FRONTEND_FEATURES ((1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS))
/* Also evr-vmm's own, with more than one queue pair: the control queue it
 * serves and VQ_PAIRS_SET on it. */
#define NET_MQ_FEATURES ((1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_MQ))
#define CTRL_DATA_MAX   64 /* bytes of a command read; VQ_PAIRS_SET has 2 */
#define POLL_MS         1000

struct virtio_net;

/* Where the frames go: a vhost-user backend (the vswitch) or the kernel's
 * vhost-net with a tap (the management port). The same four steps, and
 * whether the backend is there. */
struct net_backend {
    bool (*connected)(const struct virtio_net *n);
    uint64_t (*features)(const struct virtio_net *n);
    int (*set_features)(struct virtio_net *n, uint64_t features, char *err, size_t errlen);
    int (*vring_start)(struct virtio_net *n, unsigned index, const struct vhost_user_vring *ring,
                       char *err, size_t errlen);
    int (*vring_stop)(struct virtio_net *n, unsigned index, uint16_t *next, char *err,
                      size_t errlen);
    /* The device was reset: forget the driver's features. NULL when the
     * backend keeps none between calls (the kernel's vhost-net). */
    void (*reset)(struct virtio_net *n);
    /* A ring used or left idle (VQ_PAIRS_SET); NULL for a single pair. */
    int (*vring_enable)(struct virtio_net *n, unsigned index, bool enable, char *err,
                        size_t errlen);
};

struct virtio_net {
    struct virtio_pci vp;
    char name[16]; /* "net0" */
    unsigned index;
    const struct net_backend *backend;
    struct vhost_user_session vhost; /* a vhost-user interface's */
    struct vhost_net vnet;           /* a tap interface's */
    uint8_t mac[CONFIG_MAC_LEN];
    unsigned pairs;        /* queue pairs of the device (max_virtqueue_pairs) */
    unsigned active_pairs; /* the ones the driver uses (VQ_PAIRS_SET) */
    uint64_t features;     /* the driver's, at FEATURES_OK */
    struct virtq ctrl;     /* the control queue, with more than one pair */
    int ctrl_queue;        /* its index while started, else -1 */
    bool ctrl_running;     /* started and not broken */
    int ctrl_call_fd;      /* borrowed from the transport while it runs */
    const struct guest_mem *mem;
    bool admin_up;
    bool link_up;
    int stop_fd;
    pthread_t thread;
    bool thread_started;
};

struct virtio_net_set {
    unsigned n;
    struct virtio_net *net[CONFIG_MAX_NET];
};

/* With the lock: what the guest sees follows the controller's choice and
 * the backend; a change is a configuration interrupt. */
static void sync_link(struct virtio_net *n)
{
    bool up = n->admin_up && n->backend->connected(n);

    if (up == n->link_up)
        return;
    n->link_up = up;
    fprintf(stderr, "evr-vmm: %s: link %s\n", n->name, up ? "up" : "down");
    virtio_pci_config_changed(&n->vp);
}

static bool user_connected(const struct virtio_net *n)
{
    return vhost_user_connected(&n->vhost);
}

static uint64_t user_features(const struct virtio_net *n)
{
    return vhost_user_connected(&n->vhost) ? vhost_user_device_features(&n->vhost)
                                           : NET_DATAPATH_FEATURES;
}

/* A vhost-user call that failed either refused the input (-1 for the guest)
 * or lost the backend, which is a link-down and not the guest's fault. */
static int vhost_result(struct virtio_net *n, int rc, bool was_connected, const char *err)
{
    if (rc == 0)
        return 0;
    if (was_connected && !vhost_user_connected(&n->vhost)) {
        fprintf(stderr, "evr-vmm: %s: backend dropped: %s\n", n->name, err);
        sync_link(n);
        return 0;
    }
    return -1;
}

static int user_set_features(struct virtio_net *n, uint64_t features, char *err, size_t errlen)
{
    bool was = vhost_user_connected(&n->vhost);
    int rc = vhost_user_set_features(&n->vhost, features, err, errlen);

    return vhost_result(n, rc, was, err);
}

static int user_vring_start(struct virtio_net *n, unsigned index,
                            const struct vhost_user_vring *ring, char *err, size_t errlen)
{
    bool was = vhost_user_connected(&n->vhost);
    int rc = vhost_user_vring_start(&n->vhost, index, ring, err, errlen);

    return vhost_result(n, rc, was, err);
}

static int user_vring_stop(struct virtio_net *n, unsigned index, uint16_t *next, char *err,
                           size_t errlen)
{
    return vhost_user_vring_stop(&n->vhost, index, next, err, errlen);
}

static int user_vring_enable(struct virtio_net *n, unsigned index, bool enable, char *err,
                             size_t errlen)
{
    bool was = vhost_user_connected(&n->vhost);
    int rc = vhost_user_vring_enable(&n->vhost, index, enable, err, errlen);

    return vhost_result(n, rc, was, err);
}

static void user_reset(struct virtio_net *n)
{
    vhost_user_reset(&n->vhost);
}

static const struct net_backend vhost_user_backend = {
        .connected = user_connected,
        .features = user_features,
        .set_features = user_set_features,
        .vring_start = user_vring_start,
        .vring_stop = user_vring_stop,
        .vring_enable = user_vring_enable,
        .reset = user_reset,
};

/* The kernel is always there. */
static bool tap_connected(const struct virtio_net *n)
{
    (void)n;
    return true;
}

static uint64_t tap_features(const struct virtio_net *n)
{
    return vhost_net_device_features(&n->vnet);
}

static int tap_set_features(struct virtio_net *n, uint64_t features, char *err, size_t errlen)
{
    return vhost_net_set_features(&n->vnet, features, err, errlen);
}

static int tap_vring_start(struct virtio_net *n, unsigned index,
                           const struct vhost_user_vring *ring, char *err, size_t errlen)
{
    return vhost_net_vring_start(&n->vnet, index, ring, err, errlen);
}

static int tap_vring_stop(struct virtio_net *n, unsigned index, uint16_t *next, char *err,
                          size_t errlen)
{
    return vhost_net_vring_stop(&n->vnet, index, next, err, errlen);
}

static const struct net_backend vhost_net_backend = {
        .connected = tap_connected,
        .features = tap_features,
        .set_features = tap_set_features,
        .vring_start = tap_vring_start,
        .vring_stop = tap_vring_stop,
};

/* The control queue follows the last pair the driver can use (5.1.2): all
 * of them with MQ, the first only without. */
static unsigned ctrl_index(const struct virtio_net *n)
{
    return n->features & (1ull << VIRTIO_NET_F_MQ) ? 2 * n->pairs : 2;
}

static uint64_t net_features(void *dev)
{
    struct virtio_net *n = dev;

    return n->backend->features(n) | NET_FRONTEND_FEATURES | (n->pairs > 1 ? NET_MQ_FEATURES : 0);
}

static int net_set_features(void *dev, uint64_t features, char *err, size_t errlen)
{
    struct virtio_net *n = dev;

    if (n->backend->set_features(n, features & NET_DATAPATH_FEATURES, err, errlen))
        return -1;
    n->features = features;
    return 0;
}

/* Rings of the pairs at or beyond active run idle on the backend. Called
 * with the choice recorded for queues not started too, so a ring started
 * later (or replayed to a new backend) starts as the driver asked. */
static void apply_pairs(struct virtio_net *n, unsigned active)
{
    char err[256];

    n->active_pairs = active;
    if (!n->backend->vring_enable)
        return;
    for (unsigned i = 0; i < 2 * n->pairs; i++)
        if (n->backend->vring_enable(n, i, i < 2 * active, err, sizeof(err)))
            fprintf(stderr, "evr-vmm: %s: queue %u: %s\n", n->name, i, err);
}

static int ctrl_start(struct virtio_net *n, const struct virtio_queue *q, char *err, size_t errlen)
{
    char why[200];

    if (virtq_init(&n->ctrl, n->mem, q->size, q->desc, q->driver, q->device,
                   n->features & (1ull << VIRTIO_RING_F_EVENT_IDX), why, sizeof(why))) {
        snprintf(err, errlen, "control queue: %s", why);
        return -1;
    }
    n->ctrl_call_fd = q->call_fd;
    n->ctrl_queue = (int)ctrl_index(n);
    n->ctrl_running = true;
    return 0;
}

static int net_queue_start(void *dev, unsigned index, const struct virtio_queue *q, char *err,
                           size_t errlen)
{
    struct virtio_net *n = dev;
    struct vhost_user_vring ring = {.size = q->size,
                                    .base = 0, /* queues start after a reset */
                                    .desc_gpa = q->desc,
                                    .avail_gpa = q->driver,
                                    .used_gpa = q->device,
                                    .kick_fd = q->kick_fd,
                                    .call_fd = q->call_fd,
                                    .err_fd = -1};

    if (n->pairs > 1 && (n->features & (1ull << VIRTIO_NET_F_CTRL_VQ)) && index == ctrl_index(n))
        return ctrl_start(n, q, err, errlen);
    return n->backend->vring_start(n, index, &ring, err, errlen);
}

static void net_queue_stop(void *dev, unsigned index)
{
    struct virtio_net *n = dev;
    uint16_t next;
    char err[256];

    if ((int)index == n->ctrl_queue) {
        n->ctrl_queue = -1;
        n->ctrl_running = false;
        n->ctrl_call_fd = -1;
        return;
    }
    n->backend->vring_stop(n, index, &next, err, sizeof(err));
    if (err[0])
        fprintf(stderr, "evr-vmm: %s: %s\n", n->name, err);
    sync_link(n);
}

static uint8_t net_config_byte(void *dev, unsigned offset)
{
    struct virtio_net *n = dev;
    uint16_t status = n->link_up ? VIRTIO_NET_S_LINK_UP : 0;

    if (offset < VIRTIO_NET_CFG_STATUS)
        return n->mac[offset];
    if (offset < VIRTIO_NET_CFG_MAX_PAIRS)
        return (uint8_t)(status >> (8 * (offset - VIRTIO_NET_CFG_STATUS)));
    return (uint8_t)(n->pairs >> (8 * (offset - VIRTIO_NET_CFG_MAX_PAIRS))); /* le16 */
}

/* After a reset the driver starts again on the first pair (5.1.6.5.5). */
static void net_reset(void *dev)
{
    struct virtio_net *n = dev;

    n->features = 0;
    if (n->backend->reset)
        n->backend->reset(n);
    apply_pairs(n, 1);
}

static const struct virtio_device_ops net_ops = {
        .features = net_features,
        .set_features = net_set_features,
        .queue_start = net_queue_start,
        .queue_stop = net_queue_stop,
        .reset = net_reset,
        .config_byte = net_config_byte,
};

/* One command of the control queue (5.1.6.5): the class and command bytes
 * and their data in the device-readable buffers, the ack in the first
 * device-writable byte. Everything the driver wrote is checked; what is
 * not VQ_PAIRS_SET with a pair count the device has is VIRTIO_NET_ERR,
 * with the reason in why. */
static uint8_t ctrl_command(struct virtio_net *n, const struct virtq_chain *c, char *why,
                            size_t whylen)
{
    uint8_t cmd[2 + CTRL_DATA_MAX];
    size_t len = virtq_read(&n->ctrl, c, cmd, sizeof(cmd));
    bool writable = false;
    uint16_t pairs;

    for (unsigned i = 0; i < c->n; i++) {
        if (c->buf[i].write) {
            writable = true;
        } else if (writable) {
            snprintf(why, whylen, "a device-readable buffer after a device-writable one");
            return VIRTIO_NET_ERR;
        }
    }
    if (len < 2) {
        snprintf(why, whylen, "%zu bytes, shorter than a class and a command", len);
        return VIRTIO_NET_ERR;
    }
    if (cmd[0] != VIRTIO_NET_CTRL_MQ || cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
        snprintf(why, whylen, "class %u command %u is not offered (only MQ VQ_PAIRS_SET)", cmd[0],
                 cmd[1]);
        return VIRTIO_NET_ERR;
    }
    if (!(n->features & (1ull << VIRTIO_NET_F_MQ))) {
        snprintf(why, whylen, "VQ_PAIRS_SET without VIRTIO_NET_F_MQ negotiated");
        return VIRTIO_NET_ERR;
    }
    if (len != 2 + sizeof(pairs)) {
        snprintf(why, whylen, "VQ_PAIRS_SET with %zu bytes of data, not 2", len - 2);
        return VIRTIO_NET_ERR;
    }
    pairs = (uint16_t)(cmd[2] | cmd[3] << 8);
    if (pairs < 1 || pairs > n->pairs) {
        snprintf(why, whylen, "VQ_PAIRS_SET %u: the device has 1 to %u queue pairs", pairs,
                 n->pairs);
        return VIRTIO_NET_ERR;
    }
    if (pairs != n->active_pairs)
        fprintf(stderr, "evr-vmm: %s: %u queue pair%s in use\n", n->name, pairs,
                pairs == 1 ? "" : "s");
    apply_pairs(n, pairs);
    return VIRTIO_NET_OK;
}

/* With the lock, after a kick of the control queue: every available
 * command answered, then an interrupt if the driver wants one. A broken
 * chain (virtqueue.h) asks the driver for a reset. */
static void ctrl_serve(struct virtio_net *n)
{
    uint16_t old = n->ctrl.used_idx;
    struct virtq_chain c;
    char err[200], why[256];
    int rc;

    while (n->ctrl_running && (rc = virtq_pop(&n->ctrl, &c, err, sizeof(err))) != 0) {
        uint8_t ack;

        if (rc < 0) {
            snprintf(why, sizeof(why), "control queue: %s", err);
            n->ctrl_running = false;
            virtio_pci_needs_reset(&n->vp, why);
            break;
        }
        ack = ctrl_command(n, &c, err, sizeof(err));
        if (ack != VIRTIO_NET_OK) {
            n->vp.bad_writes++; /* a refused guest write, as the transport counts them */
            virtio_pci_say(&n->vp, "control command refused: ", err);
        }
        if (!virtq_write(&n->ctrl, &c, &ack, 1)) {
            snprintf(why, sizeof(why), "control queue: chain %u has no byte for its ack", c.head);
            n->ctrl_running = false;
            virtio_pci_needs_reset(&n->vp, why);
            break;
        }
        virtq_push(&n->ctrl, c.head, 1);
    }
    if (n->ctrl.used_idx != old && n->ctrl_call_fd >= 0 && virtq_need_notify(&n->ctrl, old)) {
        uint64_t one = 1;
        if (write(n->ctrl_call_fd, &one, sizeof(one)) != sizeof(one))
            fprintf(stderr, "evr-vmm: %s: cannot signal the control queue\n", n->name);
    }
}

/* Waits for the backend: a connection on the socket, a message or the
 * backend leaving on the connection. */
static void *net_thread(void *arg)
{
    struct virtio_net *n = arg;

    /* The kick eventfds of the queues that can be the control queue (2
     * without MQ, 2N with it) live as long as the function: polled from
     * the start, so no kick waits for the poll to come round. */
    int ctrl_kick[2] = {-1, -1};

    if (n->pairs > 1) {
        ctrl_kick[0] = n->vp.q[2].kick_fd;
        ctrl_kick[1] = n->vp.q[2 * n->pairs].kick_fd;
    }
    for (;;) {
        struct pollfd p[4] = {{.fd = n->stop_fd, .events = POLLIN},
                              {.events = POLLIN},
                              {.fd = ctrl_kick[0], .events = POLLIN},
                              {.fd = ctrl_kick[1], .events = POLLIN}};
        int fd;

        virtio_pci_lock(&n->vp);
        fd = vhost_user_poll_fd(&n->vhost);
        virtio_pci_unlock(&n->vp);
        p[1].fd = fd;
        if (poll(p, 4, POLL_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (p[2].revents || p[3].revents) {
            uint64_t kicks;
            for (int k = 2; k < 4; k++)
                if (p[k].revents && read(p[k].fd, &kicks, sizeof(kicks)) < 0 && errno != EAGAIN)
                    fprintf(stderr, "evr-vmm: %s: control queue kick: %s\n", n->name,
                            strerror(errno));
            virtio_pci_lock(&n->vp);
            ctrl_serve(n);
            virtio_pci_unlock(&n->vp);
        }
        if (!p[1].revents)
            continue;
        virtio_pci_lock(&n->vp);
        /* A vCPU may have used the connection in between (a reply it waited
         * for made it readable, or it dropped the backend): only input that
         * is still there, on the descriptor still in use, is the backend's. */
        struct pollfd again = {.fd = fd, .events = POLLIN};
        if (vhost_user_poll_fd(&n->vhost) == fd && poll(&again, 1, 0) > 0) {
            char err[256];
            enum vhost_user_event ev = vhost_user_handle(&n->vhost, err, sizeof(err));
            if (ev == VHOST_USER_LINK_UP)
                fprintf(stderr, "evr-vmm: %s: backend connected on %s\n", n->name, n->vhost.path);
            else if (err[0])
                fprintf(stderr, "evr-vmm: %s: %s\n", n->name, err);
            sync_link(n);
        }
        virtio_pci_unlock(&n->vp);
    }
    return NULL;
}

static void net_destroy(struct machine *m, struct virtio_net *n)
{
    if (n->thread_started) {
        uint64_t one = 1;
        if (write(n->stop_fd, &one, sizeof(one)) != sizeof(one))
            fprintf(stderr, "evr-vmm: %s: cannot stop its thread\n", n->name);
        pthread_join(n->thread, NULL);
    }
    virtio_pci_destroy(&n->vp, m);
    if (n->backend == &vhost_net_backend)
        vhost_net_destroy(&n->vnet);
    else
        vhost_user_destroy(&n->vhost);
    close(n->stop_fd);
    free(n);
}

static struct virtio_net *net_create(struct machine *m, unsigned index, char *err, size_t errlen)
{
    const struct config_net *c = &m->cfg->net[index];
    struct virtio_net *n = calloc(1, sizeof(*n));
    unsigned pairs = c->queues > 1 ? c->queues : 1;
    struct vhost_user_config vc = {.socket_path = c->vhost_user,
                                   .mem = m->mem,
                                   .features = NET_DATAPATH_FEATURES,
                                   .max_queue_pairs = pairs};
    /* Pairs, then the control queue when there is more than one pair. */
    struct virtio_device_info info = {.device_id = VIRTIO_ID_NET,
                                      .class_code = PCI_CLASS_NETWORK_ETHERNET,
                                      .num_queues = pairs > 1 ? 2 * pairs + 1 : 2,
                                      .queue_max = VIRTIO_NET_QUEUE_MAX,
                                      .config_len = VIRTIO_NET_CONFIG_LEN,
                                      .ops = &net_ops};
    char inner[256];

    if (!n) {
        snprintf(err, errlen, "net%u: out of memory", index);
        return NULL;
    }
    snprintf(n->name, sizeof(n->name), "net%u", index);
    n->index = index;
    n->pairs = pairs;
    n->mem = m->mem;
    n->ctrl_call_fd = -1;
    n->ctrl_queue = -1;
    n->admin_up = true;
    memcpy(n->mac, c->mac, sizeof(n->mac));
    n->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (n->stop_fd < 0) {
        snprintf(err, errlen, "%s: eventfd: %s", n->name, strerror(errno));
        free(n);
        return NULL;
    }
    n->backend = c->tap[0] ? &vhost_net_backend : &vhost_user_backend;
    if (c->tap[0] ? vhost_net_create(&n->vnet, c->tap, m->mem, NET_DATAPATH_FEATURES,
                                     &vhost_net_kernel, inner, sizeof(inner))
                  : vhost_user_create(&n->vhost, &vc, inner, sizeof(inner))) {
        snprintf(err, errlen, "net[%u]: %s", index, inner);
        close(n->stop_fd);
        free(n);
        return NULL;
    }
    info.name = n->name;
    info.dev = n;
    if (virtio_pci_init(&n->vp, m, &info, err, errlen)) {
        if (c->tap[0])
            vhost_net_destroy(&n->vnet);
        else
            vhost_user_destroy(&n->vhost);
        close(n->stop_fd);
        free(n);
        return NULL;
    }
    if (c->tap[0]) {
        n->link_up = true; /* the tap is there from the start */
        return n;
    }
    apply_pairs(n, 1); /* the driver starts on the first pair */
    if (pthread_create(&n->thread, NULL, net_thread, n)) {
        snprintf(err, errlen, "%s: cannot start its thread", n->name);
        net_destroy(m, n);
        return NULL;
    }
    n->thread_started = true;
    return n;
}

static bool net_wanted(const struct vmm_config *cfg)
{
    return cfg && cfg->nnet > 0;
}

static void net_unrealize(struct machine *m, void *state)
{
    struct virtio_net_set *set = state;

    while (set->n > 0)
        net_destroy(m, set->net[--set->n]);
    free(set);
}

static void *net_realize(struct machine *m, char *err, size_t errlen)
{
    struct virtio_net_set *set = calloc(1, sizeof(*set));

    if (!set) {
        snprintf(err, errlen, "virtio-net: out of memory");
        return NULL;
    }
    if (!m->mem || m->mem->fd < 0) {
        snprintf(err, errlen, "virtio-net: guest memory has no memfd to share with a backend");
        free(set);
        return NULL;
    }
    for (unsigned i = 0; i < m->cfg->nnet; i++) {
        struct virtio_net *n = net_create(m, i, err, errlen);
        if (!n) {
            net_unrealize(m, set);
            return NULL;
        }
        set->net[set->n++] = n;
    }
    return set;
}

const struct device_type virtio_net_device = {.name = "virtio-net",
                                              .wanted = net_wanted,
                                              .realize = net_realize,
                                              .unrealize = net_unrealize};

static struct virtio_net *find(const struct machine *m, unsigned iface)
{
    struct virtio_net_set *set = machine_device(m, &virtio_net_device);

    return set && iface < set->n ? set->net[iface] : NULL;
}

unsigned virtio_net_count(const struct machine *m)
{
    struct virtio_net_set *set = machine_device(m, &virtio_net_device);

    return set ? set->n : 0;
}

static void link_state(const struct virtio_net *n, struct virtio_net_link *out)
{
    out->admin_up = n->admin_up;
    out->backend = n->backend->connected(n);
    out->up = n->link_up;
}

int virtio_net_set_link(struct machine *m, unsigned iface, bool up, struct virtio_net_link *out,
                        char *err, size_t errlen)
{
    struct virtio_net *n = find(m, iface);

    if (!n) {
        snprintf(err, errlen, "no interface %u (the VM has %u)", iface, virtio_net_count(m));
        return -1;
    }
    virtio_pci_lock(&n->vp);
    n->admin_up = up;
    sync_link(n);
    link_state(n, out);
    virtio_pci_unlock(&n->vp);
    return 0;
}

int virtio_net_get_link(struct machine *m, unsigned iface, struct virtio_net_link *out)
{
    struct virtio_net *n = find(m, iface);

    if (!n)
        return -1;
    virtio_pci_lock(&n->vp);
    link_state(n, out);
    virtio_pci_unlock(&n->vp);
    return 0;
}

struct pci_function *virtio_net_function(const struct machine *m, unsigned iface)
{
    struct virtio_net *n = find(m, iface);

    return n ? &n->vp.fn : NULL;
}
