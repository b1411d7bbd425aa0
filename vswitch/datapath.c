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
_Static_assert(VS_DPDK_PORT_MAX <= 32, "worker.dirty has a bit per port");

/* The packets of the burst being forwarded, per output port, in arrays
 * indexed by the DPDK port id (a shift, not a multiply, per packet). All
 * of one output port's packets are of one slice: a VM port carries one
 * slice, and a burst from a VM port is all of that port's slice; so the
 * slice and the byte total are kept per port, not per packet. */
struct worker {
    struct vs_datapath *dp;
    unsigned id;
    struct vs_worker_counters *cnt;
    uint32_t dirty;                              /* bit p: port p has buffered packets */
    struct rte_mbuf **tx_next[VS_DPDK_PORT_MAX]; /* where port p's next goes */
    /* The slice of port p's packets; not uint8_t: a store through a char
     * type would make the compiler reload everything around it. */
    uint16_t tx_slice[VS_DPDK_PORT_MAX];
    uint32_t tx_bytes[VS_DPDK_PORT_MAX]; /* sum of pkt_len of tx_pkts[p] */
    struct rte_mbuf *tx_pkts[VS_DPDK_PORT_MAX][BURST];
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

/* Sends one output port's buffer and counts what the device took. */
static void flush(struct worker *w, uint16_t port, bool to_wire)
{
    struct rte_mbuf **pkts = w->tx_pkts[port];
    uint16_t n = (uint16_t)(w->tx_next[port] - pkts);
    uint16_t sent = rte_eth_tx_burst(port, (uint16_t)w->id, pkts, n);
    struct vs_port_counters *pc = &w->cnt->ports[port];
    struct vs_slice_counters *sc = &w->cnt->slices[w->tx_slice[port]];
    uint64_t bytes = w->tx_bytes[port];
    if (unlikely(sent < n)) {
        /* The packets not taken are still ours: their lengths come off. */
        for (uint16_t i = sent; i < n; i++) {
            bytes -= rte_pktmbuf_pkt_len(pkts[i]);
            rte_pktmbuf_free(pkts[i]);
        }
        pc->drops[VS_DROP_TX_FULL] += (uint64_t)(n - sent);
        sc->drops[VS_DROP_TX_FULL] += (uint64_t)(n - sent);
    }
    if (to_wire) {
        sc->to_wire_packets += sent;
        sc->to_wire_bytes += bytes;
    } else {
        sc->to_vm_packets += sent;
        sc->to_vm_bytes += bytes;
    }
    pc->tx_packets += sent;
    pc->tx_bytes += bytes;
    w->tx_next[port] = pkts;
    w->tx_bytes[port] = 0;
}

/* Removes the outer 802.1Q tag: the MAC addresses move up by four bytes.
 * The classifier has seen the whole tag in the first segment, so the
 * segment is at least 18 bytes long. d, data_len and pkt_len are the
 * frame's, passed in because the fast path has them loaded already;
 * returns the new pkt_len. */
static inline uint32_t pop_tag_at(struct rte_mbuf *m, uint8_t *d, uint16_t data_len,
                                  uint32_t pkt_len)
{
    uint64_t a;
    uint32_t b;
    memcpy(&a, d, 8);
    memcpy(&b, d + 8, 4);
    memcpy(d + 4, &a, 8);
    memcpy(d + 12, &b, 4);
    m->data_off = (uint16_t)(m->data_off + 4);
    m->data_len = (uint16_t)(data_len - 4);
    m->pkt_len = pkt_len - 4;
    return pkt_len - 4;
}

/* The same, for callers that have not loaded the frame's pointer and lengths. */
static inline void pop_tag(struct rte_mbuf *m)
{
    pop_tag_at(m, rte_pktmbuf_mtod(m, uint8_t *), m->data_len, m->pkt_len);
}

/* Inserts an 802.1Q tag after the MAC addresses, in the headroom. */
static inline int push_tag(struct rte_mbuf *m, uint16_t vlan)
{
    if (unlikely(rte_pktmbuf_headroom(m) < 4))
        return -1;
    uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
    uint64_t a;
    uint32_t b;
    memcpy(&a, d, 8);
    memcpy(&b, d + 8, 4);
    memcpy(d - 4, &a, 8);
    memcpy(d + 4, &b, 4);
    const uint8_t tag[4] = {0x81, 0x00, (uint8_t)(vlan >> 8), (uint8_t)vlan};
    memcpy(d + 8, tag, sizeof(tag));
    m->data_off = (uint16_t)(m->data_off - 4);
    m->data_len = (uint16_t)(m->data_len + 4);
    m->pkt_len += 4;
    return 0;
}

static void drop(struct worker *w, uint16_t in_port, const struct vs_verdict *v, struct rte_mbuf *m)
{
    w->cnt->ports[in_port].drops[v->drop]++;
    if (v->slice != VS_NONE)
        w->cnt->slices[v->slice].drops[v->drop]++;
    rte_pktmbuf_free(m);
}

/* Buffers m, of pkt_len len, toward out_port. */
static inline void enqueue_len(struct worker *w, uint16_t out_port, uint8_t slice,
                               struct rte_mbuf *m, uint32_t len)
{
    struct rte_mbuf **next = w->tx_next[out_port];
    *next = m;
    w->tx_next[out_port] = next + 1;
    /* The same slice for all of the port's packets: stored every time,
     * which costs less than a branch on the first one. */
    w->tx_slice[out_port] = slice;
    w->tx_bytes[out_port] += len;
    w->dirty |= 1u << out_port;
}

static inline void enqueue(struct worker *w, uint16_t out_port, uint8_t slice, struct rte_mbuf *m)
{
    enqueue_len(w, out_port, slice, m, rte_pktmbuf_pkt_len(m));
}

/* One frame through the reference decision, vs_classify() (the one the unit
 * tests check): frames from VM ports, and from the wire whatever the fast
 * path below does not take (untagged, other tags, drops). */
static __rte_noinline void forward_one(struct worker *w, const struct vs_tables *t,
                                       uint16_t in_port, struct rte_mbuf *m)
{
    struct vs_verdict v;
    /* A device that stripped the tag on receive gets it back in the frame:
     * the tables classify frames as they were on the wire. */
    if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(&m) != 0) {
        vs_verdict_drop(&v, VS_DROP_RUNT, VS_NONE);
        drop(w, in_port, &v, m);
        return;
    }
    vs_classify(t, in_port, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &v);
    if (v.action == VS_ACT_POP) {
        pop_tag(m);
    } else if (v.action == VS_ACT_PUSH && push_tag(m, v.vlan) != 0) {
        vs_verdict_drop(&v, VS_DROP_NO_HEADROOM, v.slice);
    }
    if (unlikely(v.action == VS_ACT_DROP)) {
        drop(w, in_port, &v, m);
        return;
    }
    enqueue(w, v.out_port, v.slice, m);
}

