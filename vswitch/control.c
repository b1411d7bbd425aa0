/* Control socket, request application and table publication. */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <rte_ethdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ports.h"

#define POLL_MS 50

static int publish(struct vs_control *c, const struct vs_config *next, struct vs_error *err)
{
    struct vs_tables *t = vs_tables_build(next, c->dp->n_workers, c->generation + 1);
    if (!t) {
        snprintf(err->msg, sizeof(err->msg), "request: out of memory building tables");
        return -1;
    }
    vs_datapath_publish(c->dp, t);
    c->generation++;
    return 0;
}

/* Counters of a newly created slice or port start from here. */
static void take_baselines(struct vs_control *c, const struct vs_config *next)
{
    for (unsigned i = 0; i < VS_SLICE_MAX; i++)
        if (next->slices[i].used && !c->cfg.slices[i].used)
            vs_counters_sum_slice(c->dp->counters, c->dp->n_workers, i, &c->base.slices[i]);
}

static int apply(struct vs_control *c, const struct vs_request *req, struct vs_error *err)
{
    struct vs_config *next = malloc(sizeof(*next));
    if (!next) {
        snprintf(err->msg, sizeof(err->msg), "request: out of memory");
        return -1;
    }
    *next = c->cfg;
    int rc = -1;
    int idx = vs_request_apply(next, req, err);
    if (idx < 0)
        goto out;
    if (req->op == VS_OP_PORT_ADD) {
        struct vs_port *p = &next->ports[idx];
        if (vs_port_open(p->devargs, c->dp->n_workers, c->pool, &p->dpdk_id, &p->n_rxq, err) < 0)
            goto out;
        p->link_up = vs_port_link_up(p->dpdk_id, p->devargs) == 1;
        vs_counters_sum_port(c->dp->counters, c->dp->n_workers, p->dpdk_id,
                             &c->base.ports[p->dpdk_id]);
        if (publish(c, next, err) < 0) {
            vs_port_close(p->dpdk_id);
            goto out;
        }
    } else if (req->op == VS_OP_PORT_DEL) {
        uint16_t id = c->cfg.ports[vs_config_find_port(&c->cfg, req->name)].dpdk_id;
        if (publish(c, next, err) < 0)
            goto out;
        /* Published and past the grace period: no worker polls it any more. */
        vs_port_close(id);
    } else if (req->op != VS_OP_STATS && req->op != VS_OP_DUMP) {
        take_baselines(c, next);
        if (publish(c, next, err) < 0)
            goto out;
    }
    c->cfg = *next;
    rc = 0;
out:
    free(next);
    return rc;
}

static json_t *error_reply(const char *op, const struct vs_error *err)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "%s%s%s", op ? op : "", op ? ": " : "", err->msg);
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* What the device itself counted: frames it missed (ring full) or failed to
 * send never reach the vswitch's own counters. */
static void add_device_stats(const struct vs_config *cfg, json_t *ports)
{
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &cfg->ports[i];
        struct rte_eth_stats st;
        if (!p->used || rte_eth_stats_get(p->dpdk_id, &st) != 0)
            continue;
        json_object_set_new(json_object_get(ports, p->name), "device",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "ipackets",
                                      (json_int_t)st.ipackets, "opackets", (json_int_t)st.opackets,
                                      "imissed", (json_int_t)st.imissed, "ierrors",
                                      (json_int_t)st.ierrors, "oerrors", (json_int_t)st.oerrors,
                                      "rx_nombuf", (json_int_t)st.rx_nombuf));
    }
}

/* Frames each worker received: shows how ports and queues spread. */
static json_t *worker_stats(const struct vs_datapath *dp)
{
    json_t *workers = json_array();
    for (unsigned w = 0; w < dp->n_workers; w++) {
        uint64_t rx = 0;
        for (unsigned p = 0; p < VS_DPDK_PORT_MAX; p++)
            rx += dp->counters[w].ports[p].rx_packets;
        json_array_append_new(workers, json_pack("{s:i, s:I}", "lcore", dp->lcores[w], "rx_packets",
                                                 (json_int_t)rx));
    }
    return workers;
}

