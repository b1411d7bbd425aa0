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
    uint32_t len[BURST]; /* read before sending: a sent mbuf may be freed already */
};

struct worker {
    struct vs_datapath *dp;
    unsigned id;
    struct vs_worker_counters *cnt;
    uint8_t n_dirty;
    uint16_t dirty[BURST]; /* ports with buffered packets */
    struct tx_buffer tx[VS_DPDK_PORT_MAX];
} __rte_cache_aligned; /* workers never write into each other's cache lines */

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

/* Sends one output port's buffer. Slice counters are taken here, from what
 * the device took, in runs of one slice (a VM port's buffer is all one). */
static void flush(struct worker *w, uint16_t port, bool to_wire)
{
    struct tx_buffer *b = &w->tx[port];
    uint16_t sent = rte_eth_tx_burst(port, (uint16_t)w->id, b->pkts, b->n);
    struct vs_port_counters *pc = &w->cnt->ports[port];
    uint64_t bytes = 0, run_pkts = 0, run_bytes = 0;
    uint8_t run = VS_NONE;
    for (uint16_t i = 0; i < sent; i++) {
        if (b->slice[i] != run) {
            if (run_pkts) {
                struct vs_slice_counters *sc = &w->cnt->slices[run];
                if (to_wire) {
                    sc->to_wire_packets += run_pkts;
                    sc->to_wire_bytes += run_bytes;
                } else {
                    sc->to_vm_packets += run_pkts;
                    sc->to_vm_bytes += run_bytes;
                }
            }
            run = b->slice[i];
            run_pkts = run_bytes = 0;
        }
        run_pkts++;
        run_bytes += b->len[i];
        bytes += b->len[i];
    }
    if (run_pkts) {
        struct vs_slice_counters *sc = &w->cnt->slices[run];
        if (to_wire) {
            sc->to_wire_packets += run_pkts;
            sc->to_wire_bytes += run_bytes;
        } else {
            sc->to_vm_packets += run_pkts;
            sc->to_vm_bytes += run_bytes;
        }
    }
    pc->tx_packets += sent;
    pc->tx_bytes += bytes;
    for (uint16_t i = sent; i < b->n; i++) {
        pc->drops[VS_DROP_TX_FULL]++;
        w->cnt->slices[b->slice[i]].drops[VS_DROP_TX_FULL]++;
        rte_pktmbuf_free(b->pkts[i]);
    }
    b->n = 0;
}

/* Removes the outer 802.1Q tag: the MAC addresses move up by four bytes. */
static inline void pop_tag(struct rte_mbuf *m)
{
    uint8_t *old = rte_pktmbuf_mtod(m, uint8_t *);
    uint8_t macs[12];
    memcpy(macs, old, sizeof(macs));
    memcpy(rte_pktmbuf_adj(m, 4), macs, sizeof(macs));
}

/* Inserts an 802.1Q tag after the MAC addresses, in the headroom. */
static inline int push_tag(struct rte_mbuf *m, uint16_t vlan)
{
    uint8_t *old = rte_pktmbuf_mtod(m, uint8_t *);
    uint8_t *new = (uint8_t *)rte_pktmbuf_prepend(m, 4);
    if (unlikely(!new))
        return -1;
    uint8_t macs[12];
    memcpy(macs, old, sizeof(macs));
    memcpy(new, macs, sizeof(macs));
    const uint8_t tag[4] = {0x81, 0x00, (uint8_t)(vlan >> 8), (uint8_t)vlan};
    memcpy(new + 12, tag, sizeof(tag));
    return 0;
}

static inline void forward_one(struct worker *w, const struct vs_tables *t, uint16_t in_port,
                               struct rte_mbuf *m)
{
    struct vs_verdict v;
    /* A device that stripped the tag on receive gets it back in the frame:
     * the tables classify frames as they were on the wire. */
    if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(&m) != 0) {
        w->cnt->ports[in_port].drops[VS_DROP_RUNT]++;
        rte_pktmbuf_free(m);
        return;
    }
    vs_classify(t, in_port, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &v);
    if (v.action == VS_ACT_POP) {
        pop_tag(m);
    } else if (v.action == VS_ACT_PUSH && push_tag(m, v.vlan) != 0) {
        v.action = VS_ACT_DROP;
        v.drop = VS_DROP_NO_HEADROOM;
    }
    if (unlikely(v.action == VS_ACT_DROP)) {
        w->cnt->ports[in_port].drops[v.drop]++;
        if (v.slice != VS_NONE)
            w->cnt->slices[v.slice].drops[v.drop]++;
        rte_pktmbuf_free(m);
        return;
    }
    uint32_t len = rte_pktmbuf_pkt_len(m);
    struct tx_buffer *b = &w->tx[v.out_port];
    if (b->n == 0)
        w->dirty[w->n_dirty++] = v.out_port;
    b->pkts[b->n] = m;
    b->slice[b->n] = v.slice;
    b->len[b->n] = len;
    b->n++;
}

static unsigned poll_queue(struct worker *w, const struct vs_tables *t, const struct vs_rxq *q)
{
    struct rte_mbuf *pkts[BURST];
    uint16_t n = rte_eth_rx_burst(q->port, q->queue, pkts, BURST);
    if (n == 0)
        return 0;
    bool to_wire = t->ports[q->port].kind == VS_KIND_VM;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n && i < 4; i++)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
    for (uint16_t i = 0; i < n; i++) {
        if (i + 4 < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 4], void *));
        bytes += rte_pktmbuf_pkt_len(pkts[i]);
        forward_one(w, t, q->port, pkts[i]);
    }
    struct vs_port_counters *pc = &w->cnt->ports[q->port];
    pc->rx_packets += n;
    pc->rx_bytes += bytes;
    for (uint8_t i = 0; i < w->n_dirty; i++)
        flush(w, w->dirty[i], to_wire);
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
