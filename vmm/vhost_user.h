/* The vhost-user frontend of one virtio device: evr-vmm listens on a unix
 * socket, a backend (evr-vswitch's VM port: DPDK's vhost library as a
 * client) connects, and evr-vmm hands it the guest's memory (memfd), the
 * negotiated features and each virtqueue's rings and eventfds, so frames move
 * between the backend and the guest without evr-vmm touching them.
 *
 * Contract with the layer that drives it (the virtio-pci transport):
 *
 *   vhost_user_create()          listen on the socket (mode 0600)
 *   vhost_user_poll_fd()         the one descriptor to poll for input: the
 *                                listening socket while no backend is
 *                                connected, the connection while one is.
 *                                Ask again after every vhost_user_handle().
 *   vhost_user_handle()          call when that descriptor is readable:
 *                                accepts and negotiates a backend (LINK_UP,
 *                                or REFUSED if it fails negotiation), or
 *                                notices it left (LINK_DOWN).
 *   vhost_user_device_features() the features a backend offered, masked by
 *                                what the session was created to allow:
 *                                what the transport may offer the driver.
 *   vhost_user_set_features()    the driver's accepted features (at
 *                                FEATURES_OK); refused if the connected
 *                                backend lacks one.
 *   vhost_user_vring_start()     a queue the driver enabled: its size, the
 *                                guest-physical addresses of its rings, the
 *                                avail index to start from (0 after a reset)
 *                                and its kick eventfd (the transport binds it
 *                                to the notify register with KVM_IOEVENTFD)
 *                                and call eventfd (bound to the queue's
 *                                MSI-X vector with KVM_IRQFD).
 *   vhost_user_vring_enable()    a ring the driver uses or leaves idle
 *                                (virtio-net's VQ_PAIRS_SET): SET_VRING_ENABLE.
 *   vhost_user_vring_stop()      a queue the driver reset: GET_VRING_BASE,
 *                                the index to resume from. At a device
 *                                reset stop every queue before starting
 *                                any again (as QEMU does): DPDK's net_vhost
 *                                (22.11) forgets every queue's enabled
 *                                state when one is stopped, so one queue
 *                                stopped and restarted alone while the
 *                                others run leaves them off.
 *   vhost_user_reset()           the device reset, after every queue
 *                                stopped: the driver's features forgotten.
 *
 * The session remembers the driver's features and every started queue, so
 * a backend that leaves and comes back (a vswitch restart) is given the same
 * state again when it reconnects: the guest sees a link flap at most. The
 * descriptors in a vhost_user_vring are borrowed (the transport owns its
 * eventfds and keeps them open while the queue is started).
 *
 * A backend is an outside input: every reply is checked (size, flags, the
 * request it answers, descriptors) and every wait is bounded by the
 * session's timeout. A backend that misbehaves or vanishes is dropped with
 * an error naming what it did; the session keeps listening for the next.
 * When a call returns -1, vhost_user_connected() says whether that dropped
 * the backend (a link-down for the transport) or only refused the input.
 *
 * Not thread-safe: one thread (the VM's event loop) calls everything. */
#ifndef EVR_VMM_VHOST_USER_H
#define EVR_VMM_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "vhost_user_msg.h"

#define VHOST_USER_MAX_QUEUE_PAIRS 8
#define VHOST_USER_MAX_VRINGS      (2 * VHOST_USER_MAX_QUEUE_PAIRS)
#define VHOST_USER_MAX_QUEUE_SIZE  32768 /* the split ring's limit */
#define VHOST_USER_TIMEOUT_MS      5000  /* default bound on one request's round trip */

/* A queue as the driver laid it out (split virtqueue). */
struct vhost_user_vring {
    uint16_t size;      /* power of two, 1..32768 */
    uint16_t base;      /* avail index the backend starts from */
    uint64_t desc_gpa;  /* 16-byte aligned */
    uint64_t avail_gpa; /* 2-byte aligned */
    uint64_t used_gpa;  /* 4-byte aligned */
    int kick_fd;        /* eventfd the driver's notifications reach */
    int call_fd;        /* eventfd the backend signals the driver through */
    int err_fd;         /* eventfd for backend errors, or -1 */
};

struct vhost_user_config {
    const char *socket_path;
    const struct guest_mem *mem; /* must have a memfd; kept, not copied */
    uint64_t features;           /* virtio features the device may offer */
    unsigned max_queue_pairs;    /* 1..VHOST_USER_MAX_QUEUE_PAIRS */
    int timeout_ms;              /* 0: VHOST_USER_TIMEOUT_MS */
};

enum vhost_user_event {
    VHOST_USER_NONE,      /* nothing changed */
    VHOST_USER_LINK_UP,   /* a backend connected and has the device's state */
    VHOST_USER_LINK_DOWN, /* the backend left or was dropped (err says why) */
    VHOST_USER_REFUSED,   /* a backend connected and failed negotiation (err) */
};

