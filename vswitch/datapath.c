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
#define IDLE_QUEUE_SKIP         7u /* see poll_all() */
#define HOLD_PASSES             4u /* see worker_main() */

_Static_assert(VS_DPDK_PORT_MAX == RTE_MAX_ETHPORTS, "tables index DPDK port ids");
_Static_assert(VS_DPDK_PORT_MAX <= 32, "worker.dirty has a bit per port");

/* The packets waiting to leave, per output port, in arrays indexed by the
 * DPDK port id (a shift, not a multiply, per packet). All of one output
 * port's packets are of one slice, so that the slice counters are kept
 * per flush, not per packet: a VM port carries one slice, and a wire
 * port's buffer is sent before packets of another slice go in. */
struct worker {
    struct vs_datapath *dp;
    unsigned id;
    struct vs_worker_counters *cnt;
    /* The burst being forwarded: the tables it is forwarded with and the
     * port it came from, here rather than in arguments so that the fast
     * paths' registers are not spent keeping them for forward_one(). */
    const struct vs_tables *t;
    uint16_t in_port;
    uint32_t dirty;   /* bit p: forward_one() buffered packets for port p */
    uint32_t pending; /* bit p: port p may hold packets (flush_all()) */
    struct rte_mbuf **tx_next[VS_DPDK_PORT_MAX]; /* where port p's next goes */
    uint32_t tx_bytes[VS_DPDK_PORT_MAX];         /* sum of pkt_len of tx_pkts[p] */
    uint8_t tx_slice[VS_DPDK_PORT_MAX];          /* wire port p: its packets' slice */
    /* Passes to skip entry i of this worker's receive list (poll_all());
     * not uint8_t: a store through a char type would make the compiler
     * reload the list's length and more around it. */
    uint16_t rx_wait[VS_PORT_MAX * VS_RXQ_MAX];
    /* Fewer than BURST held from earlier bursts, and one more burst. */
    struct rte_mbuf *tx_pkts[VS_DPDK_PORT_MAX][2 * BURST];
} __rte_cache_aligned; /* workers never write into each other's cache lines */

static struct worker workers[VS_WORKER_MAX];