/* Frames from a wire port. The common case, an 802.1Q-tagged frame whose
 * VLAN belongs to a slice, is decided here in one load from the uplink's
 * vlan_fwd (the same decision as vs_classify_from_wire() for such frames:
 * the slice's VM port, pop on access slices). Everything else takes
 * forward_one(). */
static inline void forward_from_wire(struct worker *w, const struct vs_tables *t, uint16_t in_port,
                                     struct rte_mbuf **pkts, uint16_t n)
{
    const struct vs_wire_fwd *fwd = t->uplinks[t->ports[in_port].uplink].vlan_fwd;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
        uint16_t dlen = rte_pktmbuf_data_len(m), tpid;
        memcpy(&tpid, d + 12, sizeof(tpid));
        if (likely(dlen >= VS_ETH_HLEN + 4 && tpid == RTE_BE16(VS_TPID_8021Q) &&
                   !(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED))) {
            struct vs_wire_fwd f = fwd[vs_be16(d + 14) & 0x0fffu];
            if (likely(f.flags != 0)) {
                uint32_t len = rte_pktmbuf_pkt_len(m);
                if (f.flags & VS_FWD_POP)
                    len = pop_tag_at(m, d, dlen, len);
                enqueue_len(w, f.out_port, f.slice, m, len);
                continue;
            }
        }
        forward_one(w, t, in_port, m);
    }
}

