/* Connections, framing and hello of a control server (server.h). */
#include "ctl/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LISTEN_SLOT CTL_CLIENTS_MAX /* epoll data of the listening socket */

static int watch(struct ctl_server *s, int op, int fd, uint32_t events, unsigned slot)
{
    struct epoll_event ev = {.events = events, .data.u32 = slot};
    return epoll_ctl(s->epoll_fd, op, fd, &ev);
}

int ctl_server_open(struct ctl_server *s, const struct ctl_server_config *cfg, struct evr_err *err)
{
    struct stat st;

    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->listen_fd = s->epoll_fd = -1;
    s->owner = geteuid();
    for (unsigned i = 0; i < CTL_CLIENTS_MAX; i++)
        s->conns[i].fd = -1;
    if (strlen(cfg->path) >= sizeof(s->path))
        return evr_fail(err, ENAMETOOLONG, "'%s': longer than %zu bytes (a unix socket path)",
                        cfg->path, sizeof(s->path) - 1);
    memcpy(s->path, cfg->path, strlen(cfg->path) + 1);
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epoll_fd < 0)
        return evr_fail(err, errno, "'%s': epoll_create1: %s", s->path, strerror(errno));
    s->listen_fd = ctl_listen(s->path, cfg->group, err);
    if (s->listen_fd < 0) {
        ctl_server_close(s);
        return -1;
    }
    if (lstat(s->path, &st) == 0)
        s->inode = st.st_ino;
    if (watch(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, LISTEN_SLOT) < 0) {
        int e = errno;
        ctl_server_close(s);
        return evr_fail(err, e, "'%s': epoll_ctl: %s", cfg->path, strerror(e));
    }
    return 0;
}

int ctl_server_fd(const struct ctl_server *s)
{
    return s->epoll_fd;
}

static void drop(struct ctl_server *s, struct ctl_conn *c)
{
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    free(c->in);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static size_t line_max(const struct ctl_server *s)
{
    return s->cfg.line_max ? s->cfg.line_max : CTL_LINE_MAX;
}

/* Room for more bytes of the current line; false when it cannot grow. */
static bool room(struct ctl_conn *c, size_t more)
{
    size_t want = c->in_len + more, cap = c->in_cap ? c->in_cap : 4096;
    char *bigger;

    if (want <= c->in_cap)
        return true;
    while (cap < want)
        cap *= 2;
    bigger = realloc(c->in, cap);
    if (!bigger)
        return false;
    c->in = bigger;
    c->in_cap = cap;
    return true;
}

/* One reply on a socket nobody else writes to yet: a refused connection. */
static void send_once(int fd, const struct evr_err *err)
{
    size_t len;
    char *line = ctl_reply_line(ctl_reply_error(err), &len);

    if (line && send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the peer is gone already: nothing to tell */
    }
    free(line);
}

/* Sends what is queued. Returns false when the connection was dropped. */
static bool flush(struct ctl_server *s, struct ctl_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(s, EPOLL_CTL_MOD, c->fd, EPOLLOUT, (unsigned)(c - s->conns));
            return true;
        }
        if (n < 0) {
            drop(s, c);
            return false;
        }
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->closing) {
        drop(s, c);
        return false;
    }
    watch(s, EPOLL_CTL_MOD, c->fd, EPOLLIN, (unsigned)(c - s->conns));
    return true;
}

static void queue(struct ctl_conn *c, json_t *reply)
{
    size_t len;
    char *line = ctl_reply_line(reply, &len), *grown;

    if (!line) {
        c->closing = true; /* out of memory: the client sees the connection end */
        return;
    }
    grown = realloc(c->out, c->out_len + len);
    if (!grown) {
        c->closing = true;
    } else {
        memcpy(grown + c->out_len, line, len);
        c->out = grown;
        c->out_len += len;
    }
    free(line);
}

static json_t *hello(struct ctl_server *s, struct ctl_conn *c, json_t *req)
{
    static const char *const fields[] = {"!protocol", NULL};
    static const struct ctl_op op = {.name = "hello", .fields = fields};
    struct evr_err err = {0};
    json_t *v = json_object_get(req, "protocol"), *ops;

    if (ctl_check_fields(req, &op, &err) < 0)
        return ctl_reply_error(&err);
    if (!json_is_integer(v)) {
        evr_fail(&err, EINVAL, "field 'protocol': must be a number (this server speaks %d)",
                 CTL_PROTOCOL_VERSION);
        return ctl_reply_error(&err);
    }
    if (json_integer_value(v) != CTL_PROTOCOL_VERSION) {
        evr_fail(&err, EPROTONOSUPPORT,
                 "field 'protocol': the client speaks protocol %lld, %s speaks %d; use a "
                 "client of the same evr version",
                 (long long)json_integer_value(v), s->cfg.name, CTL_PROTOCOL_VERSION);
        c->closing = true;
        return ctl_reply_error(&err);
    }
    c->hello = true;
    ops = json_array();
    json_array_append_new(ops, json_string("hello"));
    for (size_t i = 0; i < s->cfg.n_ops; i++)
        json_array_append_new(ops, json_string(s->cfg.ops[i].name));
    return json_pack("{s:b, s:i, s:s, s:s, s:o, s:I}", "ok", 1, "protocol", CTL_PROTOCOL_VERSION,
                     "server", s->cfg.name, "version", s->cfg.version, "ops", ops, "line_max",
                     (json_int_t)line_max(s));
}

