/* Control client in C (client.h). */
#include "ctl/client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/protocol.h"

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until the socket is ready for events or the request's deadline has
 * passed. On expiry the connection is closed: a reply may still be on its
 * way, and the next request must not read it as its own. */
static int wait_ready(struct ctl_client *c, short events, struct evr_err *err)
{
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = events};
        int left = c->deadline_ms ? (int)(c->deadline_ms - now_ms()) : -1, n;
        if (c->deadline_ms && left <= 0)
            break;
        n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return evr_fail(err, errno, "control socket: poll: %s", strerror(errno));
    }
    close(c->fd);
    c->fd = -1;
    return evr_fail(err, ETIMEDOUT, "control socket: no reply within %u ms", c->timeout_ms);
}

static int send_all(struct ctl_client *c, const char *p, size_t len, struct evr_err *err)
{
    while (len > 0) {
        if (wait_ready(c, POLLOUT, err))
            return -1;
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return evr_fail(err, errno, "control socket: send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static json_t *read_reply(struct ctl_client *c, struct evr_err *err)
{
    for (;;) {
        char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            json_error_t jerr;
            size_t used = (size_t)(nl - c->buf) + 1;
            json_t *reply = json_loadb(c->buf, used - 1, 0, &jerr);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            if (!json_is_object(reply)) {
                json_decref(reply);
                evr_fail(err, EBADMSG, "control socket: the reply is not a JSON object");
                return NULL;
            }
            return reply;
        }
        if (c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4096;
            char *grown = cap <= CTL_REPLY_MAX ? realloc(c->buf, cap) : NULL;
            if (!grown) {
                evr_fail(err, EMSGSIZE, "control socket: a reply longer than %u bytes",
                         CTL_REPLY_MAX);
                return NULL;
            }
            c->buf = grown;
            c->cap = cap;
        }
        if (wait_ready(c, POLLIN, err))
            return NULL;
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0) {
            evr_fail(err, errno, "control socket: recv: %s", strerror(errno));
            return NULL;
        }
        if (n == 0) {
            evr_fail(err, ECONNRESET, "control socket: the server closed the connection");
            return NULL;
        }
        c->len += (size_t)n;
    }
}

/* Starts the deadline of one request (none when the client has no
 * timeout); a closed connection is ENOTCONN. */
static int start_request(struct ctl_client *c, struct evr_err *err)
{
    if (c->fd < 0)
        return evr_fail(err, ENOTCONN, "control socket: not connected");
    c->deadline_ms = c->timeout_ms ? now_ms() + c->timeout_ms : 0;
    return 0;
}

json_t *ctl_client_read(struct ctl_client *c, struct evr_err *err)
{
    return start_request(c, err) ? NULL : read_reply(c, err);
}

json_t *ctl_client_send_line(struct ctl_client *c, const char *line, size_t len,
                             struct evr_err *err)
{
    if (start_request(c, err) || send_all(c, line, len, err) < 0 || send_all(c, "\n", 1, err) < 0)
        return NULL;
    return read_reply(c, err);
}

/* The reply when it says ok; NULL with the envelope's error otherwise. */
static json_t *unwrap(json_t *reply, struct evr_err *err)
{
    json_t *e;
    const char *code, *msg;

    if (!reply || json_is_true(json_object_get(reply, "ok")))
        return reply;
    e = json_object_get(reply, "error");
    code = json_string_value(json_object_get(e, "code"));
    msg = json_string_value(json_object_get(e, "message"));
    evr_fail(err, code && evr_errno_value(code) ? evr_errno_value(code) : EIO, "%s",
             msg ? msg : "the server refused the request without saying why");
    json_decref(reply);
    return NULL;
}

json_t *ctl_client_call(struct ctl_client *c, const json_t *req, struct evr_err *err)
{
    char *line = json_dumps(req, JSON_COMPACT);
    json_t *reply;

    if (!line) {
        evr_fail(err, ENOMEM, "control socket: cannot encode the request");
        return NULL;
    }
    reply = ctl_client_send_line(c, line, strlen(line), err);
    free(line);
    return unwrap(reply, err);
}

int ctl_client_open(struct ctl_client *c, const char *path, json_t **hello, struct evr_err *err)
{
    return ctl_client_open_within(c, path, 0, hello, err);
}

/* A connected unix stream socket to path, or -1 with err. */
static int connect_to(const char *path, struct evr_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return evr_fail(err, ENAMETOOLONG, "'%s': longer than %zu bytes (a unix socket path)", path,
                        sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return evr_fail(err, errno, "'%s': socket: %s", path, strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return evr_fail(err, e, "'%s': connect: %s", path, strerror(e));
    }
    return fd;
}

int ctl_peer_pid(const char *path, pid_t *pid, struct evr_err *err)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    int fd = connect_to(path, err), rc = 0;

    if (fd < 0)
        return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid <= 0)
        rc = evr_fail(err, errno ? errno : ESRCH, "'%s': cannot learn the server's pid", path);
    else
        *pid = cred.pid;
    close(fd);
    return rc;
}

int ctl_client_open_within(struct ctl_client *c, const char *path, unsigned timeout_ms,
                           json_t **hello, struct evr_err *err)
{
    json_t *req, *reply;

    memset(c, 0, sizeof(*c));
    c->timeout_ms = timeout_ms;
    c->fd = connect_to(path, err);
    if (c->fd < 0)
        return -1;
    req = json_pack("{s:s, s:i}", "op", "hello", "protocol", CTL_PROTOCOL_VERSION);
    reply = req ? ctl_client_call(c, req, err) : NULL;
    json_decref(req);
    if (!reply) {
        if (!req)
            evr_fail(err, ENOMEM, "'%s': out of memory", path);
        ctl_client_close(c);
        return -1;
    }
    if (hello)
        *hello = reply;
    else
        json_decref(reply);
    return 0;
}

void ctl_client_close(struct ctl_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}