/* Frames from a VM port on an access slice: untagged frames get the
 * slice's tag (if it has one) and go to the uplink, or to the LAG member
 * of their flow's bucket: vs_classify_from_vm() for such frames. Tagged
 * frames, trunk slices and drops take forward_one(). */
static inline void forward_from_vm(struct worker *w, const struct vs_tables *t, uint16_t in_port,
                                   struct rte_mbuf **pkts, uint16_t n)
{
    uint8_t slice = t->ports[in_port].slice;
    const struct vs_slice_entry *s = slice == VS_NONE ? NULL : &t->slices[slice];
    if (!s || s->mode != VS_SLICE_ACCESS) {
        for (uint16_t i = 0; i < n; i++)
            forward_one(w, t, in_port, pkts[i]);
        return;
    }
    const struct vs_uplink_table *u = &t->uplinks[s->uplink];
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
        uint16_t len = rte_pktmbuf_data_len(m), tpid;
        memcpy(&tpid, d + 12, sizeof(tpid));
        if (likely(len >= VS_ETH_HLEN && tpid != RTE_BE16(VS_TPID_8021Q) &&
                   tpid != RTE_BE16(0x88a8) && tpid != RTE_BE16(0x9100) &&
                   !(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED))) {
            uint16_t out = u->member_port[0];
            if (u->is_lag) {
                uint8_t member = u->buckets[vs_lag_hash(d, len, u->hash) % VS_LAG_BUCKETS];
                if (unlikely(member == VS_LAG_NO_MEMBER))
                    goto slow;
                out = u->member_port[member];
            }
            if (s->access_vlan && unlikely(push_tag(m, s->access_vlan) != 0))
                goto slow;
            enqueue(w, out, slice, m);
            continue;
        }
    slow:
        forward_one(w, t, in_port, m);
    }
}

/* One received burst, through the fast paths above, then out. */
static __rte_noinline void forward_burst(struct worker *w, const struct vs_tables *t,
                                         uint16_t in_port, struct rte_mbuf **pkts, uint16_t n)
{
    uint8_t kind = t->ports[in_port].kind;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; i++) {
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
        bytes += rte_pktmbuf_pkt_len(pkts[i]);
    }
    if (kind == VS_KIND_WIRE) {
        forward_from_wire(w, t, in_port, pkts, n);
    } else if (kind == VS_KIND_VM) {
        forward_from_vm(w, t, in_port, pkts, n);
    } else {
        for (uint16_t i = 0; i < n; i++)
            forward_one(w, t, in_port, pkts[i]);
    }
    struct vs_port_counters *pc = &w->cnt->ports[in_port];
    pc->rx_packets += n;
    pc->rx_bytes += bytes;
    for (uint32_t d = w->dirty; d != 0; d &= d - 1)
        flush(w, (uint16_t)__builtin_ctz(d), kind == VS_KIND_VM);
    w->dirty = 0;
}

/* Inline in the worker loop: an empty queue (a VM port with nothing to
 * send, most of the time) costs the receive call and no more. */
static __rte_always_inline unsigned poll_queue(struct worker *w, const struct vs_tables *t,
                                               const struct vs_rxq *q)
{
    struct rte_mbuf *pkts[BURST];
    uint16_t n = rte_eth_rx_burst(q->port, q->queue, pkts, BURST);
    if (n != 0)
        forward_burst(w, t, q->port, pkts, n);
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
        for (unsigned p = 0; p < VS_DPDK_PORT_MAX; p++)
            w->tx_next[p] = w->tx_pkts[p];
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
