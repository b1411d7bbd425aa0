/* The worker lcores and the table set they read. Workers take no lock: they
 * load the published table pointer, forward bursts with it, and report a
 * quiescent state (rte_rcu_qsbr) once per loop. The control thread replaces
 * the tables with vs_datapath_publish(), which returns once no worker can
 * still hold the old set, then frees it. */
#ifndef EVR_VSWITCH_DATAPATH_H
#define EVR_VSWITCH_DATAPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "tables.h"

struct rte_rcu_qsbr;

struct vs_datapath {
    struct vs_tables *tables; /* read by workers with acquire loads */
    struct rte_rcu_qsbr *qsbr;
    unsigned n_workers;
    unsigned lcores[VS_WORKER_MAX];
    unsigned idle_sleep_us; /* sleep when idle for a while; 0 = always poll */
    volatile bool stop;
    struct vs_worker_counters *counters; /* n_workers blocks */
};

/* Takes every worker lcore of the EAL (at most VS_WORKER_MAX). */
int vs_datapath_init(struct vs_datapath *dp, unsigned idle_sleep_us, struct evr_err *err);
/* Publishes t (owned from now on) and frees the previous set after a grace
 * period. Only the control thread calls it. */
void vs_datapath_publish(struct vs_datapath *dp, struct vs_tables *t);
int vs_datapath_start(struct vs_datapath *dp, struct evr_err *err);
void vs_datapath_stop(struct vs_datapath *dp);
void vs_datapath_fini(struct vs_datapath *dp);

#endif
