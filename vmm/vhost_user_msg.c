/* vhost-user framing and descriptor passing; see vhost_user_msg.h. */
#include "vhost_user_msg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const request_names[] = {
        [VHOST_USER_GET_FEATURES] = "GET_FEATURES",
        [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
        [VHOST_USER_SET_OWNER] = "SET_OWNER",
        [VHOST_USER_RESET_OWNER] = "RESET_OWNER",
        [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
        [VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
        [VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
        [VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
        [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
        [VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
        [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
        [VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
        [VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
        [VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
        [VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
        [VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
        [VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
        [VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
};

const char *vhost_user_request_name(uint32_t request, char *buf, size_t len)
{
    if (request < sizeof(request_names) / sizeof(request_names[0]) && request_names[request])
        return request_names[request];
    snprintf(buf, len, "request %u", request);
    return buf;
}

void vhost_user_msg_init(struct vhost_user_msg *msg, uint32_t request, uint32_t flags,
                         const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
    memset(msg, 0, sizeof(*msg));
    msg->hdr.request = request;
    msg->hdr.flags = VHOST_USER_VERSION | flags;
    msg->hdr.size = size;
    if (size)
        memcpy(&msg->payload, payload, size);
    for (unsigned i = 0; i < nfds; i++)
        msg->fds[i] = fds[i];
    msg->nfds = nfds;
}

void vhost_user_msg_close_fds(struct vhost_user_msg *msg)
{
    for (unsigned i = 0; i < msg->nfds; i++)
        close(msg->fds[i]);
    msg->nfds = 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on sock until deadline; 0 when ready, -1 on timeout or
 * error (err filled). */
static int wait_ready(int sock, short events, int64_t deadline, const char *what, char *err,
                      size_t errlen)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd p = {.fd = sock, .events = events};
        int n;

        if (left < 0)
            left = 0;
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n == 0) {
            snprintf(err, errlen, "%s: no progress within the deadline (peer stalled)", what);
            return -1;
        }
        if (errno != EINTR) {
            snprintf(err, errlen, "%s: poll: %s", what, strerror(errno));
            return -1;
        }
    }
}

int vhost_user_msg_send(int sock, const struct vhost_user_msg *msg, int timeout_ms, char *err,
                        size_t errlen)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    uint8_t bytes[sizeof(struct vhost_user_hdr) + VHOST_USER_MAX_PAYLOAD];
    size_t total = sizeof(msg->hdr) + msg->hdr.size, done = 0;
    int64_t deadline = now_ms() + timeout_ms;
    char name[32];
    const char *what = vhost_user_request_name(msg->hdr.request, name, sizeof(name));

    if (msg->hdr.size > VHOST_USER_MAX_PAYLOAD || msg->nfds > VHOST_USER_MAX_FDS) {
        snprintf(err, errlen, "%s: %u payload bytes and %u descriptors exceed the limits", what,
                 msg->hdr.size, msg->nfds);
        return -1;
    }
    /* On the wire the payload follows the 12-byte header directly. */
    memcpy(bytes, &msg->hdr, sizeof(msg->hdr));
    memcpy(bytes + sizeof(msg->hdr), &msg->payload, msg->hdr.size);
    while (done < total) {
        struct iovec iov = {.iov_base = (void *)(bytes + done), .iov_len = total - done};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        /* Descriptors ride on the first byte only. */
        if (done == 0 && msg->nfds) {
            struct cmsghdr *c;

            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * msg->nfds);
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * msg->nfds);
            memcpy(CMSG_DATA(c), msg->fds, sizeof(int) * msg->nfds);
        }
        n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_ready(sock, POLLOUT, deadline, what, err, errlen) < 0)
                return -1;
            continue;
        }
        snprintf(err, errlen, "%s: send: %s", what, n < 0 ? strerror(errno) : "nothing sent");
        return -1;
    }
    return 0;
}

/* Takes the descriptors of one received control message into msg. */
static int take_fds(struct msghdr *mh, struct vhost_user_msg *msg, char *err, size_t errlen)
{
    int rc = 0;

    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        size_t n;
        int fds[VHOST_USER_MAX_FDS];

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (n > VHOST_USER_MAX_FDS)
            n = VHOST_USER_MAX_FDS; /* cannot happen: the buffer holds no more */
        memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        for (size_t i = 0; i < n; i++) {
            if (msg->nfds < VHOST_USER_MAX_FDS) {
                msg->fds[msg->nfds++] = fds[i];
            } else {
                close(fds[i]);
                rc = -1;
            }
        }
    }
    if (rc < 0 || (mh->msg_flags & MSG_CTRUNC)) {
        snprintf(err, errlen, "more than %d descriptors came with one message", VHOST_USER_MAX_FDS);
        return -1;
    }
    return 0;
}

/* Reads exactly len bytes into buf (descriptors into msg). Returns 0, 1 if
 * the peer closed before the first byte and may_close, -1 otherwise. */
static int recv_exact(int sock, void *buf, size_t len, struct vhost_user_msg *msg, int64_t deadline,
                      const char *what, int may_close, char *err, size_t errlen)
{
    size_t got = 0;

    while (got < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = (uint8_t *)buf + got, .iov_len = len - got};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_ready(sock, POLLIN, deadline, what, err, errlen) < 0)
                return -1;
            continue;
        }
        if (n < 0) {
            snprintf(err, errlen, "%s: receive: %s", what, strerror(errno));
            return -1;
        }
        if (take_fds(&mh, msg, err, errlen) < 0)
            return -1;
        if (n == 0) {
            if (got == 0 && may_close)
                return 1;
            snprintf(err, errlen, "%s: the peer closed after %zu of %zu bytes", what, got, len);
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

int vhost_user_msg_recv(int sock, struct vhost_user_msg *msg, int timeout_ms, char *err,
                        size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    int rc;

    memset(msg, 0, sizeof(*msg));
    rc = recv_exact(sock, &msg->hdr, sizeof(msg->hdr), msg, deadline, "message header", 1, err,
                    errlen);
    if (rc != 0)
        goto out;
    if (msg->hdr.size > VHOST_USER_MAX_PAYLOAD) {
        char name[32];

        snprintf(err, errlen, "%s: payload of %u bytes is over the %zu-byte limit",
                 vhost_user_request_name(msg->hdr.request, name, sizeof(name)), msg->hdr.size,
                 VHOST_USER_MAX_PAYLOAD);
        rc = -1;
        goto out;
    }
    rc = recv_exact(sock, &msg->payload, msg->hdr.size, msg, deadline, "message payload", 0, err,
                    errlen);
out:
    if (rc != 0)
        vhost_user_msg_close_fds(msg);
    return rc;
}

int vhost_user_msg_check_reply(struct vhost_user_msg *msg, uint32_t request, uint32_t size,
                               char *err, size_t errlen)
{
    char want[32], got[32];
    const char *name = vhost_user_request_name(request, want, sizeof(want));

    if (msg->nfds) {
        snprintf(err, errlen, "reply to %s carries %u descriptors, none expected", name, msg->nfds);
        vhost_user_msg_close_fds(msg);
        return -1;
    }
    if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
        snprintf(err, errlen, "reply to %s has version %u, not %u", name,
                 msg->hdr.flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
        return -1;
    }
    if (!(msg->hdr.flags & VHOST_USER_FLAG_REPLY)) {
        snprintf(err, errlen, "answer to %s lacks the reply flag (flags 0x%x)", name,
                 msg->hdr.flags);
        return -1;
    }
    if (msg->hdr.request != request) {
        snprintf(err, errlen, "reply to %s is for %s", name,
                 vhost_user_request_name(msg->hdr.request, got, sizeof(got)));
        return -1;
    }
    if (msg->hdr.size != size) {
        snprintf(err, errlen, "reply to %s has %u payload bytes, not %u", name, msg->hdr.size,
                 size);
        return -1;
    }
    return 0;
}