static void answer(struct ctl_server *s, struct ctl_conn *c, const char *line, size_t len)
{
    struct evr_err err = {0};
    json_t *req = ctl_parse_line(line, len, &err), *reply;
    const char *op = req ? json_string_value(json_object_get(req, "op")) : NULL;

    if (!req) {
        reply = ctl_reply_error(&err);
    } else if (op && strcmp(op, "hello") == 0) {
        reply = hello(s, c, req);
    } else if (!c->hello) {
        evr_fail(&err, EPROTO,
                 "request before hello: a connection starts with "
                 "{\"op\":\"hello\",\"protocol\":%d}",
                 CTL_PROTOCOL_VERSION);
        reply = ctl_reply_error(&err);
    } else {
        reply = ctl_dispatch(s->cfg.ops, s->cfg.n_ops, s->cfg.ctx, req);
    }
    json_decref(req);
    queue(c, reply);
}

/* Splits what arrived into lines and answers each complete one. */
static void take(struct ctl_server *s, struct ctl_conn *c, const char *p, size_t n)
{
    while (n > 0 && !c->closing) {
        const char *nl = memchr(p, '\n', n);
        size_t part = nl ? (size_t)(nl - p) : n;

        if (!c->overlong && c->in_len + part > line_max(s)) {
            struct evr_err err;
            evr_fail(&err, EMSGSIZE, "request: longer than %zu bytes; skipped up to its newline",
                     line_max(s));
            queue(c, ctl_reply_error(&err));
            c->overlong = true;
        } else if (!c->overlong && !room(c, part)) {
            struct evr_err err;
            evr_fail(&err, ENOMEM, "request: no memory for a line of %zu bytes; skipped",
                     c->in_len + part);
            queue(c, ctl_reply_error(&err));
            c->overlong = true;
        }
        if (!c->overlong && part > 0) { /* c->in may not exist yet for an empty line */
            memcpy(c->in + c->in_len, p, part);
            c->in_len += part;
        }
        if (!nl)
            return;
        if (!c->overlong && c->in_len > 0)
            answer(s, c, c->in, c->in_len);
        c->in_len = 0;
        c->overlong = false;
        p = nl + 1;
        n -= part + 1;
    }
}

static void serve(struct ctl_server *s, struct ctl_conn *c)
{
    char chunk[4096];
    ssize_t n = read(c->fd, chunk, sizeof(chunk));

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        c->closing = true; /* its side is closed: send what it asked for, then close */
    } else {
        take(s, c, chunk, (size_t)n);
    }
    flush(s, c);
}

/* One connection per call: the listening socket stays readable while more
 * wait, and the next call serves the closes that came before them first. */
static void accept_one(struct ctl_server *s)
{
    struct evr_err err;
    struct ctl_conn *c = NULL;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0)
        return;
    if (!ctl_peer_allowed(fd, s->owner, s->cfg.group, &err)) {
        send_once(fd, &err);
        close(fd);
        return;
    }
    for (unsigned i = 0; i < CTL_CLIENTS_MAX && !c; i++)
        if (s->conns[i].fd < 0)
            c = &s->conns[i];
    if (!c) {
        evr_fail(&err, EBUSY, "%s: too many control connections (at most %u)", s->cfg.name,
                 CTL_CLIENTS_MAX);
        send_once(fd, &err);
        close(fd);
        return;
    }
    c->fd = fd;
    if (watch(s, EPOLL_CTL_ADD, fd, EPOLLIN, (unsigned)(c - s->conns)) < 0) {
        close(fd);
        c->fd = -1;
    }
}

void ctl_server_handle_ready(struct ctl_server *s)
{
    struct epoll_event evs[CTL_CLIENTS_MAX + 1];
    int n = epoll_wait(s->epoll_fd, evs, CTL_CLIENTS_MAX + 1, 0);
    bool incoming = false;

    /* Connections first: one that a client closed before another connected
     * frees its slot for that one (level-triggered: both are in this batch). */
    for (int i = 0; i < n; i++) {
        unsigned slot = evs[i].data.u32;
        struct ctl_conn *c = &s->conns[slot];

        if (slot == LISTEN_SLOT) {
            incoming = true;
        } else if (c->fd >= 0) {
            if (c->out_len > c->out_off)
                flush(s, c);
            else
                serve(s, c);
        }
    }
    if (incoming)
        accept_one(s);
}

void ctl_server_close(struct ctl_server *s)
{
    struct stat st;

    for (unsigned i = 0; i < CTL_CLIENTS_MAX; i++)
        if (s->conns[i].fd >= 0)
            drop(s, &s->conns[i]);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        if (lstat(s->path, &st) == 0 && st.st_ino == s->inode)
            unlink(s->path);
    }
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    s->listen_fd = s->epoll_fd = -1;
}
