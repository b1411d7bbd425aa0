/* Worker lcores: receive bursts, classify, tag, transmit in bursts. */
#include "datapath.h"

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BURST                   32u
#define IDLE_LOOPS_BEFORE_SLEEP 1024u

_Static_assert(VS_DPDK_PORT_MAX == RTE_MAX_ETHPORTS, "tables index DPDK port ids");

struct tx_buffer {
    uint16_t n;
    struct rte_mbuf *pkts[BURST];
    uint8_t slice[BURST];
};

struct worker {
    struct vs_datapath *dp;
    unsigned id;
    struct vs_worker_counters *cnt;
    uint8_t n_dirty;
    uint16_t dirty[BURST]; /* ports with buffered packets */
    struct tx_buffer tx[VS_DPDK_PORT_MAX];
};

static struct worker workers[VS_WORKER_MAX];

int vs_datapath_init(struct vs_datapath *dp, unsigned idle_sleep_us, struct vs_error *err)
{
    memset(dp, 0, sizeof(*dp));
    dp->idle_sleep_us = idle_sleep_us;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore)
    {
        if (dp->n_workers == VS_WORKER_MAX) {
            snprintf(err->msg, sizeof(err->msg), "-l: at most %u worker lcores", VS_WORKER_MAX);
            return -1;
        }
        dp->lcores[dp->n_workers++] = lcore;
    }
    if (dp->n_workers == 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "-l: needs at least one worker lcore besides the main one (e.g. -l 0,1)");
        return -1;
    }
    size_t sz = rte_rcu_qsbr_get_memsize(dp->n_workers);
    dp->qsbr = rte_zmalloc("vs_qsbr", sz, RTE_CACHE_LINE_SIZE);
    dp->counters =
            rte_zmalloc("vs_counters", sizeof(*dp->counters) * dp->n_workers, RTE_CACHE_LINE_SIZE);
    if (!dp->qsbr || !dp->counters || rte_rcu_qsbr_init(dp->qsbr, dp->n_workers) != 0) {
        snprintf(err->msg, sizeof(err->msg), "datapath: out of DPDK memory (raise -m)");
        return -1;
    }
    return 0;
}

void vs_datapath_publish(struct vs_datapath *dp, struct vs_tables *t)
{
    struct vs_tables *old = __atomic_exchange_n(&dp->tables, t, __ATOMIC_ACQ_REL);
    if (!old)
        return;
    rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
    vs_tables_free(old);
}

static void flush(struct worker *w, uint16_t port)
{
    struct tx_buffer *b = &w->tx[port];
    uint16_t sent = rte_eth_tx_burst(port, (uint16_t)w->id, b->pkts, b->n);
    struct vs_port_counters *pc = &w->cnt->ports[port];
    for (uint16_t i = 0; i < b->n; i++) {
        uint32_t len = rte_pktmbuf_pkt_len(b->pkts[i]);
        uint8_t s = b->slice[i];
        if (i < sent) {
            pc->tx_packets++;
            pc->tx_bytes += len;
            continue;
        }
        pc->drops[VS_DROP_TX_FULL]++;
        if (s != VS_NONE)
            w->cnt->slices[s].drops[VS_DROP_TX_FULL]++;
        rte_pktmbuf_free(b->pkts[i]);
    }
    b->n = 0;
}

static void count_drop(struct worker *w, uint16_t in_port, const struct vs_verdict *v)
{
    w->cnt->ports[in_port].drops[v->drop]++;
    if (v->slice != VS_NONE)
        w->cnt->slices[v->slice].drops[v->drop]++;
}