int vs_datapath_init(struct vs_datapath *dp, unsigned idle_sleep_us, struct evr_err *err)
{
    memset(dp, 0, sizeof(*dp));
    dp->idle_sleep_us = idle_sleep_us;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore)
    {
        if (dp->n_workers == VS_WORKER_MAX) {
            evr_fail(err, EINVAL, "-l: at most %u worker lcores", VS_WORKER_MAX);
            return -1;
        }
        dp->lcores[dp->n_workers++] = lcore;
    }
    if (dp->n_workers == 0) {
        evr_fail(err, EINVAL,
                 "-l: needs at least one worker lcore besides the main one (e.g. -l 0,1)");
        return -1;
    }
    size_t sz = rte_rcu_qsbr_get_memsize(dp->n_workers);
    dp->qsbr = rte_zmalloc("vs_qsbr", sz, RTE_CACHE_LINE_SIZE);
    dp->counters =
            rte_zmalloc("vs_counters", sizeof(*dp->counters) * dp->n_workers, RTE_CACHE_LINE_SIZE);
    if (!dp->qsbr || !dp->counters || rte_rcu_qsbr_init(dp->qsbr, dp->n_workers) != 0) {
        evr_fail(err, ENOMEM, "datapath: out of DPDK memory (raise -m)");
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

/* Sends one output port's buffer and counts what the device took, for the
 * port and for the slice of all its packets. */
static void flush(struct worker *w, const struct vs_tables *t, uint16_t port)
{
    bool to_wire = t->ports[port].kind == VS_KIND_WIRE;
    uint8_t slice = to_wire ? w->tx_slice[port] : t->ports[port].slice;
    struct rte_mbuf **pkts = w->tx_pkts[port];
    uint16_t n = (uint16_t)(w->tx_next[port] - pkts);
    uint16_t sent = rte_eth_tx_burst(port, (uint16_t)w->id, pkts, n);
    struct vs_port_counters *pc = &w->cnt->ports[port];
    struct vs_slice_counters *sc = &w->cnt->slices[slice];
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

/* The 16 bytes at the front of a frame as one vector: the MAC addresses
 * move for a tag pop or push in one load and one store. */
typedef uint8_t frame_head __attribute__((vector_size(16)));

/* Removes the outer 802.1Q tag: the MAC addresses move up by four bytes.
 * The classifier has seen the whole tag in the first segment, so the
 * segment is at least 18 bytes long; d is its data. */
static inline void pop_tag_at(struct rte_mbuf *m, uint8_t *d)
{
    frame_head h;
    memcpy(&h, d, sizeof(h));
    /* Bytes 0-11 to 4-15; what lands in 0-3 is in front of the new start. */
    h = __builtin_shufflevector(h, (frame_head){0}, 16, 16, 16, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                10, 11);
    memcpy(d, &h, sizeof(h));
    m->data_off = (uint16_t)(m->data_off + 4);
    m->data_len = (uint16_t)(m->data_len - 4);
    m->pkt_len -= 4;
}

static inline void pop_tag(struct rte_mbuf *m)
{
    pop_tag_at(m, rte_pktmbuf_mtod(m, uint8_t *));
}

/* The four bytes of an 802.1Q tag as they are in the frame. */
static inline uint32_t tag_bytes(uint16_t vlan)
{
    return rte_cpu_to_be_32((uint32_t)VS_TPID_8021Q << 16 | vlan);
}

/* Inserts tag (tag_bytes()) after the MAC addresses, in the headroom (4
 * bytes of it are there); d and dlen are the first segment's data and
 * length, at least an Ethernet header. With 16 bytes, the front 16 move
 * down by four in one store, and the tag goes over the four that follow
 * the addresses. */
static inline void push_tag_at(struct rte_mbuf *m, uint8_t *d, uint16_t dlen, uint32_t tag)
{
    if (likely(dlen >= sizeof(frame_head))) {
        frame_head h;
        memcpy(&h, d, sizeof(h));
        memcpy(d - 4, &h, sizeof(h));
    } else {
        memmove(d - 4, d, 12);
    }
    memcpy(d + 8, &tag, sizeof(tag));
    m->data_off = (uint16_t)(m->data_off - 4);
    m->data_len = (uint16_t)(dlen + 4);
    m->pkt_len += 4;
}

static int push_tag(struct rte_mbuf *m, uint16_t vlan)
{
    if (unlikely(rte_pktmbuf_headroom(m) < 4))
        return -1;
    push_tag_at(m, rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m), tag_bytes(vlan));
    return 0;
}

static void drop(struct worker *w, uint16_t in_port, const struct vs_verdict *v, struct rte_mbuf *m)
{
    w->cnt->ports[in_port].drops[v->drop]++;
    if (v->slice != VS_NONE)
        w->cnt->slices[v->slice].drops[v->drop]++;
    rte_pktmbuf_free(m);
}

/* Buffers m, of pkt_len len, toward out_port. Only forward_one() marks
 * the port in w->dirty: the fast paths send only to the input port's
 * out_ports, whose buffers are checked after every burst anyway. */
static inline void enqueue(struct worker *w, uint16_t out_port, struct rte_mbuf *m, uint32_t len)
{
    struct rte_mbuf **next = w->tx_next[out_port];
    *next = m;
    w->tx_next[out_port] = next + 1;
    w->tx_bytes[out_port] += len;
}

/* One frame through the reference decision, vs_classify() (the one the unit
 * tests check): frames from VM ports, and from the wire whatever the fast
 * path below does not take (untagged, other tags, drops). */
static __rte_noinline void forward_one(struct worker *w, struct rte_mbuf *m)
{
    uint16_t in_port = w->in_port;
    struct vs_verdict v;
    /* A device that stripped the tag on receive gets it back in the frame:
     * the tables classify frames as they were on the wire. */
    if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(&m) != 0) {
        vs_verdict_drop(&v, VS_DROP_RUNT, VS_NONE);
        drop(w, in_port, &v, m);
        return;
    }
    vs_classify(w->t, in_port, rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), &v);
    if (v.action == VS_ACT_POP) {
        pop_tag(m);
    } else if (v.action == VS_ACT_PUSH && push_tag(m, v.vlan) != 0) {
        vs_verdict_drop(&v, VS_DROP_NO_HEADROOM, v.slice);
    }
    if (unlikely(v.action == VS_ACT_DROP)) {
        drop(w, in_port, &v, m);
        return;
    }
    enqueue(w, v.out_port, m, rte_pktmbuf_pkt_len(m));
    w->dirty |= 1u << v.out_port;
}

