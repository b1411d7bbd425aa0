/* The vhost-user frontend session; see vhost_user.h. */
#include "vhost_user.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/listen.h"

/* What evr's frontend uses of the protocol features: MQ (queue pairs
 * beyond the first) and REPLY_ACK (every request confirmed, so a refusal is
 * seen at the request that caused it). Others are refused by not acking
 * them: CONFIG and STATUS are not needed for virtio-net (evr-vmm keeps the
 * device's configuration space and status itself), LOG_SHMFD is for live
 * migration, SLAVE_REQ would let the backend send requests on its own. */
#define EVR_PROTOCOL_FEATURES                                                                      \
    ((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))

/* Virtio features the frontend cannot carry: rings are split rings given
 * by frontend addresses (no packed ring, no IOTLB), and bit 30 is the
 * frontend's own business with the backend. */
#define VIRTIO_F_IOMMU_PLATFORM 33
#define VIRTIO_F_RING_PACKED    34
#define UNCARRIED_FEATURES                                                                         \
    ((1ull << VIRTIO_F_IOMMU_PLATFORM) | (1ull << VIRTIO_F_RING_PACKED) |                          \
     (1ull << VHOST_USER_F_PROTOCOL_FEATURES))

#define SPLIT_DESC_BYTES  16u
#define SPLIT_DESC_ALIGN  16u
#define SPLIT_AVAIL_ALIGN 2u
#define SPLIT_USED_ALIGN  4u

/* Whether bit 30 is in play on this connection: the frontend acks it in
 * SET_FEATURES whenever the backend offers it. */
