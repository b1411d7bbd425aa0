/* Unit tests of the vhost-user message layer on a socketpair: descriptors
 * passed with SCM_RIGHTS arrive as the same files, a message the stream
 * splits is reassembled, and every malformed input (oversize payload, peer
 * gone mid-message, silence, too many descriptors, replies that do not
 * answer the request) is an error that names it, with no descriptor leaked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost_user_msg.h"

static char err[256];

static unsigned open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void fds_travel_with_the_message(void **state)
{
    struct vhost_user_mem_table t = {.nregions = 2};
    struct vhost_user_msg out, in;
    struct stat a, b;
    int sv[2], fds[2];

    (void)state;
    pair(sv);
    fds[0] = eventfd(0, EFD_CLOEXEC);
    fds[1] = eventfd(0, EFD_CLOEXEC);
    t.regions[1].mmap_offset = 0x100000;
    vhost_user_msg_init(&out, VHOST_USER_SET_MEM_TABLE, VHOST_USER_FLAG_NEED_REPLY, &t,
                        8 + 2 * sizeof(t.regions[0]), fds, 2);
    assert_int_equal(vhost_user_msg_send(sv[0], &out, 1000, err, sizeof(err)), 0);
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 1000, err, sizeof(err)), 0);
    assert_int_equal(in.hdr.request, VHOST_USER_SET_MEM_TABLE);
    assert_int_equal(in.hdr.flags, VHOST_USER_VERSION | VHOST_USER_FLAG_NEED_REPLY);
    assert_int_equal(in.hdr.size, 8 + 2 * sizeof(t.regions[0]));
    assert_int_equal(in.payload.mem.nregions, 2);
    assert_int_equal(in.payload.mem.regions[1].mmap_offset, 0x100000);
    assert_int_equal(in.nfds, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fstat(fds[i], &a), 0);
        assert_int_equal(fstat(in.fds[i], &b), 0);
        assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        assert_int_not_equal(fds[i], in.fds[i]);
    }
    vhost_user_msg_close_fds(&in);
    close(fds[0]);
    close(fds[1]);
    close(sv[0]);
    close(sv[1]);
}

struct dribble {
    int fd;
    uint8_t bytes[64];
    size_t len;
    size_t close_after; /* bytes to write before closing, or len */
};

/* Writes the message a few bytes at a time with pauses: the reader sees
 * short reads of the header and of the payload. */
static void *dribble_thread(void *arg)
{
    struct dribble *d = arg;

    for (size_t off = 0; off < d->close_after; off += 5) {
        size_t n = d->close_after - off < 5 ? d->close_after - off : 5;

        assert_int_equal(write(d->fd, d->bytes + off, n), (ssize_t)n);
        usleep(5000);
    }
    close(d->fd);
    return NULL;
}

static void dribble_start(struct dribble *d, pthread_t *t, int fd, uint32_t request, uint32_t flags,
                          uint32_t size, uint64_t value, size_t close_after)
{
    struct vhost_user_hdr h = {.request = request, .flags = flags, .size = size};

    d->fd = fd;
    memcpy(d->bytes, &h, sizeof(h));
    memcpy(d->bytes + sizeof(h), &value, sizeof(value));
    d->len = sizeof(h) + sizeof(value);
    d->close_after = close_after ? close_after : d->len;
    assert_int_equal(pthread_create(t, NULL, dribble_thread, d), 0);
}

static void split_message_is_reassembled(void **state)
{
    struct vhost_user_msg in;
    struct dribble d;
    pthread_t t;
    int sv[2];

    (void)state;
    pair(sv);
    dribble_start(&d, &t, sv[0], VHOST_USER_GET_FEATURES,
                  VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, 8, 0x1234567890ull, 0);
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 2000, err, sizeof(err)), 0);
    assert_int_equal(in.payload.u64, 0x1234567890ull);
    assert_int_equal(vhost_user_msg_check_reply(&in, VHOST_USER_GET_FEATURES, 8, err, sizeof(err)),
                     0);
    /* The writer closed after the message: a clean end, not an error. */
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 2000, err, sizeof(err)), 1);
    pthread_join(t, NULL);
    close(sv[1]);
}

static void peer_gone_mid_message(void **state)
{
    struct vhost_user_msg in;
    struct dribble d;
    pthread_t t;
    int sv[2];

    (void)state;
    pair(sv);
    dribble_start(&d, &t, sv[0], VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 8, 1, 16);
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 2000, err, sizeof(err)), -1);
    assert_string_equal(err, "message payload: the peer closed after 4 of 8 bytes");
    pthread_join(t, NULL);
    close(sv[1]);

    pair(sv);
    dribble_start(&d, &t, sv[0], VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 8, 1, 7);
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 2000, err, sizeof(err)), -1);
    assert_string_equal(err, "message header: the peer closed after 7 of 12 bytes");
    pthread_join(t, NULL);
    close(sv[1]);
}