/* Every frame of a burst through forward_one(); returns the burst's bytes. */
static uint64_t forward_each(struct worker *w, struct rte_mbuf **pkts, uint16_t n)
{
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; i++) {
        bytes += rte_pktmbuf_pkt_len(pkts[i]);
        forward_one(w, pkts[i]);
    }
    return bytes;
}

/* Frames from a wire port. The common case, an 802.1Q-tagged frame whose
 * VLAN belongs to a slice, is decided here in one load from the uplink's
 * vlan_fwd (the same decision as vs_classify_from_wire() for such frames:
 * the slice's VM port, pop on access slices). Everything else takes
 * forward_one(). Returns the burst's bytes as received. Not inline: with
 * the tables behind an opaque pointer the compiler keeps fwd in a register
 * instead of rebuilding it from the tables for every frame. */
static __rte_noinline uint64_t forward_from_wire(struct worker *w, const vs_wire_fwd *fwd,
                                                 struct rte_mbuf **pkts, uint16_t n)
{
    uint64_t bytes = 0;
#pragma GCC unroll 2
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
        uint32_t len = rte_pktmbuf_pkt_len(m);
        uint16_t tpid;
        bytes += len;
        memcpy(&tpid, d + 12, sizeof(tpid));
        if (likely(rte_pktmbuf_data_len(m) >= VS_ETH_HLEN + 4 && tpid == RTE_BE16(VS_TPID_8021Q) &&
                   !(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED))) {
            vs_wire_fwd f = fwd[vs_be16(d + 14) & 0x0fffu];
            if (likely(f != 0)) {
                if (f & VS_FWD_POP) {
                    pop_tag_at(m, d);
                    len -= 4;
                }
                enqueue(w, f & VS_FWD_PORT, m, len);
                continue;
            }
        }
        forward_one(w, m);
    }
    return bytes;
}

/* Frames from a VM port on an access slice toward uplink u: untagged
 * frames get tag (tag_bytes(), 0 for none) and go to the uplink, or to the
 * LAG member of their flow's bucket: vs_classify_from_vm() for such
 * frames. Tagged frames, drops and frames too short or without headroom
 * for the fast tag push take forward_one(). Returns the burst's bytes as
 * received. */
static __rte_noinline uint64_t forward_from_vm(struct worker *w, const struct vs_uplink_table *u,
                                               uint32_t tag, struct rte_mbuf **pkts, uint16_t n)
{
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
        uint16_t dlen = rte_pktmbuf_data_len(m), tpid;
        uint32_t len = rte_pktmbuf_pkt_len(m);
        bytes += len;
        memcpy(&tpid, d + 12, sizeof(tpid));
        if (likely(dlen >= sizeof(frame_head) && tpid != RTE_BE16(VS_TPID_8021Q) &&
                   tpid != RTE_BE16(VS_TPID_8021AD) && tpid != RTE_BE16(VS_TPID_QINQ_OLD) &&
                   !(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED))) {
            uint16_t out = u->member_port[0];
            if (u->is_lag) {
                uint8_t member = u->buckets[vs_lag_hash(d, dlen, u->hash) % VS_LAG_BUCKETS];
                if (unlikely(member == VS_LAG_NO_MEMBER))
                    goto slow;
                out = u->member_port[member];
            }
            if (tag) {
                if (unlikely(rte_pktmbuf_headroom(m) < 4))
                    goto slow;
                push_tag_at(m, d, dlen, tag);
                len += 4;
            }
            enqueue(w, out, m, len);
            continue;
        }
    slow:
        forward_one(w, m);
    }
    return bytes;
}

/* Whether port's buffer holds at least k packets. */
static inline bool holds(const struct worker *w, uint16_t port, unsigned k)
{
    return w->tx_next[port] >= w->tx_pkts[port] + k;
}

/* One received burst, through the fast paths above, into the output
 * buffers; a buffer that holds a burst's worth leaves now. */