static void forward_one(struct worker *w, const struct vs_tables *t, uint16_t in_port,
                        struct rte_mbuf *m)
{
    struct vs_verdict v;
    /* A device that stripped the tag on receive gets it back in the frame:
     * the tables classify frames as they were on the wire. */
    if ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(&m) != 0) {
        w->cnt->ports[in_port].drops[VS_DROP_RUNT]++;
        rte_pktmbuf_free(m);
        return;
    }
    vs_classify(t, in_port, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &v);
    if (v.action == VS_ACT_POP) {
        rte_vlan_strip(m);
        m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
    } else if (v.action == VS_ACT_PUSH) {
        m->vlan_tci = v.vlan;
        if (rte_vlan_insert(&m) != 0) {
            v.action = VS_ACT_DROP;
            v.drop = VS_DROP_TX_FULL;
        }
    }
    if (v.action == VS_ACT_DROP) {
        count_drop(w, in_port, &v);
        rte_pktmbuf_free(m);
        return;
    }
    struct vs_slice_counters *sc = &w->cnt->slices[v.slice];
    if (t->ports[in_port].kind == VS_KIND_WIRE) {
        sc->to_vm_packets++;
        sc->to_vm_bytes += rte_pktmbuf_pkt_len(m);
    } else {
        sc->to_wire_packets++;
        sc->to_wire_bytes += rte_pktmbuf_pkt_len(m);
    }
    struct tx_buffer *b = &w->tx[v.out_port];
    if (b->n == 0)
        w->dirty[w->n_dirty++] = v.out_port;
    b->pkts[b->n] = m;
    b->slice[b->n] = v.slice;
    b->n++;
}

static unsigned poll_queue(struct worker *w, const struct vs_tables *t, const struct vs_rxq *q)
{
    struct rte_mbuf *pkts[BURST];
    uint16_t n = rte_eth_rx_burst(q->port, q->queue, pkts, BURST);
    if (n == 0)
        return 0;
    struct vs_port_counters *pc = &w->cnt->ports[q->port];
    for (uint16_t i = 0; i < n; i++) {
        pc->rx_packets++;
        pc->rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
        if (i + 1 < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
        forward_one(w, t, q->port, pkts[i]);
    }
    for (uint8_t i = 0; i < w->n_dirty; i++)
        flush(w, w->dirty[i]);
    w->n_dirty = 0;
    return n;
}

static void idle_sleep(unsigned us)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000L};
    nanosleep(&ts, NULL);
}

static int worker_main(void *arg)
{
    struct worker *w = arg;
    struct vs_datapath *dp = w->dp;
    unsigned idle = 0;
    rte_rcu_qsbr_thread_register(dp->qsbr, w->id);
    rte_rcu_qsbr_thread_online(dp->qsbr, w->id);
    while (!dp->stop) {
        const struct vs_tables *t = __atomic_load_n(&dp->tables, __ATOMIC_ACQUIRE);
        unsigned got = 0;
        if (t) {
            const struct vs_worker_rx *rx = &t->rx[w->id];
            for (uint16_t i = 0; i < rx->n; i++)
                got += poll_queue(w, t, &rx->q[i]);
        }
        rte_rcu_qsbr_quiescent(dp->qsbr, w->id);
        if (got) {
            idle = 0;
        } else if (dp->idle_sleep_us && ++idle >= IDLE_LOOPS_BEFORE_SLEEP) {
            /* Offline while asleep so a publish never waits on a sleeper. */
            rte_rcu_qsbr_thread_offline(dp->qsbr, w->id);
            idle_sleep(dp->idle_sleep_us);
            rte_rcu_qsbr_thread_online(dp->qsbr, w->id);
        }
    }
    rte_rcu_qsbr_thread_offline(dp->qsbr, w->id);
    rte_rcu_qsbr_thread_unregister(dp->qsbr, w->id);
    return 0;
}

int vs_datapath_start(struct vs_datapath *dp, struct vs_error *err)
{
    dp->stop = false;
    for (unsigned i = 0; i < dp->n_workers; i++) {
        struct worker *w = &workers[i];
        memset(w, 0, sizeof(*w));
        w->dp = dp;
        w->id = i;
        w->cnt = &dp->counters[i];
        int rc = rte_eal_remote_launch(worker_main, w, dp->lcores[i]);
        if (rc != 0) {
            snprintf(err->msg, sizeof(err->msg), "datapath: cannot launch lcore %u: %s",
                     dp->lcores[i], strerror(-rc));
            vs_datapath_stop(dp);
            return -1;
        }
    }
    return 0;
}

void vs_datapath_stop(struct vs_datapath *dp)
{
    dp->stop = true;
    rte_eal_mp_wait_lcore();
}

void vs_datapath_fini(struct vs_datapath *dp)
{
    vs_tables_free(dp->tables);
    dp->tables = NULL;
    rte_free(dp->counters);
    rte_free(dp->qsbr);
}
