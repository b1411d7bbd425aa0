/* vhost-user messages on the wire (QEMU's docs/interop/vhost-user.rst): the
 * 12-byte header, the payloads evr-vmm's frontend sends or reads, and framed
 * send/receive over a unix stream socket with file descriptors as
 * SCM_RIGHTS. Both directions are bounded: a payload larger than the largest
 * one evr knows, more than VHOST_USER_MAX_FDS descriptors, or a peer that
 * goes silent past the deadline is an error naming what was wrong, never a
 * crash or a hang. The unit tests' fake backend uses the same functions.
 *
 * Byte order is the host's (the protocol is little-endian on x86-64). */
#ifndef EVR_VMM_VHOST_USER_MSG_H
#define EVR_VMM_VHOST_USER_MSG_H

#include <stddef.h>
#include <stdint.h>

/* Header flags: a version in bits 0-1, then reply and need-reply. */
#define VHOST_USER_VERSION         0x1u
#define VHOST_USER_VERSION_MASK    0x3u
#define VHOST_USER_FLAG_REPLY      (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

/* Requests from the frontend, by the numbers of the specification. */
enum vhost_user_request {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_RESET_OWNER = 4,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_LOG_BASE = 6,
    VHOST_USER_SET_LOG_FD = 7,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_SET_VRING_ERR = 14,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
};

/* Feature bits. VHOST_USER_F_PROTOCOL_FEATURES shares the virtio feature
 * word (bit 30, unused by virtio) and gates the protocol-feature requests. */
#define VHOST_USER_F_PROTOCOL_FEATURES  30
#define VHOST_USER_PROTOCOL_F_MQ        0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3

/* The bit of a SET_VRING_KICK/CALL/ERR payload that says "no descriptor". */
#define VHOST_USER_VRING_NOFD     (1ull << 8)
#define VHOST_USER_VRING_IDX_MASK 0xffull

#define VHOST_USER_MAX_REGIONS 8 /* SET_MEM_TABLE, as every backend accepts */
#define VHOST_USER_MAX_FDS     8

struct vhost_user_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size; /* payload bytes that follow */
} __attribute__((packed));

struct vhost_user_vring_state {
    uint32_t index;
    uint32_t num;
};

/* Ring addresses in the frontend's virtual address space (not guest-physical:
 * the backend translates them through the user_addr of SET_MEM_TABLE). */
struct vhost_user_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc;
    uint64_t used;
    uint64_t avail;
    uint64_t log;
};

struct vhost_user_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t user_addr;   /* where the frontend has it mapped */
    uint64_t mmap_offset; /* where it starts in the region's descriptor */
};

struct vhost_user_mem_table {
    uint32_t nregions;
    uint32_t padding;
    struct vhost_user_mem_region regions[VHOST_USER_MAX_REGIONS];
};

union vhost_user_payload {
    uint64_t u64;
    struct vhost_user_vring_state state;
    struct vhost_user_vring_addr addr;
    struct vhost_user_mem_table mem;
};

/* The largest payload accepted: anything larger is a framing error. */
#define VHOST_USER_MAX_PAYLOAD sizeof(union vhost_user_payload)

struct vhost_user_msg {
    struct vhost_user_hdr hdr;
    union vhost_user_payload payload;
    int fds[VHOST_USER_MAX_FDS];
    unsigned nfds;
};

/* Name of a request for messages ("SET_MEM_TABLE"), or "request N". The
 * buffer is used only for unknown requests. */
const char *vhost_user_request_name(uint32_t request, char *buf, size_t len);

/* A message with payload of size bytes and nfds descriptors (not taken). */
void vhost_user_msg_init(struct vhost_user_msg *msg, uint32_t request, uint32_t flags,
                         const void *payload, uint32_t size, const int *fds, unsigned nfds);

/* Sends msg (header, payload, descriptors in one sendmsg where the socket
 * takes it) within timeout_ms. Never raises SIGPIPE. Returns 0, or -1 with a
 * message in err. */
int vhost_user_msg_send(int sock, const struct vhost_user_msg *msg, int timeout_ms, char *err,
                        size_t errlen);

/* Receives one whole message within timeout_ms, however the stream splits
 * it, with the descriptors that came with it (msg->fds, owned by the caller
 * from then on). Returns 0; 1 when the peer closed cleanly before a new
 * message began; -1 with a message in err (a short message, a size over
 * VHOST_USER_MAX_PAYLOAD, too many or truncated descriptors, a timeout):
 * descriptors received are then closed already. */
int vhost_user_msg_recv(int sock, struct vhost_user_msg *msg, int timeout_ms, char *err,
                        size_t errlen);

/* Closes the descriptors a received message carries. */
void vhost_user_msg_close_fds(struct vhost_user_msg *msg);

/* Checks that msg is the backend's reply to request: version 1, the reply
 * flag, the same request code, exactly size payload bytes and no descriptor.
 * Returns 0, or -1 with a message in err (closing any descriptors). */
int vhost_user_msg_check_reply(struct vhost_user_msg *msg, uint32_t request, uint32_t size,
                               char *err, size_t errlen);

#endif