struct vhost_user_session {
    char path[108];
    int listen_fd;
    int conn_fd; /* -1 while no backend is connected */
    const struct guest_mem *mem;
    int timeout_ms;
    uint64_t allowed_features; /* config.features */
    unsigned max_queue_pairs;
    /* Of the connected backend. */
    uint64_t backend_features;
    uint64_t protocol_features; /* negotiated: offered & what evr uses */
    unsigned queue_pairs;       /* max_queue_pairs once negotiated (fewer are refused) */
    bool mem_sent;              /* SET_MEM_TABLE done on this connection */
    /* The driver's state, replayed to each backend that connects. */
    bool features_set;
    uint64_t driver_features;
    struct {
        bool started;
        bool enabled; /* the driver's choice (vhost_user_vring_enable); true by default */
        struct vhost_user_vring ring;
    } vrings[VHOST_USER_MAX_VRINGS];
    unsigned connections; /* backends accepted and negotiated so far */
};

/* Listens on config->socket_path with ctl_listen (ctl/listen.h: mode 0600,
 * renamed into place, a stale socket there replaced, any other file
 * refused); a backend whose peer credentials are not root's or evr-vmm's
 * user's is refused at accept. A backend offering fewer queue pairs than
 * config->max_queue_pairs (the device's, told to the driver) is refused.
 * Returns 0, or -1 with a message in err. */
int vhost_user_create(struct vhost_user_session *s, const struct vhost_user_config *config,
                      char *err, size_t errlen);

/* Drops the backend, closes the socket and removes its path. */
void vhost_user_destroy(struct vhost_user_session *s);

int vhost_user_poll_fd(const struct vhost_user_session *s);
bool vhost_user_connected(const struct vhost_user_session *s);

/* See above. err is empty unless a backend was refused or dropped (or
 * accept failed), and then says why. */
enum vhost_user_event vhost_user_handle(struct vhost_user_session *s, char *err, size_t errlen);

/* Features of the connected backend the device may offer (0 when none is). */
uint64_t vhost_user_device_features(const struct vhost_user_session *s);

/* Queue pairs of the connected backend, at most config.max_queue_pairs. */
unsigned vhost_user_queue_pairs(const struct vhost_user_session *s);

/* Records the driver's features and sends them if a backend is connected.
 * Returns 0; -1 with err if they include one the device never offered
 * (nothing kept) or the backend failed (then dropped). */
int vhost_user_set_features(struct vhost_user_session *s, uint64_t features, char *err,
                            size_t errlen);

/* Checks and records queue index and sends it to a connected backend
 * (SET_MEM_TABLE first on a new connection). Returns 0; -1 with err for a
 * bad queue (nothing kept: size, alignment, rings outside guest RAM, index
 * beyond the queue pairs, features not set) or a backend failure (the queue
 * is kept for the next backend, this one is dropped). */
int vhost_user_vring_start(struct vhost_user_session *s, unsigned index,
                           const struct vhost_user_vring *ring, char *err, size_t errlen);

/* Enables or disables ring index on the backend (SET_VRING_ENABLE), as a
 * virtio-net driver's VQ_PAIRS_SET asks: rings of the queue pairs it does
 * not use stay set up but idle. Recorded whether or not the ring is started
 * or a backend connected, and replayed to each backend (a disabled ring is
 * set up without SET_VRING_ENABLE 1). Every ring starts enabled. 0, or -1
 * with err for an index beyond the device or a backend that failed (then
 * dropped; the choice is kept). */
int vhost_user_vring_enable(struct vhost_user_session *s, unsigned index, bool enable, char *err,
                            size_t errlen);

/* The driver reset the device (every queue was stopped first): its
 * features are forgotten, so a backend that connects before the next
 * FEATURES_OK is neither held to them nor sent them, and the next driver
 * (another module after rmmod/modprobe) may take a different set. Rings'
 * enabled choices are the transport's to set again (virtio-net: the
 * first pair). Nothing is sent to a connected backend: the next
 * FEATURES_OK sends the new set. */
void vhost_user_reset(struct vhost_user_session *s);

/* Stops queue index. *next_avail is the avail index to resume from: the
 * backend's (GET_VRING_BASE), or, with no backend, the used ring's index
 * in guest memory. Returns 0, or -1 with err (index not started). A backend
 * that fails the exchange is dropped: the queue is stopped all the same,
 * with the used index, and err says why (empty otherwise). */
int vhost_user_vring_stop(struct vhost_user_session *s, unsigned index, uint16_t *next_avail,
                          char *err, size_t errlen);

/* The host address of guest-physical [gpa, gpa+len): what SET_VRING_ADDR
 * carries. 0 if the range is not all RAM of one region. */
uint64_t vhost_user_gpa_to_uaddr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* The host addresses of ring r's descriptors, avail and used rings (what
 * the kernel's vhost-net takes too). 0, or -1 if one is misaligned or not
 * all RAM of one region. */
int vhost_user_ring_uaddrs(const struct guest_mem *mem, const struct vhost_user_vring *r,
                           uint64_t *desc, uint64_t *avail, uint64_t *used);

#endif
