/* The control thread: owns the declared config, applies requests from the
 * control socket (the ctl/ protocol, docs/control.md) and the startup config
 * file, and publishes the tables. A request is validated in full on a copy
 * of the config; only when every step succeeded is the copy kept and its
 * tables published. */
#ifndef EVR_VSWITCH_CONTROL_H
#define EVR_VSWITCH_CONTROL_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#include "config.h"
#include "counters.h"
#include "ctl/server.h"
#include "datapath.h"
#include "protocol.h"

struct rte_mempool;

struct vs_control {
    struct vs_config cfg;
    struct vs_datapath *dp;
    struct rte_mempool *pool;
    uint64_t generation;
    struct vs_counter_baselines base;
    struct ctl_op ops[VS_OP_COUNT]; /* every op, one handler */
    struct ctl_server server;
    bool serving;
};

/* Publishes empty tables and creates the socket (mode 0600). */
int vs_control_init(struct vs_control *c, struct vs_datapath *dp, struct rte_mempool *pool,
                    const char *socket_path, struct evr_err *err);
/* Applies a JSON file holding an array of requests, in order; stops at the
 * first one that fails (the caller then exits: a vswitch never runs with
 * half a config file applied). */
int vs_control_load(struct vs_control *c, const char *path, struct evr_err *err);
/* Serves the socket and watches LAG members' links until *quit is set. */
void vs_control_run(struct vs_control *c, volatile sig_atomic_t *quit);
/* Closes clients, the socket and every port. Call after the workers stopped. */
void vs_control_fini(struct vs_control *c);

#endif
