/* Control socket, request application and table publication. */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <rte_ethdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports.h"

#define POLL_MS 50

static int publish(struct vs_control *c, const struct vs_config *next, struct evr_err *err)
{
    struct vs_tables *t = vs_tables_build(next, c->dp->n_workers, c->generation + 1);
    if (!t) {
        return evr_fail(err, ENOMEM, "request: out of memory building tables");
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

static int apply(struct vs_control *c, const struct vs_request *req, struct evr_err *err)
{
    struct vs_config *next = malloc(sizeof(*next));
    if (!next)
        return evr_fail(err, ENOMEM, "request: out of memory");
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

/* Every op of the vswitch: parse, apply, then the reply's own fields. */
static int handle(void *ctx, json_t *obj, json_t *reply, struct evr_err *err)
{
    struct vs_control *c = ctx;
    struct vs_request *req = malloc(sizeof(*req));
    int rc = -1;

    if (!req)
        return evr_fail(err, ENOMEM, "request: out of memory");
    if (vs_request_from_json(obj, req, err) < 0)
        goto out;
    if (apply(c, req, err) < 0) {
        char why[sizeof(err->msg)];
        memcpy(why, err->msg, sizeof(why));
        evr_fail(err, err->code, "%s: %s", vs_op_name(req->op), why);
        goto out;
    }
    json_object_set_new(reply, "generation", json_integer((json_int_t)c->generation));
    if (req->op == VS_OP_DUMP)
        json_object_set_new(reply, "dump", vs_config_to_json(&c->cfg));
    if (req->op == VS_OP_STATS) {
        json_t *stats = vs_counters_to_json(&c->cfg, c->dp->counters, c->dp->n_workers, &c->base);
        add_device_stats(&c->cfg, json_object_get(stats, "ports"));
        json_object_set_new(stats, "workers", worker_stats(c->dp));
        json_object_set_new(reply, "stats", stats);
    }
    rc = 0;
out:
    free(req);
    return rc;
}

int vs_control_load(struct vs_control *c, const char *path, struct evr_err *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return evr_fail(err, EINVAL, "--config: %s line %d: %s", path, jerr.line, jerr.text);
    int rc = 0;
    if (!json_is_array(doc))
        rc = evr_fail(err, EINVAL, "--config: %s: must be an array of requests", path);
    size_t i;
    json_t *item;
    json_array_foreach(doc, i, item)
    {
        if (rc)
            break;
        if (!json_is_object(item)) {
            rc = evr_fail(err, EINVAL, "--config: %s [%zu]: must be a request object", path, i);
            break;
        }
        json_t *reply = ctl_dispatch(c->ops, VS_OP_COUNT, c, item);
        if (!json_is_true(json_object_get(reply, "ok"))) {
            json_t *e = json_object_get(reply, "error");
            const char *why = json_string_value(json_object_get(e, "message"));
            const char *code = json_string_value(json_object_get(e, "code"));
            rc = evr_fail(err, code ? evr_errno_value(code) : EINVAL, "--config: %s [%zu]: %s",
                          path, i, why ? why : "failed");
        }
        json_decref(reply);
    }
    json_decref(doc);
    return rc;
}

int vs_control_init(struct vs_control *c, struct vs_datapath *dp, struct rte_mempool *pool,
                    const char *socket_path, struct evr_err *err)
{
    memset(c, 0, sizeof(*c));
    vs_config_init(&c->cfg);
    c->dp = dp;
    c->pool = pool;
    for (unsigned i = 0; i < VS_OP_COUNT; i++)
        c->ops[i] = (struct ctl_op){vs_op_name(i), vs_op_fields(i), handle};
    if (publish(c, &c->cfg, err) < 0)
        return -1;
    struct ctl_server_config cfg = {.path = socket_path,
                                    .group = CTL_NO_GROUP,
                                    .name = "evr-vswitch",
                                    .version = EVR_VERSION,
                                    .ops = c->ops,
                                    .n_ops = VS_OP_COUNT,
                                    .ctx = c};
    if (ctl_server_open(&c->server, &cfg, err) < 0) {
        char why[sizeof(err->msg)];
        memcpy(why, err->msg, sizeof(why));
        return evr_fail(err, err->code, "--control: %s", why);
    }
    c->serving = true;
    return 0;
}

/* LAG failover: a member whose link went down leaves the bucket table. A VM
 * port's link (its vhost-user peer's driver ready) is followed too, for the
 * dump only: no table uses it, so it changes without a publish. */
static void watch_links(struct vs_control *c)
{
    struct vs_config *next = NULL;
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        struct vs_port *p = &c->cfg.ports[i];
        if (!p->used)
            continue;
        bool up = vs_port_link_up(p->dpdk_id, p->devargs) == 1;
        if (up == p->link_up)
            continue;
        if (p->role != VS_ROLE_WIRE) {
            p->link_up = up;
            if (next)
                next->ports[i].link_up = up;
            continue;
        }
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
    struct evr_err err;
    if (publish(c, next, &err) == 0)
        c->cfg = *next;
    free(next);
}

void vs_control_run(struct vs_control *c, volatile sig_atomic_t *quit)
{
    while (!*quit) {
        /* Not blocking for good: link states are polled, not signalled. */
        struct pollfd p = {.fd = ctl_server_fd(&c->server), .events = POLLIN};
        if (poll(&p, 1, POLL_MS) > 0)
            ctl_server_handle_ready(&c->server);
        watch_links(c);
    }
}

void vs_control_fini(struct vs_control *c)
{
    if (c->serving)
        ctl_server_close(&c->server);
    c->serving = false;
    for (unsigned i = 0; i < VS_PORT_MAX; i++)
        if (c->cfg.ports[i].used)
            vs_port_close(c->cfg.ports[i].dpdk_id);
}
