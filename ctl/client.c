/* Control client in C (client.h). */
#include "ctl/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/protocol.h"

static int send_all(int fd, const char *p, size_t len, struct evr_err *err)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return evr_fail(err, errno, "control socket: send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

json_t *ctl_client_read(struct ctl_client *c, struct evr_err *err)
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
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
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

json_t *ctl_client_send_line(struct ctl_client *c, const char *line, size_t len,
                             struct evr_err *err)
{
    if (send_all(c->fd, line, len, err) < 0 || send_all(c->fd, "\n", 1, err) < 0)
        return NULL;
    return ctl_client_read(c, err);
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
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    json_t *req, *reply;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (strlen(path) >= sizeof(sa.sun_path))
        return evr_fail(err, ENAMETOOLONG, "'%s': longer than %zu bytes (a unix socket path)", path,
                        sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return evr_fail(err, errno, "'%s': socket: %s", path, strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        ctl_client_close(c);
        return evr_fail(err, e, "'%s': connect: %s", path, strerror(e));
    }
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