static bool protocol_acked(const struct vhost_user_session *s)
{
    return s->backend_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

static void drop_backend(struct vhost_user_session *s)
{
    if (s->conn_fd >= 0)
        close(s->conn_fd);
    s->conn_fd = -1;
    s->backend_features = 0;
    s->protocol_features = 0;
    s->queue_pairs = 0;
    s->mem_sent = false;
}

/* Reads the backend's reply to req (verb: what it was to do) and checks it
 * has size payload bytes. */
static int read_reply(struct vhost_user_session *s, uint32_t req, uint32_t size,
                      struct vhost_user_msg *msg, const char *verb, char *err, size_t errlen)
{
    char name[32];
    int rc = vhost_user_msg_recv(s->conn_fd, msg, s->timeout_ms, err, errlen);

    if (rc == 1)
        snprintf(err, errlen, "the backend closed the connection instead of %s %s", verb,
                 vhost_user_request_name(req, name, sizeof(name)));
    if (rc != 0)
        return -1;
    return vhost_user_msg_check_reply(msg, req, size, err, errlen);
}

/* Sends a request; with reply-ack negotiated, waits for the backend's ack
 * and fails on a non-zero status. */
static int request(struct vhost_user_session *s, uint32_t req, const void *payload, uint32_t size,
                   const int *fds, unsigned nfds, char *err, size_t errlen)
{
    bool ack = s->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
    struct vhost_user_msg msg;
    char name[32];

    vhost_user_msg_init(&msg, req, ack ? VHOST_USER_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
    if (vhost_user_msg_send(s->conn_fd, &msg, s->timeout_ms, err, errlen) < 0)
        return -1;
    if (!ack)
        return 0;
    if (read_reply(s, req, sizeof(uint64_t), &msg, "acking", err, errlen) < 0)
        return -1;
    if (msg.payload.u64 != 0) {
        snprintf(err, errlen, "the backend refused %s (status %llu)",
                 vhost_user_request_name(req, name, sizeof(name)),
                 (unsigned long long)msg.payload.u64);
        return -1;
    }
    return 0;
}

/* Sends a request that has a reply and reads that reply (reply_size bytes). */
static int query(struct vhost_user_session *s, uint32_t req, const void *payload, uint32_t size,
                 void *reply, uint32_t reply_size, char *err, size_t errlen)
{
    struct vhost_user_msg msg;

    vhost_user_msg_init(&msg, req, 0, payload, size, NULL, 0);
    if (vhost_user_msg_send(s->conn_fd, &msg, s->timeout_ms, err, errlen) < 0 ||
        read_reply(s, req, reply_size, &msg, "answering", err, errlen) < 0)
        return -1;
    memcpy(reply, &msg.payload, reply_size);
    return 0;
}

static int request_u64(struct vhost_user_session *s, uint32_t req, uint64_t value, char *err,
                       size_t errlen)
{
    return request(s, req, &value, sizeof(value), NULL, 0, err, errlen);
}

uint64_t vhost_user_gpa_to_uaddr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    void *p = guest_mem_ptr(mem, gpa, len);

    return p ? (uint64_t)(uintptr_t)p : 0;
}

static uint64_t avail_bytes(uint16_t size)
{
    return 6 + 2ull * size; /* flags, idx, ring[size], used_event */
}

static uint64_t used_bytes(uint16_t size)
{
    return 6 + 8ull * size; /* flags, idx, ring[size] of {id, len}, avail_event */
}

int vhost_user_ring_uaddrs(const struct guest_mem *mem, const struct vhost_user_vring *r,
                           uint64_t *desc, uint64_t *avail, uint64_t *used)
{
    *desc = vhost_user_gpa_to_uaddr(mem, r->desc_gpa, (uint64_t)r->size * SPLIT_DESC_BYTES);
    *avail = vhost_user_gpa_to_uaddr(mem, r->avail_gpa, avail_bytes(r->size));
    *used = vhost_user_gpa_to_uaddr(mem, r->used_gpa, used_bytes(r->size));
    return *desc && *avail && *used && !(r->desc_gpa % SPLIT_DESC_ALIGN) &&
                           !(r->avail_gpa % SPLIT_AVAIL_ALIGN) && !(r->used_gpa % SPLIT_USED_ALIGN)
                   ? 0
                   : -1;
}

static int send_features(struct vhost_user_session *s, char *err, size_t errlen)
{
    uint64_t f = s->driver_features;

    /* Acking bit 30 makes the backend start each ring disabled until
     * SET_VRING_ENABLE, so it never runs a ring set up halfway. */
    if (protocol_acked(s))
        f |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
    return request_u64(s, VHOST_USER_SET_FEATURES, f, err, errlen);
}

static int send_mem_table(struct vhost_user_session *s, char *err, size_t errlen)
{
    struct guest_mem_region r[GUEST_MEM_MAX_REGIONS];
    struct vhost_user_mem_table t;
    int fds[GUEST_MEM_MAX_REGIONS];
    unsigned n = guest_mem_regions(s->mem, r);

    memset(&t, 0, sizeof(t));
    t.nregions = n;
    for (unsigned i = 0; i < n; i++) {
        t.regions[i] = (struct vhost_user_mem_region){
                .gpa = r[i].gpa,
                .size = r[i].size,
                .user_addr = (uint64_t)(uintptr_t)r[i].host,
                .mmap_offset = r[i].fd_offset,
        };
        fds[i] = s->mem->fd; /* one memfd; each region names it */
    }
    /* The payload is the count, the padding and n regions, not all 8. */
    if (request(s, VHOST_USER_SET_MEM_TABLE, &t,
                (uint32_t)(offsetof(struct vhost_user_mem_table, regions) +
                           n * sizeof(t.regions[0])),
                fds, n, err, errlen) < 0)
        return -1;
    s->mem_sent = true;
    return 0;
}

static int send_vring_fd(struct vhost_user_session *s, uint32_t req, unsigned index, int fd,
                         char *err, size_t errlen)
{
    uint64_t v = index & VHOST_USER_VRING_IDX_MASK;

    if (fd < 0)
        return request_u64(s, req, v | VHOST_USER_VRING_NOFD, err, errlen);
    return request(s, req, &v, sizeof(v), &fd, 1, err, errlen);
}

static int send_vring(struct vhost_user_session *s, unsigned index, char *err, size_t errlen)
{
    const struct vhost_user_vring *r = &s->vrings[index].ring;
    struct vhost_user_vring_state num = {.index = index, .num = r->size};
    struct vhost_user_vring_state base = {.index = index, .num = r->base};
    struct vhost_user_vring_state enable = {.index = index, .num = 1};
    struct vhost_user_vring_addr addr = {
            .index = index,
            .desc = vhost_user_gpa_to_uaddr(s->mem, r->desc_gpa,
                                            (uint64_t)r->size * SPLIT_DESC_BYTES),
            .used = vhost_user_gpa_to_uaddr(s->mem, r->used_gpa, used_bytes(r->size)),
            .avail = vhost_user_gpa_to_uaddr(s->mem, r->avail_gpa, avail_bytes(r->size)),
    };

    if (!s->mem_sent && send_mem_table(s, err, errlen) < 0)
        return -1;
    if (request(s, VHOST_USER_SET_VRING_NUM, &num, sizeof(num), NULL, 0, err, errlen) < 0 ||
        request(s, VHOST_USER_SET_VRING_BASE, &base, sizeof(base), NULL, 0, err, errlen) < 0 ||
        request(s, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, err, errlen) < 0 ||
        send_vring_fd(s, VHOST_USER_SET_VRING_CALL, index, r->call_fd, err, errlen) < 0 ||
        send_vring_fd(s, VHOST_USER_SET_VRING_KICK, index, r->kick_fd, err, errlen) < 0)
        return -1;
    if (r->err_fd >= 0 &&
        send_vring_fd(s, VHOST_USER_SET_VRING_ERR, index, r->err_fd, err, errlen) < 0)
        return -1;
    /* A ring the driver has not enabled (a queue pair beyond the ones it
     * asked for) stays disabled: with bit 30 acked it starts so. */
    if (protocol_acked(s) && s->vrings[index].enabled &&
        request(s, VHOST_USER_SET_VRING_ENABLE, &enable, sizeof(enable), NULL, 0, err, errlen) < 0)
        return -1;
    return 0;
}

/* The used ring's index: how far the backend got, as the guest sees it. A
 * backend that died cannot answer GET_VRING_BASE; this is where the next
 * one resumes (buffers it took but never returned are offered again). */
static uint16_t used_index(const struct vhost_user_session *s, unsigned index)
{
    const struct vhost_user_vring *r = &s->vrings[index].ring;
    const uint16_t *idx = guest_mem_ptr(s->mem, r->used_gpa + 2, sizeof(uint16_t));

    return __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

/* The exchange with a backend that just connected: features, protocol
 * features, ownership, queue count; then whatever the driver already set up. */
static int negotiate(struct vhost_user_session *s, char *err, size_t errlen)
{
    uint64_t features, protocol;

    if (query(s, VHOST_USER_GET_FEATURES, NULL, 0, &features, sizeof(features), err, errlen) < 0)
        return -1;
    s->backend_features = features;
    if (s->features_set && (s->driver_features & ~features)) {
        snprintf(err, errlen,
                 "the backend offers features 0x%llx, without 0x%llx that the driver accepted",
                 (unsigned long long)features,
                 (unsigned long long)(s->driver_features & ~features));
        return -1;
    }
    if (protocol_acked(s)) {
        if (query(s, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, &protocol, sizeof(protocol), err,
                  errlen) < 0)
            return -1;
        protocol &= EVR_PROTOCOL_FEATURES;
        if (request_u64(s, VHOST_USER_SET_PROTOCOL_FEATURES, protocol, err, errlen) < 0)
            return -1;
        /* Reply-ack applies from the next request on. */
        s->protocol_features = protocol;
    }
    if (request(s, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, err, errlen) < 0)
        return -1;
    s->queue_pairs = 1;
    if (s->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
        uint64_t n;

        if (query(s, VHOST_USER_GET_QUEUE_NUM, NULL, 0, &n, sizeof(n), err, errlen) < 0)
            return -1;
        if (n == 0) {
            snprintf(err, errlen, "the backend offers multiqueue with 0 queue pairs");
            return -1;
        }
        s->queue_pairs = n < s->max_queue_pairs ? (unsigned)n : s->max_queue_pairs;
    }
    /* The device told the driver its queue pairs (max_virtqueue_pairs):
     * a backend with fewer cannot carry them. */
    if (s->queue_pairs < s->max_queue_pairs) {
        snprintf(err, errlen, "the backend offers %u queue pair%s, fewer than the %u configured%s",
                 s->queue_pairs, s->queue_pairs == 1 ? "" : "s", s->max_queue_pairs,
                 s->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_MQ)
                         ? ""
                         : " (it has no multiqueue protocol feature)");
        return -1;
    }
    if (s->features_set && send_features(s, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < VHOST_USER_MAX_VRINGS; i++) {
        if (!s->vrings[i].started)
            continue;
        s->vrings[i].ring.base = used_index(s, i);
        if (send_vring(s, i, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int vhost_user_create(struct vhost_user_session *s, const struct vhost_user_config *config,
                      char *err, size_t errlen)
{
    struct evr_err e;

    memset(s, 0, sizeof(*s));
    s->listen_fd = -1;
    s->conn_fd = -1;
    for (unsigned i = 0; i < VHOST_USER_MAX_VRINGS; i++)
        s->vrings[i].enabled = true;
    if (strlen(config->socket_path) >= sizeof(s->path)) {
        snprintf(err, errlen, "vhost-user socket %s: path longer than %zu bytes",
                 config->socket_path, sizeof(s->path) - 1);
        return -1;
    }
    if (config->mem->fd < 0) {
        snprintf(err, errlen, "vhost-user: guest memory has no memfd to share with a backend");
        return -1;
    }
    if (config->features & UNCARRIED_FEATURES) {
        snprintf(err, errlen,
                 "vhost-user: features 0x%llx cannot be offered (packed rings, IOMMU platform and "
                 "bit 30 are not carried)",
                 (unsigned long long)(config->features & UNCARRIED_FEATURES));
        return -1;
    }
    if (config->max_queue_pairs < 1 || config->max_queue_pairs > VHOST_USER_MAX_QUEUE_PAIRS) {
        snprintf(err, errlen, "vhost-user: %u queue pairs, not 1 to %d", config->max_queue_pairs,
                 VHOST_USER_MAX_QUEUE_PAIRS);
        return -1;
    }
    snprintf(s->path, sizeof(s->path), "%s", config->socket_path);
    s->mem = config->mem;
    s->allowed_features = config->features;
    s->max_queue_pairs = config->max_queue_pairs;
    s->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : VHOST_USER_TIMEOUT_MS;
    /* The control sockets' listener: mode 0600, made under PATH.new and
     * renamed into place, a stale socket replaced and any other file
     * refused; each backend's credentials are checked at accept. */
    s->listen_fd = ctl_listen(s->path, CTL_NO_GROUP, &e);
    if (s->listen_fd < 0) {
        snprintf(err, errlen, "vhost-user socket: %s", e.msg);
        return -1;
    }
    return 0;
}

void vhost_user_destroy(struct vhost_user_session *s)
{
    drop_backend(s);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        unlink(s->path);
    }
    s->listen_fd = -1;
}

int vhost_user_poll_fd(const struct vhost_user_session *s)
{
    return s->conn_fd >= 0 ? s->conn_fd : s->listen_fd;
}

bool vhost_user_connected(const struct vhost_user_session *s)
{
    return s->conn_fd >= 0;
}

enum vhost_user_event vhost_user_handle(struct vhost_user_session *s, char *err, size_t errlen)
{
    struct vhost_user_msg msg;
    char name[32];
    int rc;

    err[0] = '\0';
    if (s->conn_fd < 0) {
        struct evr_err e;

        s->conn_fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (s->conn_fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                snprintf(err, errlen, "vhost-user socket %s: accept: %s", s->path, strerror(errno));
            return VHOST_USER_NONE;
        }
        if (!ctl_peer_allowed(s->conn_fd, geteuid(), CTL_NO_GROUP, &e)) {
            snprintf(err, errlen, "%s", e.msg);
            drop_backend(s);
            return VHOST_USER_REFUSED;
        }
        if (negotiate(s, err, errlen) < 0) {
            drop_backend(s);
            return VHOST_USER_REFUSED;
        }
        s->connections++;
        return VHOST_USER_LINK_UP;
    }
    /* Evr negotiates no backend-initiated requests, so input on the
     * connection is the backend leaving, or a protocol error. */
    rc = vhost_user_msg_recv(s->conn_fd, &msg, s->timeout_ms, err, errlen);
    if (rc == 0) {
        vhost_user_msg_close_fds(&msg);
        snprintf(err, errlen, "the backend sent %s unasked",
                 vhost_user_request_name(msg.hdr.request, name, sizeof(name)));
    } else if (rc == 1) {
        snprintf(err, errlen, "the backend closed the connection");
    }
    drop_backend(s);
    return VHOST_USER_LINK_DOWN;
}

uint64_t vhost_user_device_features(const struct vhost_user_session *s)
{
    return s->backend_features & s->allowed_features;
}

unsigned vhost_user_queue_pairs(const struct vhost_user_session *s)
{
    return s->queue_pairs;
}

int vhost_user_set_features(struct vhost_user_session *s, uint64_t features, char *err,
                            size_t errlen)
{
    uint64_t allowed = s->allowed_features;

    if (vhost_user_connected(s))
        allowed = vhost_user_device_features(s);
    if (features & ~allowed) {
        snprintf(err, errlen, "vhost-user: features 0x%llx were never offered",
                 (unsigned long long)(features & ~allowed));
        return -1;
    }
    s->driver_features = features;
    s->features_set = true;
    if (vhost_user_connected(s) && send_features(s, err, errlen) < 0) {
        drop_backend(s);
        return -1;
    }
    return 0;
}

void vhost_user_reset(struct vhost_user_session *s)
{
    s->features_set = false;
    s->driver_features = 0;
}

static int check_ring(const struct vhost_user_session *s, unsigned index,
                      const struct vhost_user_vring *r, char *err, size_t errlen)
{
    unsigned limit = 2 * (vhost_user_connected(s) ? s->queue_pairs : s->max_queue_pairs);

    if (!s->features_set) {
        snprintf(err, errlen, "vhost-user: queue %u started before the features were set", index);
        return -1;
    }
    if (index >= limit) {
        snprintf(err, errlen, "vhost-user: queue %u is beyond the %u queues of the device", index,
                 limit);
        return -1;
    }
    if (s->vrings[index].started) {
        snprintf(err, errlen, "vhost-user: queue %u is already started", index);
        return -1;
    }
    if (r->size == 0 || (r->size & (r->size - 1))) {
        snprintf(err, errlen, "vhost-user: queue %u size %u is not a power of two", index, r->size);
        return -1;
    }
    if (r->desc_gpa % SPLIT_DESC_ALIGN || r->avail_gpa % SPLIT_AVAIL_ALIGN ||
        r->used_gpa % SPLIT_USED_ALIGN) {
        snprintf(err, errlen,
                 "vhost-user: queue %u rings misaligned (desc 0x%llx, avail 0x%llx, used 0x%llx)",
                 index, (unsigned long long)r->desc_gpa, (unsigned long long)r->avail_gpa,
                 (unsigned long long)r->used_gpa);
        return -1;
    }
    if (!vhost_user_gpa_to_uaddr(s->mem, r->desc_gpa, (uint64_t)r->size * SPLIT_DESC_BYTES) ||
        !vhost_user_gpa_to_uaddr(s->mem, r->avail_gpa, avail_bytes(r->size)) ||
        !vhost_user_gpa_to_uaddr(s->mem, r->used_gpa, used_bytes(r->size))) {
        snprintf(err, errlen,
                 "vhost-user: queue %u rings are not all in guest RAM (desc 0x%llx, avail 0x%llx, "
                 "used 0x%llx, size %u)",
                 index, (unsigned long long)r->desc_gpa, (unsigned long long)r->avail_gpa,
                 (unsigned long long)r->used_gpa, r->size);
        return -1;
    }
    if (r->kick_fd < 0 || r->call_fd < 0) {
        snprintf(err, errlen, "vhost-user: queue %u needs kick and call eventfds", index);
        return -1;
    }
    return 0;
}

int vhost_user_vring_start(struct vhost_user_session *s, unsigned index,
                           const struct vhost_user_vring *ring, char *err, size_t errlen)
{
    if (check_ring(s, index, ring, err, errlen) < 0)
        return -1;
    s->vrings[index].ring = *ring;
    s->vrings[index].started = true;
    if (vhost_user_connected(s) && send_vring(s, index, err, errlen) < 0) {
        drop_backend(s);
        return -1;
    }
    return 0;
}

int vhost_user_vring_enable(struct vhost_user_session *s, unsigned index, bool enable, char *err,
                            size_t errlen)
{
    struct vhost_user_vring_state state = {.index = index, .num = enable};

    err[0] = '\0';
    if (index >= 2 * s->max_queue_pairs) {
        snprintf(err, errlen, "vhost-user: queue %u is beyond the %u queues of the device", index,
                 2 * s->max_queue_pairs);
        return -1;
    }
    if (s->vrings[index].enabled == enable)
        return 0;
    s->vrings[index].enabled = enable;
    if (!vhost_user_connected(s) || !s->vrings[index].started || !protocol_acked(s))
        return 0;
    if (request(s, VHOST_USER_SET_VRING_ENABLE, &state, sizeof(state), NULL, 0, err, errlen) < 0) {
        drop_backend(s);
        return -1;
    }
    return 0;
}

int vhost_user_vring_stop(struct vhost_user_session *s, unsigned index, uint16_t *next_avail,
                          char *err, size_t errlen)
{
    struct vhost_user_vring_state state = {.index = index}, reply;

    err[0] = '\0';
    if (index >= VHOST_USER_MAX_VRINGS || !s->vrings[index].started) {
        snprintf(err, errlen, "vhost-user: queue %u is not started", index);
        return -1;
    }
    s->vrings[index].started = false;
    *next_avail = used_index(s, index);
    if (!vhost_user_connected(s))
        return 0;
    if (protocol_acked(s) &&
        request(s, VHOST_USER_SET_VRING_ENABLE, &state, sizeof(state), NULL, 0, err, errlen) < 0)
        goto dropped;
    if (query(s, VHOST_USER_GET_VRING_BASE, &state, sizeof(state), &reply, sizeof(reply), err,
              errlen) < 0)
        goto dropped;
    if (reply.index != index || reply.num > UINT16_MAX) {
        snprintf(err, errlen, "GET_VRING_BASE of queue %u answered queue %u, index %u", index,
                 reply.index, reply.num);
        goto dropped;
    }
    *next_avail = (uint16_t)reply.num;
    return 0;
dropped:
    /* The queue is stopped either way; the used index stands in. */
    drop_backend(s);
    return 0;
}