json_t *vs_control_handle(struct vs_control *c, const char *line, size_t len)
{
    struct vs_request *req = malloc(sizeof(*req));
    struct vs_error err = {{0}};
    json_t *reply;
    if (!req) {
        snprintf(err.msg, sizeof(err.msg), "out of memory");
        return error_reply(NULL, &err);
    }
    if (vs_request_parse(line, len, req, &err) < 0) {
        reply = error_reply(NULL, &err);
    } else if (apply(c, req, &err) < 0) {
        reply = error_reply(vs_op_name(req->op), &err);
    } else {
        reply = json_pack("{s:b, s:I}", "ok", 1, "generation", (json_int_t)c->generation);
        if (req->op == VS_OP_DUMP)
            json_object_set_new(reply, "dump", vs_config_to_json(&c->cfg));
        if (req->op == VS_OP_STATS) {
            json_t *stats =
                    vs_counters_to_json(&c->cfg, c->dp->counters, c->dp->n_workers, &c->base);
            add_device_stats(&c->cfg, json_object_get(stats, "ports"));
            json_object_set_new(stats, "workers", worker_stats(c->dp));
            json_object_set_new(reply, "stats", stats);
        }
    }
    free(req);
    return reply;
}

int vs_control_load(struct vs_control *c, const char *path, struct vs_error *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err->msg, sizeof(err->msg), "--config: %s line %d: %s", path, jerr.line,
                 jerr.text);
        return -1;
    }
    int rc = 0;
    if (!json_is_array(doc)) {
        snprintf(err->msg, sizeof(err->msg), "--config: %s: must be an array of requests", path);
        rc = -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(doc, i, item)
    {
        if (rc)
            break;
        char *line = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!line) {
            snprintf(err->msg, sizeof(err->msg), "--config: %s [%zu]: out of memory", path, i);
            rc = -1;
            break;
        }
        json_t *reply = vs_control_handle(c, line, strlen(line));
        free(line);
        if (!json_is_true(json_object_get(reply, "ok"))) {
            const char *why = json_string_value(json_object_get(reply, "error"));
            snprintf(err->msg, sizeof(err->msg), "--config: %s [%zu]: %s", path, i,
                     why ? why : "failed");
            rc = -1;
        }
        json_decref(reply);
    }
    json_decref(doc);
    return rc;
}

int vs_control_init(struct vs_control *c, struct vs_datapath *dp, struct rte_mempool *pool,
                    const char *socket_path, struct vs_error *err)
{
    memset(c, 0, sizeof(*c));
    vs_config_init(&c->cfg);
    c->dp = dp;
    c->pool = pool;
    c->listen_fd = -1;
    for (unsigned i = 0; i < VS_CLIENT_MAX; i++)
        c->clients[i].fd = -1;
    if (publish(c, &c->cfg, err) < 0)
        return -1;

    /* The socket is made listening under a temporary name and renamed into
     * place: whoever sees the path can connect at once. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char tmp[sizeof(addr.sun_path)];
    if (snprintf(tmp, sizeof(tmp), "%s.new", socket_path) >= (int)sizeof(tmp)) {
        snprintf(err->msg, sizeof(err->msg), "--control: path longer than %zu bytes",
                 sizeof(addr.sun_path) - 5);
        return -1;
    }
    memcpy(addr.sun_path, tmp, strlen(tmp) + 1);
    memcpy(c->path, socket_path, strlen(socket_path) + 1);
    struct stat st;
    /* A socket left by a previous run is replaced; anything else is not ours. */
    if (lstat(socket_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        snprintf(err->msg, sizeof(err->msg), "--control: '%s' exists and is not a socket",
                 socket_path);
        return -1;
    }
    if (lstat(tmp, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        snprintf(err->msg, sizeof(err->msg), "--control: '%s' exists and is not a socket", tmp);
        return -1;
    }
    unlink(tmp);
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->listen_fd < 0)
        goto fail;
    mode_t old = umask(0177);
    int rc = bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old);
    if (rc < 0 || chmod(tmp, 0600) < 0 || listen(c->listen_fd, 8) < 0 ||
        rename(tmp, socket_path) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err->msg, sizeof(err->msg), "--control: '%s': %s", socket_path, strerror(errno));
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlink(tmp);
    }
    c->listen_fd = -1;
    return -1;
}