static __rte_always_inline void forward_burst(struct worker *w, const struct vs_tables *t,
                                              uint16_t in_port, struct rte_mbuf **pkts, uint16_t n)
{
    const struct vs_port_entry *in = &t->ports[in_port];
    const struct vs_slice_entry *s = in->slice == VS_NONE ? NULL : &t->slices[in->slice];
    bool from_vm = in->kind == VS_KIND_VM;
    if (from_vm) {
        /* A wire port's buffer holds one slice's packets. */
        for (uint32_t d = in->out_ports & w->pending; d != 0; d &= d - 1) {
            uint16_t port = (uint16_t)__builtin_ctz(d);
            if (holds(w, port, 1) && w->tx_slice[port] != in->slice)
                flush(w, t, port);
        }
    }
    uint64_t bytes;
    w->t = t;
    w->in_port = in_port;
    if (in->kind == VS_KIND_WIRE)
        bytes = forward_from_wire(w, t->uplinks[in->uplink].vlan_fwd, pkts, n);
    else if (from_vm && s && s->mode == VS_SLICE_ACCESS)
        bytes = forward_from_vm(w, &t->uplinks[s->uplink],
                                s->access_vlan ? tag_bytes(s->access_vlan) : 0, pkts, n);
    else
        bytes = forward_each(w, pkts, n);
    struct vs_port_counters *pc = &w->cnt->ports[in_port];
    pc->rx_packets += n;
    pc->rx_bytes += bytes;
    uint32_t touched = in->out_ports | w->dirty;
    w->dirty = 0;
    w->pending |= touched;
    for (uint32_t d = touched; d != 0; d &= d - 1) {
        uint16_t port = (uint16_t)__builtin_ctz(d);
        if (from_vm && holds(w, port, 1))
            w->tx_slice[port] = in->slice;
        if (holds(w, port, BURST))
            flush(w, t, port);
    }
}

/* Sends everything the buffers hold. */
static void flush_all(struct worker *w, const struct vs_tables *t)
{
    for (uint32_t d = w->pending; d != 0; d &= d - 1) {
        uint16_t port = (uint16_t)__builtin_ctz(d);
        if (holds(w, port, 1))
            flush(w, t, port);
    }
    w->pending = 0;
}

/* One pass over this worker's receive queues; returns the packets taken.
 * A queue found empty is polled again IDLE_QUEUE_SKIP passes later, not
 * every pass: the empty receive calls of four idle VM ports cost about
 * 3.5 instructions per packet of a busy wire port. A queue that delivered
 * is polled every pass, and an idle one waits at most IDLE_QUEUE_SKIP
 * passes. */
static __rte_always_inline unsigned poll_all(struct worker *w, const struct vs_tables *t)
{
    const struct vs_worker_rx *rx = &t->rx[w->id];
    unsigned got = 0, n_queues = rx->n;
    for (unsigned i = 0; i < n_queues; i++) {
        if (w->rx_wait[i] != 0) {
            w->rx_wait[i]--;
            continue;
        }
        struct rte_mbuf *pkts[BURST];
        const struct vs_rxq *q = &rx->q[i];
        uint16_t n = rte_eth_rx_burst(q->port, q->queue, pkts, BURST);
        if (n == 0) {
            w->rx_wait[i] = (uint16_t)IDLE_QUEUE_SKIP;
            continue;
        }
        forward_burst(w, t, q->port, pkts, n);
        got += n;
    }
    return got;
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
            /* Output waits up to HOLD_PASSES passes to leave in fuller
             * bursts (a wire burst over four VLANs fills four buffers a
             * quarter each; a transmit call per buffer per burst was about
             * a sixth of evr's own work per packet), and no longer: all of
             * it leaves when a pass receives nothing, and before the
             * quiescent report (the buffers' ports and slices are t's). */
            for (unsigned pass = 0; pass < HOLD_PASSES; pass++) {
                unsigned n = poll_all(w, t);
                got += n;
                if (n == 0)
                    break;
            }
            flush_all(w, t);
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

int vs_datapath_start(struct vs_datapath *dp, struct evr_err *err)
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
            evr_fail(err, -rc, "datapath: cannot launch lcore %u: %s", dp->lcores[i],
                     strerror(-rc));
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