static void oversize_payload_is_refused(void **state)
{
    struct vhost_user_hdr h = {.request = 99, .flags = VHOST_USER_VERSION, .size = 4096};
    struct vhost_user_msg in;
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 1000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "request 99: payload of 4096 bytes is over the"));
    close(sv[0]);
    close(sv[1]);
}

static void silence_times_out(void **state)
{
    struct vhost_user_hdr h = {.request = 1, .flags = VHOST_USER_VERSION, .size = 8};
    struct vhost_user_msg in;
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 50, err, sizeof(err)), -1);
    assert_string_equal(err, "message header: no progress within the deadline (peer stalled)");
    /* A header whose payload never comes. */
    assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 50, err, sizeof(err)), -1);
    assert_string_equal(err, "message payload: no progress within the deadline (peer stalled)");
    close(sv[0]);
    close(sv[1]);
}

/* Ten descriptors on one message: two more than any request carries. */
static void too_many_fds_are_closed(void **state)
{
    struct vhost_user_hdr h = {
            .request = VHOST_USER_SET_MEM_TABLE, .flags = VHOST_USER_VERSION, .size = 0};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 10)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c;
    struct vhost_user_msg in;
    int sv[2], fds[10];
    unsigned before;

    (void)state;
    pair(sv);
    for (int i = 0; i < 10; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    memset(&ctl, 0, sizeof(ctl));
    c = &ctl.align; /* CMSG_FIRSTHDR(&mh), which -O3 fears is NULL */
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    assert_int_equal(sendmsg(sv[0], &mh, 0), sizeof(h));
    for (int i = 0; i < 10; i++)
        close(fds[i]);
    before = open_fds();
    assert_int_equal(vhost_user_msg_recv(sv[1], &in, 1000, err, sizeof(err)), -1);
    assert_string_equal(err, "more than 8 descriptors came with one message");
    assert_int_equal(open_fds(), before);
    close(sv[0]);
    close(sv[1]);
}

static void reply_checks_name_the_fault(void **state)
{
    struct vhost_user_msg m;
    uint64_t v = 5;
    int fd;

    (void)state;
    vhost_user_msg_init(&m, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_FLAG_REPLY, &v, 8, NULL, 0);
    assert_int_equal(vhost_user_msg_check_reply(&m, VHOST_USER_GET_QUEUE_NUM, 8, err, sizeof(err)),
                     0);
    assert_int_equal(vhost_user_msg_check_reply(&m, VHOST_USER_GET_FEATURES, 8, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "reply to GET_FEATURES is for GET_QUEUE_NUM");
    assert_int_equal(vhost_user_msg_check_reply(&m, VHOST_USER_GET_QUEUE_NUM, 4, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "reply to GET_QUEUE_NUM has 8 payload bytes, not 4");
    vhost_user_msg_init(&m, VHOST_USER_GET_QUEUE_NUM, 0, &v, 8, NULL, 0);
    assert_int_equal(vhost_user_msg_check_reply(&m, VHOST_USER_GET_QUEUE_NUM, 8, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "answer to GET_QUEUE_NUM lacks the reply flag (flags 0x1)");
    m.hdr.flags = 2 | VHOST_USER_FLAG_REPLY;
    assert_int_equal(vhost_user_msg_check_reply(&m, VHOST_USER_GET_QUEUE_NUM, 8, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "reply to GET_QUEUE_NUM has version 2, not 1");
    fd = eventfd(0, EFD_CLOEXEC);
    vhost_user_msg_init(&m, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_FLAG_REPLY, &v, 8, &fd, 1);
    assert_int_equal(vhost_user_msg_check_reply(&m, VHOST_USER_GET_QUEUE_NUM, 8, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "reply to GET_QUEUE_NUM carries 1 descriptors, none expected");
    assert_int_equal(m.nfds, 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed by the check */
}

static void send_refuses_what_cannot_be_framed(void **state)
{
    struct vhost_user_msg m;
    int sv[2];

    (void)state;
    pair(sv);
    vhost_user_msg_init(&m, VHOST_USER_SET_FEATURES, 0, NULL, 0, NULL, 0);
    m.hdr.size = VHOST_USER_MAX_PAYLOAD + 1;
    assert_int_equal(vhost_user_msg_send(sv[0], &m, 100, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SET_FEATURES: 265 payload bytes"));
    close(sv[1]);
    /* The peer is gone: an error, not a SIGPIPE. */
    vhost_user_msg_init(&m, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
    assert_int_equal(vhost_user_msg_send(sv[0], &m, 100, err, sizeof(err)), -1);
    assert_string_equal(err, "SET_OWNER: send: Broken pipe");
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(fds_travel_with_the_message),
            cmocka_unit_test(split_message_is_reassembled),
            cmocka_unit_test(peer_gone_mid_message),
            cmocka_unit_test(oversize_payload_is_refused),
            cmocka_unit_test(silence_times_out),
            cmocka_unit_test(too_many_fds_are_closed),
            cmocka_unit_test(reply_checks_name_the_fault),
            cmocka_unit_test(send_refuses_what_cannot_be_framed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