static void send_reply(int fd, json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room only for the NUL: write it separately */
    const char *p = text;
    size_t left = len + 1;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, 1000) <= 0)
                break;
            continue;
        }
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    free(text);
}

static void drop_client(struct vs_client *cl)
{
    close(cl->fd);
    cl->fd = -1;
    cl->len = 0;
    cl->overlong = false;
}

static void serve_client(struct vs_control *c, struct vs_client *cl)
{
    char chunk[4096];
    ssize_t n = read(cl->fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop_client(cl);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char ch = chunk[i];
        if (ch != '\n') {
            if (cl->len < VS_REQUEST_MAX)
                cl->buf[cl->len++] = ch;
            else
                cl->overlong = true;
            continue;
        }
        if (cl->overlong) {
            struct vs_error err;
            snprintf(err.msg, sizeof(err.msg), "request: longer than %u bytes", VS_REQUEST_MAX);
            send_reply(cl->fd, error_reply(NULL, &err));
        } else if (cl->len > 0) {
            send_reply(cl->fd, vs_control_handle(c, cl->buf, cl->len));
        }
        cl->len = 0;
        cl->overlong = false;
    }
}

static void accept_client(struct vs_control *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (unsigned i = 0; i < VS_CLIENT_MAX; i++)
        if (c->clients[i].fd < 0) {
            c->clients[i].fd = fd;
            c->clients[i].len = 0;
            c->clients[i].overlong = false;
            return;
        }
    struct vs_error err;
    snprintf(err.msg, sizeof(err.msg), "too many clients (at most %u)", VS_CLIENT_MAX);
    send_reply(fd, error_reply(NULL, &err));
    close(fd);
}

/* LAG failover: a member whose link went down leaves the bucket table. */
static void watch_links(struct vs_control *c)
{
    struct vs_config *next = NULL;
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &c->cfg.ports[i];
        if (!p->used || p->role != VS_ROLE_WIRE)
            continue;
        bool up = vs_port_link_up(p->dpdk_id, p->devargs) == 1;
        if (up == p->link_up)
            continue;
        if (!next) {
            next = malloc(sizeof(*next));
            if (!next)
                return;
            *next = c->cfg;
        }
        next->ports[i].link_up = up;
    }
    if (!next)
        return;
    struct vs_error err;
    if (publish(c, next, &err) == 0)
        c->cfg = *next;
    free(next);
}

void vs_control_run(struct vs_control *c, volatile sig_atomic_t *quit)
{
    while (!*quit) {
        struct pollfd pfds[VS_CLIENT_MAX + 1];
        unsigned map[VS_CLIENT_MAX + 1];
        nfds_t n = 0;
        pfds[n].fd = c->listen_fd;
        pfds[n].events = POLLIN;
        n++;
        for (unsigned i = 0; i < VS_CLIENT_MAX; i++)
            if (c->clients[i].fd >= 0) {
                pfds[n].fd = c->clients[i].fd;
                pfds[n].events = POLLIN;
                map[n] = i;
                n++;
            }
        int rc = poll(pfds, n, POLL_MS);
        if (rc > 0) {
            if (pfds[0].revents & POLLIN)
                accept_client(c);
            for (nfds_t i = 1; i < n; i++)
                if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
                    serve_client(c, &c->clients[map[i]]);
        }
        watch_links(c);
    }
}

void vs_control_fini(struct vs_control *c)
{
    for (unsigned i = 0; i < VS_CLIENT_MAX; i++)
        if (c->clients[i].fd >= 0)
            drop_client(&c->clients[i]);
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlink(c->path);
    }
    for (unsigned i = 0; i < VS_PORT_MAX; i++)
        if (c->cfg.ports[i].used)
            vs_port_close(c->cfg.ports[i].dpdk_id);
}
